package campaigns

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/tracking"
)

// everyoneConsents stands for package subscribers' consent look-up: the
// seeded subscribers all allow tracking (subscribers.tracking = 1).
type everyoneConsents struct{}

func (everyoneConsents) TrackingAllowed(context.Context, int64) (bool, error) { return true, nil }

const abMarkdown = "Hallo {{ .Name }}, neu: [Espresso](https://kaffee.example/p/espresso)\n"

// abHarness is a harness with tracking and n tracked subscribers.
func abHarness(t *testing.T, n int, configure ...func(*sink)) (*harness, *tracking.Service) {
	t.Helper()
	cfg := testConfig()
	var c func(*sink)
	if len(configure) > 0 {
		c = configure[0]
	}
	h := newHarness(t, cfg, c)
	tr := tracking.New(h.db, tracking.Config{BaseURL: cfg.BaseURL, Secret: []byte("secret")}, everyoneConsents{}, nil)
	h.e.cfg.Tracking = tr
	seed(t, h.db, activePeople(n))
	if _, err := h.db.Writer().Exec(`UPDATE subscribers SET tracking = 1`); err != nil {
		t.Fatal(err)
	}
	return h, tr
}

func abInput(share float64, wait string) Input {
	return Input{Name: "Herbst", Subject: "Betreff A", Markdown: abMarkdown,
		Variants: []Variant{{}, {Subject: "Betreff B"}, {Subject: "Betreff C"}},
		AB:       &ABInput{TestShare: &share, Wait: wait, Metric: MetricClicks}}
}

