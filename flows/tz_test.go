package flows_test

import (
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/templates"
)

// TestOffersCronInShopZone: "0 9 * * MON" starts a round at 09:00 Berlin time
// on both sides of each DST change: 08:00 UTC in winter, 07:00 UTC in summer.
func TestOffersCronInShopZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.eng, err = flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer:   templates.Footer{ShopName: "Kaffee & Co.", Impressum: "Musterstraße 1\n10115 Berlin"},
		MaxLate:  365 * 24 * time.Hour, // the test jumps months between rounds
		Location: berlin,
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.subscriber("anna@example.de", "de")
	if _, err := e.coupons.CreatePool(ctx, "offers", "Offers"); err != nil {
		t.Fatal(err)
	}
	f, err := e.eng.Get(ctx, flows.Offers)
	if err != nil {
		t.Fatal(err)
	}
	f.Enabled, f.Cron = true, "0 9 * * MON"
	if _, err := e.eng.Put(ctx, flows.Offers, f); err != nil {
		t.Fatal(err)
	}
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name      string
		last      time.Time // the previous round
		due       time.Time // 09:00 Berlin, in UTC
		wallClock string
	}{
		{"winter before the spring change", utc(3, 17, 8, 0), utc(3, 23, 8, 0), "2026-03-23 09:00 CET"},
		{"summer after the spring change", utc(3, 23, 8, 0), utc(3, 30, 7, 0), "2026-03-30 09:00 CEST"},
		{"summer before the autumn change", utc(10, 12, 7, 0), utc(10, 19, 7, 0), "2026-10-19 09:00 CEST"},
		{"winter after the autumn change", utc(10, 19, 7, 0), utc(10, 26, 8, 0), "2026-10-26 09:00 CET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.due.In(berlin).Format("2006-01-02 15:04 MST"); got != tc.wallClock {
				t.Fatalf("test data: %s is %s in Berlin", tc.due, got)
			}
			e.exec(`UPDATE flows SET last_round_at = ? WHERE slug = ?`, tc.last.Unix(), flows.Offers)
			e.exec(`DELETE FROM flow_runs`)
			if r := e.tick(tc.due.Add(-time.Minute)); r.Entered != 0 {
				t.Fatalf("a round started a minute before 09:00 Berlin: %+v", r)
			}
			if r := e.tick(tc.due); r.Entered != 1 {
				t.Fatalf("no round at 09:00 Berlin (%s): %+v", tc.due, r)
			}
		})
	}
}
