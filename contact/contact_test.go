package contact_test

import (
	"context"
	"testing"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

var berlin = mustLoc("Europe/Berlin")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		panic(err)
	}
	return t
}

// record logs one mail to each id at now, as a sender does.
func record(t *testing.T, db *store.DB, p *contact.Policy, now time.Time, campaign int64, ids ...int64) {
	t.Helper()
	ctx := context.Background()
	if err := db.Tx(ctx, func(tx *store.Tx) error { return p.Record(ctx, tx, ids, now, campaign) }); err != nil {
		t.Fatal(err)
	}
}

func held(t *testing.T, db *store.DB, p *contact.Policy, now time.Time, campaign, id int64) (time.Time, bool) {
	t.Helper()
	b, err := p.Check(context.Background(), db, []int64{id}, now, campaign)
	if err != nil {
		t.Fatal(err)
	}
	return b.Held(id)
}

func TestQuietHoursAcrossDST(t *testing.T) {
	p := contact.Default(berlin)
	for _, c := range []struct{ now, want string }{
		{"2026-03-10 22:00", "2026-03-11 08:00"},
		{"2026-03-11 03:00", "2026-03-11 08:00"},
		{"2026-03-28 22:00", "2026-03-29 08:00"}, // clocks go forward in the night: 9 real hours
		{"2026-10-24 22:00", "2026-10-25 08:00"}, // and back: 11 real hours
		{"2026-10-25 02:30", "2026-10-25 08:00"},
		{"2026-03-11 21:00", "2026-03-12 08:00"},
	} {
		until, quiet := p.QuietUntil(at(c.now))
		if !quiet || !until.Equal(at(c.want)) {
			t.Errorf("%s: quiet until %v (%v), want %s", c.now, until.In(berlin), quiet, c.want)
		}
	}
	for _, s := range []string{"2026-03-11 08:00", "2026-03-11 20:59", "2026-03-29 12:00"} {
		if _, quiet := p.QuietUntil(at(s)); quiet {
			t.Errorf("%s is not in quiet hours", s)
		}
	}
	if d := at("2026-03-29 08:00").Sub(at("2026-03-28 22:00")); d != 9*time.Hour {
		t.Errorf("spring night is %v", d)
	}
	// A range within one day.
	q := &contact.Policy{QuietFrom: 12 * 60, QuietTo: 14 * 60, Location: berlin}
	if until, quiet := q.QuietUntil(at("2026-05-01 13:00")); !quiet || !until.Equal(at("2026-05-01 14:00")) {
		t.Errorf("lunch quiet: %v %v", until, quiet)
	}
}

func TestCap(t *testing.T) {
	db := storetest.Open(t)
	p := contact.Default(berlin)
	const sub = 7
	if _, h := held(t, db, p, at("2026-05-04 10:00"), 0, sub); h {
		t.Fatal("a subscriber never mailed is held")
	}
	record(t, db, p, at("2026-05-04 10:00"), 0, sub) // Monday
	// The day cap: the next mail waits for the next day's end of quiet hours.
	until, h := held(t, db, p, at("2026-05-04 15:00"), 0, sub)
	if !h || !until.Equal(at("2026-05-05 08:00")) {
		t.Fatalf("held until %v (%v), want Tuesday 08:00", until.In(berlin), h)
	}
	// Calendar days: yesterday's 10:05 mail does not cap today's 10:00 one.
	if _, h := held(t, db, p, at("2026-05-05 10:00"), 0, sub); h {
		t.Fatal("held on the next day")
	}
	record(t, db, p, at("2026-05-05 10:00"), 0, sub)
	record(t, db, p, at("2026-05-06 10:00"), 0, sub)
	// Three this week: the fourth waits until Monday's mail leaves the window
	// (next Monday 00:00), moved out of quiet hours.
	until, h = held(t, db, p, at("2026-05-07 10:00"), 0, sub)
	if !h || !until.Equal(at("2026-05-11 08:00")) {
		t.Fatalf("week cap: held until %v (%v), want next Monday 08:00", until.In(berlin), h)
	}
	if _, h := held(t, db, p, at("2026-05-11 08:00"), 0, sub); h {
		t.Fatal("still held when the week is over")
	}
	// Others are not affected.
	if _, h := held(t, db, p, at("2026-05-04 15:00"), 0, sub+1); h {
		t.Fatal("another subscriber held")
	}
}

