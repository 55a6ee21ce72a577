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

	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
)

// BenchmarkClickRedirect: /l/ over real HTTP at a steady 500 clicks a second
// (open loop: a click is sent every 2 ms whether or not the earlier ones were
// answered), half of them per-person (a consent look-up) and half anonymous,
// spread over 20 links. Each click is durable before its redirect. Reports
// the latency percentiles; the goal is p99 < 5 ms.
//
//	go test ./web -run '^$' -bench ClickRedirect -benchtime 5000x
func BenchmarkClickRedirect(b *testing.B) {
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
	e.s.tracking = tracking.New(e.db, tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("k"), UTM: tracking.DefaultUTM}, e.subs, nil)
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
			t0 := time.Now()
			resp, err := client.Get(paths[i%len(paths)])
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
}
