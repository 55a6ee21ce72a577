package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
	"github.com/treu-mail/treu/webhooks"
)

// BenchmarkClickRedirect: /l/ over real HTTP at a steady 500 clicks a second
// (open loop: a click is sent every 2 ms whether or not the earlier ones were
// answered), half of them per-person (a consent look-up) and half anonymous,
// spread over 20 links. Each click is durable before its redirect. Reports
// the latency percentiles; the goal is p99 < 5 ms.
//
//	go test ./web -run '^$' -bench ClickRedirect -benchtime 5000x
//
// In "plain" one clicker goes through the links of a mail in turn, so after
// the first most clicks are marked as a link scanner's. In "people" every
// click is a person's (each recipient clicks the mail's first link, each
// anonymous click from its own browser); "people+webhook" also has an
// endpoint subscribed to link.clicked, so every click queues a held webhook
// delivery (and reads a tracked person's address) in its transaction.
func BenchmarkClickRedirect(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchClickRedirect(b, false, false) })
	b.Run("people", func(b *testing.B) { benchClickRedirect(b, true, false) })
	b.Run("people+webhook", func(b *testing.B) { benchClickRedirect(b, true, true) })
}

func benchClickRedirect(b *testing.B, people, hook bool) {
	e := newPubEnv(b)
	ctx := context.Background()
	var subs []int64
	for i := range 50 {
		s, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: fmt.Sprintf("k%d@example.com", i), Tracking: true, TrackingText: "ok"}, subscribers.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, s.ID)
	}
	cfg := tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("k"), UTM: tracking.DefaultUTM}
	if hook {
		hooks := webhooks.New(e.db, webhooks.Config{}, nil)
		if _, err := hooks.Create(ctx, webhooks.Input{URL: "https://shop.example/hook", Events: []string{webhooks.LinkClicked}}); err != nil {
			b.Fatal(err)
		}
		clicks := webhooks.Clicks{Hooks: hooks, Email: func(ctx context.Context, tx *store.Tx, id int64) (string, error) {
			a, err := e.subs.FindAddressee(ctx, tx, id, "")
			return a.Email, err
		}}
		cfg.OnClick, cfg.OnScanner = clicks.Clicked, clicks.Scanner
	}
	e.s.tracking = tracking.New(e.db, cfg, e.subs, nil)
	e.s.trackingRoutes()
	ts := httptest.NewServer(e.s)
	defer ts.Close()

	var body strings.Builder
	body.WriteString("<html><body>")
	for i := range 20 {
		fmt.Fprintf(&body, `<a href="https://shop.example/p/%d">p</a>`, i)
	}
	body.WriteString("</body></html>")
	links := e.s.tracking.Links(tracking.CampaignMail(1, "bench", true))
	var paths []string
	for i, sub := range subs {
		h, _, err := links.Rewrite(ctx, nil, body.String(), "", tracking.Recipient{SubscriberID: sub, Tracking: i%2 == 0, SentAt: time.Now().Add(-time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		for _, part := range strings.Split(h, "https://news.shop.example/l/")[1:] {
			paths = append(paths, ts.URL+"/l/"+part[:tracking.TokenLen])
			if people {
				break
			}
		}
	}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(2 * time.Millisecond) // 500 a second
	defer tick.Stop()
	b.ResetTimer()
	cpu := startCPU()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, paths[i%len(paths)], nil)
			if people {
				req.Header.Set("User-Agent", fmt.Sprintf("browser-%d", i))
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			lat[i] = time.Since(t0)
			if resp.StatusCode != http.StatusFound {
				b.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	cpu.report(b) // server and client together: what a click costs, whatever else the machine does
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	var n int
	e.db.QueryRow(`SELECT count(*) FROM clicks`).Scan(&n)
	if n < b.N {
		b.Fatalf("%d clicks stored, want %d", n, b.N)
	}
	if hook {
		e.db.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE type = 'link.clicked'`).Scan(&n)
		if n != b.N {
			b.Fatalf("%d link.clicked deliveries queued, want %d", n, b.N)
		}
	}
}
