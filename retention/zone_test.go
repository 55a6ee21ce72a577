package retention_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // the zone data on machines without it, as the binary has

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/tracking"
)

// TestReportMonthsInShopZone: the report's days and months are the shop's
// (Berlin), not UTC. An order at 00:30 on 1 February in Berlin is still 31
// January in UTC; the customer's cohort, the stage move and the return month
// (00:30 on 1 March in Berlin) are February and March. The revenue credited
// to campaigns and flows (package tracking) is on the report.
func TestReportMonthsInShopZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal("zone data (embedded by time/tzdata):", err)
	}
	db := storetest.Open(t)
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ret, err := retention.New(db, retention.Config{Location: berlin}, log)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracking.New(db, tracking.Config{BaseURL: "https://treu.example", Secret: []byte("0123456789abcdef0123456789abcdef")}, nil, log)
	ret.Attribution = func(ctx context.Context, from, to time.Time) ([]retention.MailRevenue, error) {
		ms, err := tr.RevenueByMail(ctx, from, to)
		out := make([]retention.MailRevenue, len(ms))
		for i, m := range ms {
			out[i] = retention.MailRevenue(m)
		}
		return out, err
	}
	ev := events.New(db, log, events.Config{OnOrder: func(ctx context.Context, tx *store.Tx, o events.PlacedOrder) error {
		return tr.OrderPlaced(ctx, tx, tracking.Order{ID: o.OrderID, SubscriberID: o.SubscriberID, Currency: o.Currency,
			Total: o.Total, PlacedAt: o.PlacedAt, CampaignID: o.CampaignID})
	}})
	t.Cleanup(func() { ev.Close() })
	ev.OnOrder = func(ctx context.Context, tx *store.Tx, id int64) error {
		_, _, err := ret.Recompute(ctx, tx, id)
		return err
	}
	ctx := context.Background()
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES ('a@example.com', 'a@example.com', 'active', 0, 0)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, o := range []struct {
		at          string
		total       float64
		attribution string
	}{
		{"2026-01-31T23:30:00Z", 40, `,"attribution":{"campaign_id":7}`}, // 1 February, 00:30 in Berlin
		{"2026-02-28T23:30:00Z", 60, ""},                                 // 1 March, 00:30 in Berlin
	} {
		at, _ := time.Parse(time.RFC3339, o.at)
		now = at // the stage move is stored at the order
		if _, err := ev.Ingest(ctx, fmt.Appendf(nil, `{"type":"order.placed","id":"e%d","email":"a@example.com","occurred_at":%q,
			"order":{"id":"o%d","currency":"EUR","total":%g%s}}`, i, o.at, i, o.total, o.attribution)); err != nil {
			t.Fatal(err)
		}
	}
	// The second order was earned by a flow mail (a click credited by tracking).
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO conversions (order_id, mail, via, currency, total, at)
			VALUES ('o1', 'flow:winback:0', 'click', 'EUR', 60, ?)`, time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC).Unix())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	now = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

	// February and March in Berlin: 2026-02-01 00:00 CET to 2026-04-01 00:00 CEST.
	from, to, _, err := retention.ParsePeriod("2026-02-01", "2026-03-31", now, berlin)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 2, 1, 0, 0, 0, 0, berlin); !from.Equal(want) {
		t.Errorf("from = %s, want %s", from, want)
	}
	if want := time.Date(2026, 4, 1, 0, 0, 0, 0, berlin); !to.Equal(want) {
		t.Errorf("to = %s, want %s", to, want)
	}
	r, err := ret.Report(ctx, from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Customers != 1 || r.Orders != 2 || r.Revenue != 100 {
		t.Errorf("customers %d orders %d revenue %g, want 1 2 100", r.Customers, r.Orders, r.Revenue)
	}
	if want := []retention.Cohort{{Month: "2026-02", Customers: 1, Returned: []float64{1}}}; !reflect.DeepEqual(r.Cohorts, want) {
		t.Errorf("cohorts = %+v, want %+v", r.Cohorts, want)
	}
	wantMoves := []retention.Move{
		{Month: "2026-02", From: retention.Prospect, To: retention.FirstTimeBuyer, Count: 1},
		{Month: "2026-03", From: retention.FirstTimeBuyer, To: retention.RepeatBuyer, Count: 1},
	}
	if !reflect.DeepEqual(r.Moves, wantMoves) {
		t.Errorf("moves = %+v, want %+v", r.Moves, wantMoves)
	}
	wantAttr := &retention.Attributed{Campaigns: 40, Flows: 60, Orders: 2, Share: 1, Mails: []retention.MailRevenue{
		{Mail: "flow:winback:0", Kind: "flow", Orders: 1, Revenue: 60},
		{Mail: "campaign:7", Kind: "campaign", Orders: 1, Revenue: 40},
	}}
	if !reflect.DeepEqual(r.Attributed, wantAttr) {
		t.Errorf("attributed = %+v, want %+v", r.Attributed, wantAttr)
	}

	// The default period ends with the shop's day: at 00:30 on 1 April in
	// Berlin (still 31 March in UTC) it includes 1 April.
	_, end := retention.DefaultPeriod(time.Date(2026, 3, 31, 22, 30, 0, 0, time.UTC), berlin)
	if want := time.Date(2026, 4, 2, 0, 0, 0, 0, berlin); !end.Equal(want) {
		t.Errorf("default period ends %s, want %s", end, want)
	}
}
