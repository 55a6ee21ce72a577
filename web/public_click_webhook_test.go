package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
	"github.com/treu-mail/treu/webhooks"
)

// testClock is a settable clock the server's goroutines may read.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hookReceiver keeps what a webhook endpoint was sent.
type hookReceiver struct {
	mu   sync.Mutex
	reqs []struct {
		h    http.Header
		body []byte
	}
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, struct {
		h    http.Header
		body []byte
	}{req.Header.Clone(), b})
	r.mu.Unlock()
}

// A person's click through /l/ becomes a signed link.clicked webhook, held
// for the scanner window; the subscriber's address only with their tracking
// consent; a link scanner's clicks send nothing.
func TestClickWebhook(t *testing.T) {
	e := newPubEnv(t)
	ctx := context.Background()
	clock := &testClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	e.db.Now = clock.Now
	kim, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "kim@example.com", Tracking: true, TrackingText: "ok"}, subscribers.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	ola, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "ola@example.com"}, subscribers.Meta{})
	if err != nil {
		t.Fatal(err)
	}

	hooks := webhooks.New(e.db, webhooks.Config{AllowPrivate: true}, slog.New(slog.DiscardHandler))
	hooks.Now = clock.Now
	rcv := &hookReceiver{}
	recv := httptest.NewServer(rcv)
	defer recv.Close()
	ep, err := hooks.Create(ctx, webhooks.Input{URL: recv.URL + "/treu", Events: []string{webhooks.LinkClicked}})
	if err != nil {
		t.Fatal(err)
	}
	clicks := webhooks.Clicks{Hooks: hooks, Email: func(ctx context.Context, tx *store.Tx, id int64) (string, error) {
		a, err := e.subs.FindAddressee(ctx, tx, id, "")
		if errs.Is(err, errs.NotFound) {
			return "", nil
		}
		return a.Email, err
	}}
	e.s.tracking = tracking.New(e.db, tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("k"),
		Now: clock.Now, OnClick: clicks.Clicked, OnScanner: clicks.Scanner}, e.subs, nil)
	e.s.trackingRoutes()
	ts := httptest.NewServer(e.s)
	defer ts.Close()

	body := `<html><body><a href="https://shop.example/a">a</a> <a href="https://shop.example/b">b</a></body></html>`
	tokens := func(m tracking.Mail, r tracking.Recipient) []string {
		h, _, err := e.s.tracking.Links(m).Rewrite(ctx, nil, body, "", r)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, part := range strings.Split(h, "https://news.shop.example/l/")[1:] {
			out = append(out, ts.URL+"/l/"+part[:tracking.TokenLen])
		}
		return out
	}
	kimLinks := tokens(tracking.CampaignMail(3, "Sommer", false), tracking.Recipient{SubscriberID: kim.ID, Tracking: true, SentAt: clock.Now()})
	olaLinks := tokens(tracking.FlowMail("welcome", 1), tracking.Recipient{SubscriberID: ola.ID, Tracking: false, SentAt: clock.Now()})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	click := func(u, agent string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("User-Agent", agent)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("click: %d", resp.StatusCode)
		}
	}
	deliver := func() {
		t.Helper()
		for {
			n, err := hooks.ProcessDue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}

	click(kimLinks[0], "Firefox")
	deliver()
	if len(rcv.reqs) != 0 {
		t.Fatal("sent within the scanner window")
	}
	clock.Add(5 * time.Second)
	click(olaLinks[1], "Safari")
	// A link scanner opens both links of Ola's mail at once: both its clicks
	// are a machine's, and the first one's event is withdrawn.
	click(olaLinks[0], "Scanner/1.0")
	clock.Add(300 * time.Millisecond)
	click(olaLinks[1], "Scanner/1.0")
	clock.Add(5 * time.Second)
	deliver()

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.reqs) != 2 {
		t.Fatalf("%d deliveries, want 2 (Kim's and Ola's clicks)", len(rcv.reqs))
	}
	var got []map[string]any
	for _, r := range rcv.reqs {
		ts, _ := strconv.ParseInt(r.h.Get("webhook-timestamp"), 10, 64)
		want, err := webhooks.Sign(ep.Secret, r.h.Get("webhook-id"), ts, r.body)
		if err != nil || r.h.Get("webhook-signature") != want || !strings.HasPrefix(r.h.Get("webhook-id"), "msg_") {
			t.Fatalf("signature %q, want %q (%v)", r.h.Get("webhook-signature"), want, err)
		}
		var ev struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &ev); err != nil || ev.Type != webhooks.LinkClicked {
			t.Fatalf("body %s: %v", r.body, err)
		}
		got = append(got, ev.Data)
	}
	// Two subjects: sent side by side, in no particular order.
	if got[0]["click_id"].(float64) > got[1]["click_id"].(float64) {
		got[0], got[1] = got[1], got[0]
	}
	k, o := got[0], got[1]
	if k["email"] != "kim@example.com" || k["subscriber_id"] != float64(kim.ID) || k["campaign_id"] != float64(3) ||
		k["url"] != "https://shop.example/a" || k["at"] != "2026-05-04T09:00:00Z" || k["flow"] != nil {
		t.Errorf("Kim's click: %v", k)
	}
	if _, ok := o["email"]; ok {
		t.Errorf("a click without tracking consent names the person: %v", o)
	}
	if _, ok := o["subscriber_id"]; ok {
		t.Errorf("a click without tracking consent names the person: %v", o)
	}
	if o["flow"] != "welcome" || o["step"] != float64(1) || o["url"] != "https://shop.example/b" || o["campaign_id"] != nil {
		t.Errorf("Ola's click: %v", o)
	}
	var machine int
	e.db.QueryRow(`SELECT count(*) FROM clicks WHERE machine = 1`).Scan(&machine)
	if machine != 2 {
		t.Errorf("%d scanner clicks, want 2", machine)
	}
}