func TestCampaignAgainAndBatch(t *testing.T) {
	db := storetest.Open(t)
	p := &contact.Policy{PerDay: 1, Location: berlin}
	record(t, db, p, at("2026-05-04 10:00"), 12, 1)
	// Campaign 12 claiming subscriber 1 again (a retry) is not held ...
	if _, h := held(t, db, p, at("2026-05-04 11:00"), 12, 1); h {
		t.Fatal("a retry of the same campaign is held")
	}
	// ... but campaign 13 is.
	if _, h := held(t, db, p, at("2026-05-04 11:00"), 13, 1); !h {
		t.Fatal("a second campaign is not held")
	}
	// Within one batch a second mail to the same subscriber is held.
	ctx := context.Background()
	b, err := p.Check(ctx, db, []int64{2, 2}, at("2026-05-04 11:00"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, h := b.Held(2); h {
		t.Fatal("first held")
	}
	b.Take(2)
	if _, h := b.Held(2); !h {
		t.Fatal("second mail in the batch not held")
	}
	// A nil policy holds nobody.
	var none *contact.Policy
	nb, err := none.Check(ctx, db, []int64{1}, at("2026-05-04 11:00"), 0)
	if err != nil || nb != nil {
		t.Fatal(nb, err)
	}
	if _, h := nb.Held(1); h {
		t.Fatal("nil batch holds")
	}
	nb.Take(1)
	if err := db.Tx(ctx, func(tx *store.Tx) error { return nb.Record(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func TestPruneAndErase(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	p := contact.Default(berlin)
	record(t, db, p, at("2026-05-01 10:00"), 0, 1, 2)
	record(t, db, p, at("2026-05-10 10:00"), 0, 1, 2)
	n, err := contact.Prune(ctx, db, at("2026-05-10 12:00"))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return contact.Eraser{}.DeleteForSubscriber(ctx, tx, 1) }); err != nil {
		t.Fatal(err)
	}
	var left int
	db.QueryRowContext(ctx, `SELECT count(*) FROM contact_log`).Scan(&left)
	if left != 1 {
		t.Fatalf("%d rows left, want 1", left)
	}
}

func TestParseQuiet(t *testing.T) {
	for in, want := range map[string]string{"21:00-08:00": "21:00-08:00", " 9:30 - 17:00 ": "09:30-17:00", "": "off", "off": "off", "0": "off"} {
		from, to, err := contact.ParseQuiet(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		p := &contact.Policy{QuietFrom: from, QuietTo: to}
		if p.QuietString() != want {
			t.Errorf("%q = %q, want %q", in, p.QuietString(), want)
		}
	}
	for _, in := range []string{"21-8", "25:00-08:00", "21:00", "21:00-21:00", "21:60-08:00", "-1:00-08:00", "+1:00-02:00", "21:00-08:000"} {
		if _, _, err := contact.ParseQuiet(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseQuiet(f *testing.F) {
	for _, s := range []string{"21:00-08:00", "off", "9:30-17:00", "23:59-00:00", "x-y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		from, to, err := contact.ParseQuiet(s)
		if err != nil {
			return
		}
		if from < 0 || from >= 1440 || to < 0 || to >= 1440 {
			t.Fatalf("%q: %d-%d out of range", s, from, to)
		}
		p := &contact.Policy{QuietFrom: from, QuietTo: to}
		f2, t2, err := contact.ParseQuiet(p.QuietString())
		if err != nil || f2 != from || t2 != to {
			t.Fatalf("%q does not round-trip: %q", s, p.QuietString())
		}
	})
}
