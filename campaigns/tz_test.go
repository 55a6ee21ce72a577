package campaigns

import (
	"context"
	"testing"
	"time"
)

// TestRecurringInShopZone: "0 9 * * MON" goes out at 09:00 Berlin time all
// year, across both DST changes of 2026 (March 29, October 25): 08:00 UTC in
// winter, 07:00 UTC in summer. The clock is injected; nothing waits.
func TestRecurringInShopZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC) // a Friday in winter
	cfg := testConfig()
	cfg.Location = berlin
	cfg.Now = func() time.Time { return now }
	h := newHarness(t, cfg, nil)
	h.db.Now = cfg.Now
	ctx := context.Background()
	utc := func(mo time.Month, d, hr int) time.Time { return time.Date(2026, mo, d, hr, 0, 0, 0, time.UTC) }

	rec := mustCreate(t, h.e, Input{Name: "Weekly", Subject: "Weekly", Markdown: "x", Cron: "0 9 * * MON"})
	rec, err = h.e.Start(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name     string
		tick     time.Time // the tick that sends the occurrence due
		wantNext time.Time // the parent's next occurrence after it
	}{
		{"winter", utc(3, 23, 8), utc(3, 30, 7)},                        // Mon 23 Mar 09:00 CET; next falls after the spring change
		{"summer after the spring change", utc(3, 30, 7), utc(4, 6, 7)}, // 09:00 CEST
		// Down from April to October: the tick a minute early folds the missed
		// Mondays into one send (named 2026-04-06), then 19 Oct goes out at
		// 09:00 CEST and the next Monday is after the autumn change.
		{"summer before the autumn change", utc(10, 19, 7), utc(10, 26, 8)},
		{"winter after the autumn change", utc(10, 26, 8), utc(11, 2, 8)},
	} {
		t.Run(step.name, func(t *testing.T) {
			c, _ := h.e.Get(ctx, rec.ID)
			if c.NextRunAt == nil || c.NextRunAt.In(berlin).Hour() != 9 || c.NextRunAt.In(berlin).Weekday() != time.Monday {
				t.Fatalf("next run %v is not Monday 09:00 in Berlin", c.NextRunAt)
			}
			now = step.tick.Add(-time.Minute)
			if err := h.e.Tick(ctx, now); err != nil {
				t.Fatal(err)
			}
			if c, _ := h.e.Get(ctx, rec.ID); c.NextRunAt.Before(step.tick) {
				t.Fatalf("sent a minute before 09:00 Berlin: next %v", c.NextRunAt)
			}
			now = step.tick
			if err := h.e.Tick(ctx, now); err != nil {
				t.Fatal(err)
			}
			c, _ = h.e.Get(ctx, rec.ID)
			if c.NextRunAt == nil || !c.NextRunAt.Equal(step.wantNext) {
				t.Fatalf("after the tick at %s, next run %v, want %s", step.tick, c.NextRunAt, step.wantNext)
			}
		})
	}
	// One child per occurrence, named with its time in the shop's zone.
	all, err := h.e.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"Weekly (2026-03-23 09:00)": true, "Weekly (2026-03-30 09:00)": true,
		"Weekly (2026-04-06 09:00)": true, "Weekly (2026-10-19 09:00)": true, "Weekly (2026-10-26 09:00)": true}
	n := 0
	for _, c := range all {
		if c.ParentID != nil {
			n++
			if !want[c.Name] {
				t.Errorf("child %q", c.Name)
			}
		}
	}
	if n != len(want) {
		t.Fatalf("%d children, want %d", n, len(want))
	}
}
