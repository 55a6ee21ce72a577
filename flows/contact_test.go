package flows_test

import (
	"testing"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
)

// contactEnv is an env whose engine follows the default contact policy
// (1 a day, 3 a week, quiet 21:00-08:00) in Berlin.
func contactEnv(t *testing.T) (*env, *contact.Policy, *time.Location) {
	t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	p := contact.Default(berlin)
	e.eng, err = flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer:   templates.Footer{ShopName: "Kaffee & Co.", Impressum: "Musterstraße 1\n10115 Berlin"},
		Location: berlin,
		Contact:  p,
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	return e, p, berlin
}

func (e *env) welcomeAt(sub int64, at time.Time) {
	e.t.Helper()
	e.now = at
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return e.eng.StartWelcome(ctx, tx, sub) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) dueAt(flow string, sub int64) time.Time {
	e.t.Helper()
	var due int64
	if err := e.db.QueryRowContext(ctx, `SELECT due_at FROM flow_runs WHERE flow = ? AND subscriber_id = ?`, flow, sub).Scan(&due); err != nil {
		e.t.Fatal(err)
	}
	return time.Unix(due, 0)
}

// TestContactCapHoldsFlowMailUntilNextDay: a subscriber who had a campaign
// mail this morning gets the welcome mail the next morning, not today.
func TestContactCapHoldsFlowMailUntilNextDay(t *testing.T) {
	e, p, berlin := contactEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	morning := time.Date(2026, 5, 4, 10, 0, 0, 0, berlin)
	// A campaign mailed Kim at 10:00 (as the campaign engine logs it).
	err := e.db.Tx(ctx, func(tx *store.Tx) error { return p.Record(ctx, tx, []int64{sub}, morning, 42) })
	if err != nil {
		t.Fatal(err)
	}
	e.welcomeAt(sub, morning.Add(time.Hour))
	if r := e.tick(morning.Add(time.Hour)); r.Sent != 0 {
		t.Fatalf("welcome sent over the cap: %+v", r)
	}
	next := time.Date(2026, 5, 5, 8, 0, 0, 0, berlin)
	if due := e.dueAt(flows.Welcome, sub); !due.Equal(next) {
		t.Fatalf("welcome due %v, want %v", due.In(berlin), next)
	}
	if st, _, step := e.runStatus(flows.Welcome, sub); st != "active" || step != 0 {
		t.Fatalf("run %s at step %d", st, step)
	}
	if r := e.tick(next.Add(-time.Minute)); r.Sent != 0 {
		t.Fatalf("sent before 08:00: %+v", r)
	}
	if r := e.tick(next); r.Sent != 1 || len(e.mails()) != 1 {
		t.Fatalf("not sent the next morning: %+v", r)
	}
}

// TestContactOneBatchOneMail: two flows due for one subscriber in the same
// tick: the cap lets one through and holds the other.
func TestContactOneBatchOneMail(t *testing.T) {
	e, _, berlin := contactEnv(t)
	e.exec(`UPDATE flows SET enabled = 1`)
	noon := time.Date(2026, 5, 4, 12, 0, 0, 0, berlin)
	sub := e.subscriber("kim@example.de", "de")
	e.now = noon.Add(-2 * time.Hour)
	e.cart("c1", "kim@example.de", "cart-1", noon.Add(-2*time.Hour))
	e.welcomeAt(sub, noon)
	r := e.tick(noon)
	if r.Sent != 1 || len(e.mails()) != 1 {
		t.Fatalf("tick with two due flows: %+v, %d mails", r, len(e.mails()))
	}
	r = e.tick(time.Date(2026, 5, 5, 8, 0, 0, 0, berlin))
	if r.Sent != 1 || len(e.mails()) != 2 {
		t.Fatalf("next morning: %+v, %d mails", r, len(e.mails()))
	}
}

// TestContactQuietHoursMoveFlowStep: a welcome due at 22:00 Berlin waits
// until 08:00 local time, on both DST nights (9 and 11 real hours later).
func TestContactQuietHoursMoveFlowStep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		at        time.Time // 22:00 Berlin
		want      time.Time // 08:00 Berlin the next day, in UTC
		wallClock string
	}{
		{"ordinary night", time.Date(2026, 5, 4, 20, 0, 0, 0, time.UTC), time.Date(2026, 5, 5, 6, 0, 0, 0, time.UTC), "2026-05-05 08:00 CEST"},
		{"clocks go forward", time.Date(2026, 3, 28, 21, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC), "2026-03-29 08:00 CEST"},
		{"clocks go back", time.Date(2026, 10, 24, 20, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC), "2026-10-25 08:00 CET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, berlin := contactEnv(t)
			if got := tc.at.In(berlin).Format("15:04"); got != "22:00" {
				t.Fatalf("test data: %s is %s in Berlin", tc.at, got)
			}
			if got := tc.want.In(berlin).Format("2006-01-02 15:04 MST"); got != tc.wallClock {
				t.Fatalf("test data: %s is %s in Berlin", tc.want, got)
			}
			sub := e.subscriber("kim@example.de", "de")
			e.welcomeAt(sub, tc.at)
			if r := e.tick(tc.at); r.Sent != 0 {
				t.Fatalf("sent at 22:00: %+v", r)
			}
			if due := e.dueAt(flows.Welcome, sub); !due.Equal(tc.want) {
				t.Fatalf("due %v (%s), want %s", due.UTC(), due.In(berlin).Format("15:04 MST"), tc.wallClock)
			}
			if r := e.tick(tc.want.Add(-time.Second)); r.Sent != 0 {
				t.Fatalf("sent before 08:00: %+v", r)
			}
			if r := e.tick(tc.want); r.Sent != 1 {
				t.Fatalf("not sent at 08:00: %+v", r)
			}
		})
	}
}
