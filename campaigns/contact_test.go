package campaigns

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/store"
)

// contactClock is an injected clock the engine's goroutines may read.
type contactClock struct{ t atomic.Int64 }

func (c *contactClock) now() time.Time  { return time.Unix(c.t.Load(), 0) }
func (c *contactClock) set(t time.Time) { c.t.Store(t.Unix()) }
func berlinAt(tb testing.TB, s string) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		tb.Fatal(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func contactHarness(t *testing.T, clock *contactClock) *harness {
	t.Helper()
	loc, _ := time.LoadLocation("Europe/Berlin")
	cfg := testConfig()
	cfg.Location = loc
	cfg.Now = clock.now
	cfg.Contact = contact.Default(loc)
	h := newHarness(t, cfg, nil)
	h.db.Now = clock.now
	return h
}

// logMails logs one marketing mail (a flow's, say) to the subscribers with
// these emails at now.
func logMails(t *testing.T, h *harness, now time.Time, emails ...string) {
	t.Helper()
	ctx := context.Background()
	err := h.db.Tx(ctx, func(tx *store.Tx) error {
		var ids []int64
		for _, e := range emails {
			var id int64
			if err := tx.QueryRowContext(ctx, `SELECT id FROM subscribers WHERE email = ?`, e).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return h.e.cfg.Contact.Record(ctx, tx, ids, now, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mailsTo(h *harness, email, subject string) int {
	n := 0
	for _, m := range h.snk.received()[email] {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

// TestContactSkipAndWait: with the default policy (1 a day), a campaign that
// skips counts the recipients mailed today as capped and does not mail them;
// a campaign that waits mails them the next day, after quiet hours.
func TestContactSkipAndWait(t *testing.T) {
	clock := &contactClock{}
	clock.set(berlinAt(t, "2026-05-04 10:00"))
	h := contactHarness(t, clock)
	ctx := context.Background()
	seed(t, h.db, activePeople(10))
	logMails(t, h, clock.now().Add(-time.Hour), "kunde0@example.com", "kunde1@example.com", "kunde2@example.com")
	h.run(t)

	skip := mustCreate(t, h.e, Input{Subject: "Skip", Markdown: "x"})
	if skip.ContactPolicy != ContactSkip {
		t.Fatalf("default contact_policy %q, want skip", skip.ContactPolicy)
	}
	if _, err := h.e.Start(ctx, skip.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, skip.ID, Finished)
	s, _ := h.e.Stats(ctx, skip.ID)
	if s.Sent != 7 || s.Capped != 3 || s.Skipped != 0 {
		t.Fatalf("skip: stats %+v, want 7 sent, 3 capped", s)
	}
	checkStatsAddUp(t, s)
	for i := range 10 {
		want := 1
		if i < 3 {
			want = 0
		}
		if got := mailsTo(h, fmt.Sprintf("kunde%d@example.com", i), "Skip"); got != want {
			t.Fatalf("kunde%d got %d of the skip campaign, want %d", i, got, want)
		}
	}

	// Everyone has had their mail today now: a waiting campaign holds all.
	clock.set(berlinAt(t, "2026-05-04 11:00"))
	wait := mustCreate(t, h.e, Input{Subject: "Wait", Markdown: "x", ContactPolicy: ContactWait})
	if _, err := h.e.Start(ctx, wait.ID); err != nil {
		t.Fatal(err)
	}
	tomorrow := berlinAt(t, "2026-05-05 08:00").Unix()
	eventually(t, "all deliveries held until tomorrow 08:00", func() bool {
		var n int
		h.db.QueryRow(`SELECT count(*) FROM deliveries WHERE campaign_id = ? AND status = 'pending' AND next_attempt_at = ?`,
			wait.ID, tomorrow).Scan(&n)
		return n == 10
	})
	if c, _ := h.e.Get(ctx, wait.ID); c.Status != Running || c.Stats.Pending != 10 {
		t.Fatalf("waiting campaign: %s %+v", c.Status, c.Stats)
	}
	// 07:59 is still quiet; nothing goes.
	clock.set(berlinAt(t, "2026-05-05 07:59"))
	h.e.poke()
	if n := h.snk.count.Load(); n != 7 {
		t.Fatalf("%d mails, want the 7 of yesterday", n)
	}
	clock.set(berlinAt(t, "2026-05-05 08:00"))
	h.e.poke()
	h.wait(t, wait.ID, Finished)
	s, _ = h.e.Stats(ctx, wait.ID)
	if s.Sent != 10 || s.Capped != 0 {
		t.Fatalf("wait: stats %+v", s)
	}
	for i := range 10 {
		if got := mailsTo(h, fmt.Sprintf("kunde%d@example.com", i), "Wait"); got != 1 {
			t.Fatalf("kunde%d got %d of the waiting campaign", i, got)
		}
	}
	// The waiting campaign's mails count: an ignoring one still goes, and a
	// skipping one caps everybody.
	ign := mustCreate(t, h.e, Input{Subject: "Recall", Markdown: "x", ContactPolicy: ContactIgnore})
	h.e.Start(ctx, ign.ID)
	h.wait(t, ign.ID, Finished)
	again := mustCreate(t, h.e, Input{Subject: "Again", Markdown: "x"})
	h.e.Start(ctx, again.ID)
	h.wait(t, again.ID, Finished)
	si, _ := h.e.Stats(ctx, ign.ID)
	sa, _ := h.e.Stats(ctx, again.ID)
	if si.Sent != 10 || sa.Capped != 10 || sa.Sent != 0 {
		t.Fatalf("ignore %+v, skip after %+v", si, sa)
	}
}

// TestContactQuietHoursPauseClaims: started at 22:00 Berlin a campaign
// stays running and mails nothing until 08:00; one that ignores the policy
// goes at once.
func TestContactQuietHoursPauseClaims(t *testing.T) {
	clock := &contactClock{}
	clock.set(berlinAt(t, "2026-03-28 22:00")) // the night the clocks go forward
	h := contactHarness(t, clock)
	ctx := context.Background()
	seed(t, h.db, activePeople(5))
	h.run(t)
	c := mustCreate(t, h.e, Input{Subject: "Night", Markdown: "x"})
	h.e.Start(ctx, c.ID)
	ign := mustCreate(t, h.e, Input{Subject: "Recall", Markdown: "x", ContactPolicy: ContactIgnore})
	h.e.Start(ctx, ign.ID)
	h.wait(t, ign.ID, Finished)
	// The claimer looks at running campaigns in id order each round, so the
	// rounds that sent the later one all passed the quiet one by.
	got, _ := h.e.Get(ctx, c.ID)
	if got.Status != Running || got.Stats.Sent != 0 || got.Stats.Pending != 5 {
		t.Fatalf("in quiet hours: %s %+v", got.Status, got.Stats)
	}
	if got.QuietUntil == nil || !got.QuietUntil.Equal(berlinAt(t, "2026-03-29 08:00")) {
		t.Fatalf("quiet_until %v, want 08:00 summer time", got.QuietUntil)
	}
	clock.set(berlinAt(t, "2026-03-29 08:00"))
	h.e.poke()
	h.wait(t, c.ID, Finished)
	if got, _ := h.e.Get(ctx, c.ID); got.QuietUntil != nil {
		t.Fatalf("quiet_until on a finished campaign: %v", got.QuietUntil)
	}
	// The ignoring campaign's mail was logged at 22:00 on the 28th, the
	// day before: the 1-a-day cap does not hold the 29th's.
	if s, _ := h.e.Stats(ctx, c.ID); s.Sent != 5 {
		t.Fatalf("after quiet hours: %+v", s)
	}
}
