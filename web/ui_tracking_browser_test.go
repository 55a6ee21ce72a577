package web

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// newTrackedCampaignEnv is newCampaignEnvWith with tracking: the engine
// rewrites links and the pages show what recipients did.
func newTrackedCampaignEnv(t *testing.T) (*uiEnv, *campaigns.Engine, *subscribers.Service, *tracking.Service) {
	t.Helper()
	var eng *campaigns.Engine
	var svc *subscribers.Service
	env := newUIEnv(t, func(_ *Config, d *UIDeps) {
		d.Campaigns = lateCampaigns{&eng}
		d.Subscribers = lateSubscribers{&svc}
	})
	s, err := subscribers.New(env.db, nopQueue{}, subscribers.Config{BaseURL: "http://treu.test", From: "news@shop.example",
		Secret: []byte("0123456789abcdef0123456789abcdef")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc = s
	tr := tracking.New(env.db, tracking.Config{BaseURL: "http://treu.test", Secret: []byte("k"), UTM: tracking.DefaultUTM}, s, nil)
	env.srv.tracking = tr
	eng = campaigns.New(env.db, campaigns.Config{From: "news@shop.example", BaseURL: "http://treu.test", Tracking: tr,
		Footer: func(context.Context) (templates.Footer, error) {
			return templates.Footer{ShopName: "Laden am Eck", Impressum: "Laden am Eck GmbH, Hauptstr. 1, 10115 Berlin"}, nil
		}}, []campaigns.Transport{env.outbox}, s, slog.New(slog.DiscardHandler))
	return env, eng, s, tr
}

// TestBrowserCampaignEngagement: after a send, the campaign's page shows
// opens, clicks, unsubscribes and revenue, the opens and clicks of the first
// 48 hours and the top links as charts; the list shows the rates.
func TestBrowserCampaignEngagement(t *testing.T) {
	env, eng, svc, tr := newTrackedCampaignEnv(t)
	ctx := context.Background()
	no := false
	consent := &subscribers.ConsentInput{Text: "Ja", IP: "192.0.2.7"}
	kim, _, err := svc.Enroll(ctx, subscribers.EnrollInput{Email: "kim@example.com", DoubleOptIn: &no, Consent: consent,
		Tracking: true, TrackingText: "Klicks dürfen mir zugeordnet werden."}, subscribers.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	enroll(t, svc, "lea@example.com", "Lea")
	runEngine(t, eng)
	cp, err := eng.Create(ctx, campaigns.Input{Name: "Herbst", Subject: "Herbst",
		Markdown: "[Äpfel](https://laden.example/aepfel) und [Birnen](https://laden.example/birnen)"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Start(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := eng.Wait(wctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	// Kim opens (an hour after sending) and clicks Äpfel, then orders; Lea
	// (no consent) clicks Äpfel too, anonymously.
	cp, _ = eng.Get(ctx, cp.ID)
	links := tr.Links(tracking.CampaignMail(cp.ID, cp.Name, true))
	sent := time.Now().Add(-time.Hour)
	h, _, err := links.Rewrite(ctx, nil, `<html><body><a href="https://laden.example/aepfel">x</a></body></html>`, "",
		tracking.Recipient{SubscriberID: kim.ID, Tracking: true, SentAt: sent})
	if err != nil {
		t.Fatal(err)
	}
	token := func(s, prefix string) string {
		i := strings.Index(s, prefix) + len(prefix)
		return s[i : i+tracking.TokenLen]
	}
	if err := tr.Open(ctx, token(h, "/o/"), tracking.Hit{IP: "198.51.100.4"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Click(ctx, token(h, "/l/"), tracking.Hit{IP: "198.51.100.4"}); err != nil {
		t.Fatal(err)
	}
	anon, _, _ := links.Rewrite(ctx, nil, `<html><body><a href="https://laden.example/aepfel">x</a></body></html>`, "", tracking.Recipient{})
	if _, err := tr.Click(ctx, token(anon, "/l/"), tracking.Hit{IP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	err = env.db.Tx(ctx, func(tx *store.Tx) error {
		return tr.OrderPlaced(ctx, tx, tracking.Order{ID: "o-1", SubscriberID: kim.ID, Currency: "EUR", Total: 1234.5, PlacedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	b.signIn(env)
	b.do("open the campaign",
		chromedp.Navigate(fmt.Sprintf("%s/ui/campaigns/%d", env.ts.URL, cp.ID)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline-chart`)))
	for sel, want := range map[string]string{
		"#result-opens":   "1 (50.0 %",
		"#result-clicks":  "2 (1 of them",
		"#result-revenue": "1,234.50",
		"#result-orders":  "1",
	} {
		if got := b.text(sel); !strings.HasPrefix(got, want) {
			b.fail("%s = %q, want %q…", sel, got, want)
		}
	}
	if n := get(b, "count the points", chromedp.Evaluate[int](`document.querySelector('#timeline-chart polyline.clicks').getAttribute('points').split(' ').length`)); n != 48 {
		b.fail("the clicks line has %d points, want 48", n)
	}
	if n := get(b, "count the dots", chromedp.Evaluate[int](`document.querySelectorAll('#timeline-chart circle').length`)); n != 2 {
		b.fail("%d dots, want an open and a click hour", n)
	}
	if w := get(b, "measure the chart", chromedp.Evaluate[float64](`document.querySelector('#timeline-chart').getBoundingClientRect().width`)); w < 200 {
		b.fail("the timeline is %v px wide", w)
	}
	bars := get(b, "read the top links", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#links-chart g.link')].map(g => g.querySelector('text.label').textContent + '=' + g.querySelector('text.count').textContent + ':' + g.querySelector('rect').getAttribute('width'))`))
	if len(bars) != 2 || bars[0] != "laden.example/aepfel=2:360" || bars[1] != "laden.example/birnen=0:0" {
		b.fail("top links %q", bars)
	}
	if os.Getenv("TREU_SHOT") != "" {
		b.t.Log(b.screenshot())
	}
	b.do("open the list",
		chromedp.Navigate(env.ts.URL+"/ui/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`td.rate-clicks`)))
	if o, c, u := b.text(`td.rate-opens`), b.text(`td.rate-clicks`), b.text(`td.rate-unsubscribed`); o != "50.0 %" || c != "50.0 %" || u != "0.0 %" {
		b.fail("rates %q %q %q", o, c, u)
	}
}
