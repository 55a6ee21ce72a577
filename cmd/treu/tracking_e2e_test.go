package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/tracking"
)

// Issue 9 end to end with the real binary, SQLite and SMTP: a click through
// /l/ lands on the target with UTM and counts; a tampered token is a 404; a
// subscriber without tracking consent gets no pixel; an order after a click
// is the campaign's revenue; an unsubscribe through the mail counts for it.
func TestTrackingThroughAPI(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	consent := map[string]any{"text": "Newsletter: ja", "ip": "198.51.100.1"}
	for _, p := range []struct {
		email    string
		tracking bool
	}{{"tracked@example.com", true}, {"private@example.com", false}} {
		body := map[string]any{"email": p.email, "locale": "de", "double_optin": false, "consent": consent}
		if p.tracking {
			body["tracking"], body["tracking_text"] = true, "Klicks dürfen mir zugeordnet werden."
		}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("enroll %s = %d", p.email, st)
		}
	}
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "x@example.com", "tracking": true}, &bad); st != 422 || bad.Field != "tracking_text" {
		t.Fatalf("tracking without text = %d %+v", st, bad)
	}
	var cp struct{ ID int64 }
	md := "# Herbst\n\n[Zum Shop](https://shop.example/herbst) und [Blog](https://shop.example/blog?a=1)\n"
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "Herbst Sale", "subject": "Herbst", "markdown": md}, &cp); st != 201 {
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
	mails := map[string]string{} // recipient -> text part
	var trackedHTML, privateHTML, listUnsub string
	for _, r := range smtpd.Messages() {
		p := parse(t, r)
		mails[r.To[0]] = p.Text
		if r.To[0] == "tracked@example.com" {
			trackedHTML = p.HTML
		} else {
			privateHTML = p.HTML
			listUnsub = strings.Trim(p.Header.Get("List-Unsubscribe"), "<>")
		}
	}
	if !strings.Contains(trackedHTML, in.base+"/o/") || strings.Contains(privateHTML, "/o/") {
		t.Fatal("the pixel belongs in the tracked subscriber's mail only")
	}
	target := followTracked(t, in.base, mails["tracked@example.com"], "Zum Shop (")
	if target != "https://shop.example/herbst?utm_source=treu&utm_medium=email&utm_campaign=herbst-sale" {
		t.Fatalf("click lands on %q", target)
	}
	followTracked(t, in.base, mails["private@example.com"], "Zum Shop (")
	// A tampered token: 404, no redirect.
	i := strings.Index(mails["private@example.com"], in.base+"/l/") + len(in.base) + 3
	tok := []byte(mails["private@example.com"][i : i+tracking.TokenLen])
	tok[5] ^= 2
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(in.base + "/l/" + string(tok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Location") != "" {
		t.Fatalf("tampered token = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An order after the click is the campaign's; one the shop credits to it too.
	order := `{"type":"order.placed","email":%q,"order":{"id":%q,"currency":"EUR","total":%s}}`
	if st := in.do("POST", "/api/events", fmt.Sprintf(order, "tracked@example.com", "o-1", "49.90"), nil); st != 202 {
		t.Fatalf("order = %d", st)
	}
	attributed := fmt.Sprintf(`{"type":"order.placed","email":"private@example.com","order":{"id":"o-2","currency":"EUR","total":10,"attribution":{"campaign_id":%d}}}`, cp.ID)
	if st := in.do("POST", "/api/events", attributed, nil); st != 202 {
		t.Fatalf("attributed order = %d", st)
	}
	if st := in.do("POST", "/api/events", `{"type":"order.placed","email":"private@example.com","order":{"id":"o-3","currency":"EUR","total":1,"attribution":{"campaign_id":0}}}`, &bad); st != 422 || bad.Field != "order.attribution.campaign_id" {
		t.Fatalf("bad attribution = %d %+v", st, bad)
	}
	// The one-click unsubscribe of the header counts for the campaign.
	if !strings.Contains(listUnsub, "?m=") {
		t.Fatalf("List-Unsubscribe %q", listUnsub)
	}
	resp, err = http.PostForm(listUnsub, url.Values{"List-Unsubscribe": {"One-Click"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got struct {
		Stats map[string]float64
	}
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", cp.ID), nil, &got)
	want := map[string]float64{"sent": 2, "clicks": 2, "clicks_unique": 1, "opens_unique": 0, "unsubscribed": 1, "orders": 2, "revenue": 59.9}
	for k, v := range want {
		if got.Stats[k] != v {
			t.Errorf("stats.%s = %v, want %v (%v)", k, got.Stats[k], v, got.Stats)
		}
	}
	var links struct {
		Links []struct {
			URL    string
			Clicks int
		}
	}
	if st := in.do("GET", fmt.Sprintf("/api/campaigns/%d/links", cp.ID), nil, &links); st != 200 || len(links.Links) != 2 ||
		links.Links[0].URL != "https://shop.example/herbst" || links.Links[0].Clicks != 2 || links.Links[1].Clicks != 0 {
		t.Fatalf("links = %d %+v", st, links)
	}
}