// click follows the first tracked link of m.
func click(t *testing.T, tr *tracking.Service, m *mailer.Parsed) {
	t.Helper()
	i := strings.Index(m.Text, "https://shop.example/l/")
	if i < 0 {
		t.Fatalf("no tracked link in:\n%s", m.Text)
	}
	i += len("https://shop.example/l/")
	if _, err := tr.Click(context.Background(), m.Text[i:i+tracking.TokenLen], tracking.Hit{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
}

// bySubject groups the received mail: subject -> recipients; and fails when
// anyone got more than one.
func bySubject(t *testing.T, snk *sink) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for rcpt, ms := range snk.received() {
		if len(ms) != 1 {
			t.Fatalf("%s got %d mails", rcpt, len(ms))
		}
		out[ms[0].Subject] = append(out[ms[0].Subject], rcpt)
	}
	return out
}

// startAB creates and starts in with the engine running and waits until its
// test mails (want of them) are sent; it returns the campaign and the start.
func startAB(t *testing.T, h *harness, in Input, want int) (Campaign, time.Time) {
	t.Helper()
	c := mustCreate(t, h.e, in)
	h.run(t)
	start := time.Now()
	if _, err := h.e.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	testSent(t, h, c.ID, want)
	return c, start
}

func testSent(t *testing.T, h *harness, id int64, want int) {
	t.Helper()
	eventually(t, "the test mails", func() bool {
		var n int
		h.db.QueryRow(`SELECT count(*) FROM deliveries WHERE campaign_id = ? AND variant IS NOT NULL AND status = 'sent'`, id).Scan(&n)
		return n == want
	})
}

// The test share is split evenly, the rest waits; the variant the test's
// clicks favour (per mail sent) goes to the rest when Tick finds the wait
// over, and everyone gets exactly one mail.
func TestABClicksPickWinner(t *testing.T) {
	h, tr := abHarness(t, 60)
	ctx := context.Background()
	c := mustCreate(t, h.e, abInput(0.3, "1h"))
	if len(c.Variants) != 3 || c.Variants[1].Markdown != abMarkdown || c.AB.Wait != "1h" || c.AB.Metric != MetricClicks {
		t.Fatalf("variants %+v ab %+v", c.Variants, c.AB)
	}
	h.run(t)
	start := time.Now()
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	testSent(t, h, c.ID, 18)
	got := bySubject(t, h.snk)
	if len(got["Betreff A"]) != 6 || len(got["Betreff B"]) != 6 || len(got["Betreff C"]) != 6 || len(h.snk.received()) != 18 {
		t.Fatalf("test split: %v", got)
	}
	// Two clicks for B, one for C (and the same person twice counts once).
	received := h.snk.received()
	click(t, tr, received[got["Betreff B"][0]][0])
	click(t, tr, received[got["Betreff B"][1]][0])
	click(t, tr, received[got["Betreff B"][1]][0])
	click(t, tr, received[got["Betreff C"][0]][0])

	if err := h.e.Tick(ctx, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	c, _ = h.e.Get(ctx, c.ID)
	if c.Winner != nil || c.Status != Running || c.AB.Rest != 42 {
		t.Fatalf("decided before the wait: winner %v status %s ab %+v", c.Winner, c.Status, c.AB)
	}
	if s := c.Variants[1].Stats; s == nil || s.Audience != 6 || s.Delivered != 6 || s.ClicksUnique != 2 {
		t.Fatalf("variant B figures %+v", s)
	}
	if err := h.e.Tick(ctx, start.Add(61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	h.wait(t, c.ID)
	got = bySubject(t, h.snk)
	if len(got["Betreff A"]) != 6 || len(got["Betreff B"]) != 48 || len(got["Betreff C"]) != 6 {
		t.Fatalf("after the test: %d A, %d B, %d C", len(got["Betreff A"]), len(got["Betreff B"]), len(got["Betreff C"]))
	}
	c, _ = h.e.Get(ctx, c.ID)
	if c.Winner == nil || *c.Winner != 1 || c.AB.DecidedBy != "auto" || c.Stats.Sent != 60 {
		t.Fatalf("winner %v ab %+v stats %+v", c.Winner, c.AB, c.Stats)
	}
	// The variant figures stay the test's.
	if c.Variants[1].Stats.Audience != 6 || c.Variants[2].Stats.ClicksUnique != 1 {
		t.Fatalf("figures after: %+v %+v", c.Variants[1].Stats, c.Variants[2].Stats)
	}
	if _, err := h.e.PickWinner(ctx, c.ID, 2); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a decided test picked again: %v", err)
	}
}

// No clicks at all: a tie, which A wins.
func TestABTieGoesToA(t *testing.T) {
	h, _ := abHarness(t, 20)
	ctx := context.Background()
	c, start := startAB(t, h, abInput(0.2, "1m"), 4)
	h.e.Tick(ctx, start.Add(2*time.Minute))
	h.wait(t, c.ID)
	got := bySubject(t, h.snk)
	if len(got["Betreff A"]) != 18 {
		t.Fatalf("tie: %v", got)
	}
	if best([]VariantStats{{Delivered: 3, Revenue: 10}, {Delivered: 2, Revenue: 10}}, MetricRevenue) != 1 {
		t.Error("revenue per mail: fewer mails earning the same is better")
	}
	if best([]VariantStats{{Delivered: 0}, {Delivered: 2}}, MetricClicks) != 0 {
		t.Error("nothing to compare must stay A")
	}
}

// A scheduled A/B campaign starts at send_at by Tick; pausing during the
// test holds the decision, resuming keeps the assignment; a manual pick
// ends the test early.
func TestABScheduledPauseManual(t *testing.T) {
	h, _ := abHarness(t, 30)
	ctx := context.Background()
	sendAt := time.Now().Add(time.Hour)
	in := abInput(0.2, "2h")
	in.SendAt = &sendAt
	c := mustCreate(t, h.e, in)
	h.run(t)
	if c, _ = h.e.Start(ctx, c.ID); c.Status != Scheduled {
		t.Fatalf("status %s", c.Status)
	}
	if _, err := h.e.PickWinner(ctx, c.ID, 1); !errs.Is(err, errs.Conflict) {
		t.Fatalf("picked before the start: %v", err)
	}
	h.e.Tick(ctx, sendAt)
	testSent(t, h, c.ID, 6)
	before := assignment(t, h.db, c.ID)
	if _, err := h.e.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	h.e.Tick(ctx, sendAt.Add(3*time.Hour))
	if c, _ = h.e.Get(ctx, c.ID); c.Winner != nil {
		t.Fatal("a paused test was decided")
	}
	if _, err := h.e.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if after := assignment(t, h.db, c.ID); after != before {
		t.Fatalf("assignment changed on resume:\n%s\n%s", before, after)
	}
	if _, err := h.e.PickWinner(ctx, c.ID, 7); !errs.Is(err, errs.Invalid) {
		t.Fatalf("variant 7: %v", err)
	}
	if c, err := h.e.PickWinner(ctx, c.ID, 2); err != nil || *c.Winner != 2 || c.AB.DecidedBy != "manual" {
		t.Fatalf("manual pick: %v", err)
	}
	h.wait(t, c.ID)
	if got := bySubject(t, h.snk); len(got["Betreff C"]) != 26 || len(got["Betreff A"]) != 2 {
		t.Fatalf("after manual pick: %v", got)
	}
}

func assignment(t *testing.T, db *store.DB, id int64) string {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT group_concat(subscriber_id || ':' || coalesce(variant, '-'), ',') FROM
		(SELECT subscriber_id, variant FROM deliveries WHERE campaign_id = ? ORDER BY subscriber_id)`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// An engine stopped mid-test and a new one on the reopened database: the
// test mails are not sent again, and the rest goes once.
func TestABRestartMidTest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "treu.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, db, activePeople(40))
	snk := newSink(t, nil)
	cfg := testConfig()
	cfg.Owner = "first"
	e := New(db, cfg, []Transport{snk.smtpTransport(t, 2)}, fakeLinks{}, testLog())
	c := mustCreate(t, e, abInput(0.25, "10m"))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	start := time.Now()
	if _, err := e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the test mails", func() bool { return len(snk.received()) == 10 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg.Owner = "second"
	e = New(db, cfg, []Transport{snk.smtpTransport(t, 2)}, fakeLinks{}, testLog())
	runCtx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- e.Run(runCtx) }()
	if err := e.Tick(ctx, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(snk.received()); n != 10 {
		t.Fatalf("before the decision %d got mail", n)
	}
	if err := e.Tick(ctx, start.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := e.Wait(wctx, c.ID); err != nil {
		t.Fatal(err)
	}
	got := bySubject(t, snk) // fails on any second mail
	if len(got["Betreff A"]) != 34 || len(snk.received()) != 40 {
		t.Fatalf("after restart: %v", got)
	}
}

// Validation names the field; nothing is saved.
func TestABValidate(t *testing.T) {
	h, _ := abHarness(t, 1)
	ctx := context.Background()
	share := func(f float64) *float64 { return &f }
	for _, tc := range []struct {
		in    Input
		field string
	}{
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}}}, "variants"},
		{Input{Subject: "x", Markdown: "y", Variants: make([]Variant, 5)}, "variants"},
		{Input{Subject: "x", Markdown: "y", AB: &ABInput{}}, "variants"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {Subject: "{{ .Nope"}}}, "variants[1].subject"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}, {Markdown: "{{ if }}"}}}, "variants[2].markdown"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{TestShare: share(0.6)}}, "ab.test_share"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{TestShare: share(0)}}, "ab.test_share"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{Wait: "30s"}}, "ab.wait"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{Wait: "73h"}}, "ab.wait"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{Wait: "soon"}}, "ab.wait"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{Metric: "likes"}}, "ab.metric"},
		{Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {Markdown: "{{ .Coupon }}"}}}, "variants[1].markdown"},
	} {
		_, err := h.e.Create(ctx, tc.in)
		var e *errs.Error
		if !errs.Is(err, errs.Invalid) || !asErr(err, &e) || e.Field != tc.field {
			t.Errorf("%+v: %v (want a 422 on %s)", tc.in, err, tc.field)
		}
	}
	// Opens need tracking.
	h.e.cfg.Tracking = nil
	if _, err := h.e.Create(ctx, Input{Subject: "x", Markdown: "y", Variants: []Variant{{}, {}}, AB: &ABInput{Metric: MetricOpens}}); err == nil {
		t.Error("opens without tracking")
	}
	var n int
	h.db.QueryRow(`SELECT count(*) FROM campaigns`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d campaigns saved", n)
	}
	// Only variants: A becomes the campaign's own mail; defaults filled in.
	c, err := h.e.Create(ctx, Input{Variants: []Variant{{Subject: "A", Markdown: "a"}, {Subject: "B"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "A" || c.Variants[1].Markdown != "a" || c.AB.TestShare != DefaultTestShare || c.AB.Wait != "4h" || c.AB.Metric != MetricClicks {
		t.Fatalf("%+v %+v %+v", c, c.Variants, c.AB)
	}
	// Updating without variants ends the test.
	if c, err = h.e.Update(ctx, c.ID, Input{Subject: "A", Markdown: "a"}); err != nil || c.AB != nil || len(c.Variants) != 0 {
		t.Fatalf("update: %v %+v", err, c.AB)
	}
}

func asErr(err error, target **errs.Error) bool {
	e, ok := errs.As(err)
	if ok {
		*target = e
	}
	return ok
}

func FuzzFmtWait(f *testing.F) {
	f.Add("4h")
	f.Add("1h30m")
	f.Add("90s")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return
		}
		back, err := time.ParseDuration(fmtWait(d))
		if err != nil || back != d {
			t.Fatalf("%s -> %s -> %v %v", s, fmtWait(d), back, err)
		}
	})
}

// BenchmarkStartAB: the audience snapshot of 100,000 recipients, plain and
// with an A/B test's assignment in the same transaction. Reported per start.
func BenchmarkStartAB(b *testing.B) {
	for _, ab := range []bool{false, true} {
		name := "plain"
		if ab {
			name = "ab"
		}
		b.Run(name, func(b *testing.B) {
			db := storetest.Open(b)
			seedBulk(b, db, 100_000)
			e := New(db, testConfig(), []Transport{nil}, fakeLinks{}, testLog())
			ctx := context.Background()
			in := Input{Subject: "Hallo", Markdown: "Hallo {{ .FirstName }}"}
			if ab {
				in.Variants = []Variant{{}, {Subject: "Servus"}, {Subject: "Moin"}}
			}
			for b.Loop() {
				c, err := e.Create(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.Start(ctx, c.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An audience too small for the share still tests each variant once.
func TestABSmallAudience(t *testing.T) {
	h, _ := abHarness(t, 5)
	ctx := context.Background()
	c := mustCreate(t, h.e, abInput(0.05, "1m"))
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	c, _ = h.e.Get(ctx, c.ID)
	for i, v := range c.Variants {
		if v.Stats == nil || v.Stats.Audience != 1 {
			t.Fatalf("variant %d: %+v", i, v.Stats)
		}
	}
	if c.AB.Rest != 2 {
		t.Fatalf("rest %d", c.AB.Rest)
	}
}

// Pausing while the winner goes to the rest, then resuming: the rest still
// gets the winner, everyone exactly once.
func TestABPauseDuringRest(t *testing.T) {
	// From the 400th message on the sink holds every message until the
	// pause has been asked for, so the send cannot finish before it.
	atRest, paused := make(chan struct{}), make(chan struct{})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(paused) }) })
	h, _ := abHarness(t, 1000, func(s *sink) {
		s.onMessage = func(n int64) {
			if n == 400 {
				close(atRest)
			}
			if n >= 400 {
				<-paused
			}
		}
	})
	ctx := context.Background()
	c, start := startAB(t, h, abInput(0.1, "1m"), 100)
	if err := h.e.Tick(ctx, start.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	<-atRest
	if _, err := h.e.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	release.Do(func() { close(paused) })
	eventually(t, "in-flight deliveries to settle", func() bool { return h.deliveryCounts(t, c.ID)["sending"] == 0 })
	if s, _ := h.e.Stats(ctx, c.ID); s.Sent >= 1000 {
		t.Fatalf("%d sent after the pause at 400 of 1,000: nothing left to resume", s.Sent)
	}
	if _, err := h.e.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, c.ID)
	got := bySubject(t, h.snk)
	if len(got["Betreff A"]) != 934 || len(got["Betreff B"]) != 33 || len(got["Betreff C"]) != 33 {
		t.Fatalf("after pause and resume: %d A, %d B, %d C", len(got["Betreff A"]), len(got["Betreff B"]), len(got["Betreff C"]))
	}
}
