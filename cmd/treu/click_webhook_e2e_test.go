package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/webhooks"
)

// A click through /l/ is a signed link.clicked webhook; the address is in
// it only for a subscriber who allows per-person tracking.
func TestLinkClickedWebhook(t *testing.T) {
	var mu sync.Mutex
	var hdrs []http.Header
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hdrs, bodies = append(hdrs, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	smtpd := smtptest.Start(t)
	in := startTreu(t, map[string]string{"TREU_WEBHOOK_ALLOW_PRIVATE": "true"}, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "events": []string{"link.clickd"}}, &bad); st != 422 || bad.Field != "events" {
		t.Fatalf("unknown event = %d %+v", st, bad)
	}
	var ep struct {
		ID     int64
		Secret string
	}
	if st := in.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/treu", "events": []string{"link.clicked"}}, &ep); st != 201 {
		t.Fatalf("create webhook = %d", st)
	}
	consent := map[string]any{"text": "Newsletter: ja", "ip": "198.51.100.1"}
	for _, p := range []struct {
		email    string
		tracking bool
	}{{"tracked@example.com", true}, {"private@example.com", false}} {
		body := map[string]any{"email": p.email, "double_optin": false, "consent": consent}
		if p.tracking {
			body["tracking"], body["tracking_text"] = true, "Klicks dürfen mir zugeordnet werden."
		}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("enroll %s = %d", p.email, st)
		}
	}
	var cp struct{ ID int64 }
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "Herbst", "subject": "Herbst",
		"markdown": "[Zum Shop](https://shop.example/herbst)\n"}, &cp); st != 201 {
		t.Fatalf("create = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatal(err)
	}
	for _, r := range smtpd.Messages() {
		followTracked(t, in.base, parse(t, r).Text, "Zum Shop (")
	}
	// Held for the scanner window (a second), then sent by the worker.
	in.eventually("two link.clicked deliveries", func() bool {
		in.app.webhooks.ProcessDue(ctx)
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	emails := map[string]bool{}
	for i, h := range hdrs {
		ts, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		want, _ := webhooks.Sign(ep.Secret, h.Get("webhook-id"), ts, bodies[i])
		if h.Get("webhook-signature") != want {
			t.Fatalf("delivery %d: signature %q, want %q", i, h.Get("webhook-signature"), want)
		}
		var ev struct {
			Type string
			Data webhooks.ClickData
		}
		if err := json.Unmarshal(bodies[i], &ev); err != nil || ev.Type != "link.clicked" ||
			ev.Data.CampaignID != cp.ID || ev.Data.URL != "https://shop.example/herbst" {
			t.Fatalf("delivery %d: %s (%v)", i, bodies[i], err)
		}
		emails[ev.Data.Email] = true
	}
	if !emails["tracked@example.com"] || !emails[""] || len(emails) != 2 {
		t.Fatalf("addresses in the events: %v; want the tracked one and none", emails)
	}
}
