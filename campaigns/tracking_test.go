package campaigns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/tracking"
)

const linkMarkdown = `# Hallo {{ .FirstName }}!

Neu im [Shop](https://kaffee.example/neu?x=1&y=2), dazu [Espresso](https://kaffee.example/p/espresso),
[Filter](https://kaffee.example/p/filter) und [Bohnen](https://kaffee.example/p/bohnen).

Mehr unter https://kaffee.example/blog.

[Abmelden]({{ .UnsubscribeURL }})
`

// A campaign's links go through /l/ on the base URL; who allows tracking
// gets their own links and a pixel, everyone else the same anonymous ones.
func TestCampaignLinksTracked(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg, nil)
	tr := tracking.New(h.db, tracking.Config{BaseURL: cfg.BaseURL, Secret: []byte("secret"), UTM: tracking.DefaultUTM}, nil, nil)
	h.e.cfg.Tracking = tr
	seed(t, h.db, activePeople(3))
	if _, err := h.db.Writer().Exec(`UPDATE subscribers SET tracking = 1 WHERE email = 'kunde0@example.com'`); err != nil {
		t.Fatal(err)
	}
	h.run(t)
	c := mustCreate(t, h.e, Input{Name: "Herbst", Subject: "Hallo", Markdown: linkMarkdown})
	if _, err := h.e.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, c.ID)
	got := h.snk.received()
	tracked, anon1, anon2 := got["kunde0@example.com"][0], got["kunde1@example.com"][0], got["kunde2@example.com"][0]
	for _, m := range []string{tracked.HTML, tracked.Text, anon1.HTML, anon1.Text} {
		// (The visible text of an autolink stays, its href changes.)
		if strings.Contains(m, `href="https://kaffee.example`) || strings.Contains(m, "(https://kaffee.example") ||
			strings.Count(m, "https://shop.example/l/") != 5 {
			t.Fatalf("links not rewritten:\n%s", m)
		}
		if !strings.Contains(m, "https://shop.example/unsubscribe/tok") {
			t.Fatalf("unsubscribe link changed:\n%s", m)
		}
	}
	if !strings.Contains(tracked.HTML, "https://shop.example/o/") || strings.Contains(anon1.HTML, "/o/") {
		t.Error("the pixel belongs in the tracked mail only")
	}
	if linkTokens(anon1.Text) != linkTokens(anon2.Text) || linkTokens(anon1.Text) == linkTokens(tracked.Text) {
		t.Errorf("anonymous links must not differ by recipient:\n%s\n%s", anon1.Text, anon2.Text)
	}
	// A click lands on the target with the campaign's UTM parameters.
	i := strings.Index(anon1.Text, "https://shop.example/l/") + len("https://shop.example/l/")
	target, err := tr.Click(context.Background(), anon1.Text[i:i+tracking.TokenLen], tracking.Hit{})
	if err != nil {
		t.Fatal(err)
	}
	if target != "https://kaffee.example/neu?x=1&y=2&utm_source=treu&utm_medium=email&utm_campaign=herbst" {
		t.Errorf("target %s", target)
	}
}

func linkTokens(s string) string {
	var out []string
	for _, part := range strings.Split(s, "https://shop.example/l/")[1:] {
		out = append(out, part[:tracking.TokenLen])
	}
	return strings.Join(out, " ")
}

// Without UTM for a campaign the targets are the links as written.
func TestCampaignUTMOff(t *testing.T) {
	db := storetest.Open(t)
	e := New(db, testConfig(), nil, fakeLinks{}, testLog())
	off := false
	c := mustCreate(t, e, Input{Subject: "x", Markdown: linkMarkdown, UTM: &off})
	if c.UTM {
		t.Fatal("utm stays on")
	}
	c, err := e.Update(context.Background(), c.ID, Input{Subject: "y", Markdown: linkMarkdown})
	if err != nil || c.UTM {
		t.Fatalf("update without utm changed it: %v %v", c.UTM, err)
	}
}

// BenchmarkRenderRewrite: one recipient's mail rendered, then its links
// rewritten (off: not at all; anonymous: cached links; tracked: a token per
// link and the pixel). Compare the three.
func BenchmarkRenderRewrite(b *testing.B) {
	db := storetest.Open(b)
	seedBulk(b, db, 1)
	cfg := testConfig()
	e := New(db, cfg, nil, fakeLinks{}, testLog())
	c, err := e.Create(context.Background(), Input{Subject: "Hallo {{ .FirstName }}", Markdown: linkMarkdown})
	if err != nil {
		b.Fatal(err)
	}
	tr := tracking.New(db, tracking.Config{BaseURL: cfg.BaseURL, Secret: []byte("secret"), UTM: tracking.DefaultUTM}, nil, nil)
	ctx := context.Background()
	for _, mode := range []string{"off", "anonymous", "tracked"} {
		b.Run(mode, func(b *testing.B) {
			r, err := e.loadRun(ctx, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if mode != "off" {
				r.links = tr.Links(tracking.CampaignMail(c.ID, c.Name, true))
			}
			rc := recipient{ID: 1, Email: "kunde1@example.com", Name: "Kim Muster", Locale: "de", Attributes: `{"city":"Berlin"}`, Tracking: mode == "tracked"}
			now := time.Now()
			cpu := startCPU()
			for b.Loop() {
				m, err := e.message(r.tmpl, r, &rc, "")
				if err != nil {
					b.Fatal(err)
				}
				if r.links != nil {
					if m.HTML, m.Text, err = r.links.Rewrite(ctx, nil, m.HTML, m.Text, tracking.Recipient{SubscriberID: rc.ID, Tracking: rc.Tracking, SentAt: now}); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkSendPipelineLinks: BenchmarkSendPipeline with a mail of five
// links, with tracking off and on (every recipient consenting: the most
// work per mail).
func BenchmarkSendPipelineLinks(b *testing.B) {
	for _, mode := range []string{"off", "tracked"} {
		b.Run(mode, func(b *testing.B) {
			n := max(b.N, 1000)
			db := storetest.Open(b)
			seedBulk(b, db, n)
			if mode == "tracked" {
				db.Writer().Exec(`UPDATE subscribers SET tracking = 1`)
			}
			snk := newSink(b, func(s *sink) { s.keepRaw = false })
			cfg := testConfig()
			cfg.BatchSize = 500
			if mode != "off" {
				cfg.Tracking = tracking.New(db, tracking.Config{BaseURL: cfg.BaseURL, Secret: []byte("secret"), UTM: tracking.DefaultUTM}, nil, nil)
			}
			e := New(db, cfg, []Transport{snk.smtpTransport(b, 8)}, fakeLinks{}, testLog())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			c, err := e.Create(ctx, Input{Subject: "Hallo {{ .FirstName }}", Markdown: linkMarkdown})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu := startCPU()
			t0 := time.Now()
			if _, err := e.Start(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Wait(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
			el := time.Since(t0)
			b.StopTimer()
			cancel()
			<-done
			if got := snk.count.Load(); got != int64(n) {
				b.Fatalf("sink got %d, want %d", got, n)
			}
			b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
			if c := cpuNow() - cpu.start; cpu.start > 0 {
				b.ReportMetric(float64(c)/float64(n), "cpu-ns/msg") // the sink's share included
			}
		})
	}
}
