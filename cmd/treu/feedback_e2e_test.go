package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/webhooks"
)

// TestBouncesThroughTheListener: the real binary sends a campaign over SMTP
// with a VERP return path per delivery; a DSN sent over TCP to the bounce
// listener at one of them suppresses that subscriber and counts on that
// campaign; an ARF complaint quoting another unsubscribes; a 5xx at send
// time is a hard bounce; POST /api/bounces validates and records.
func TestBouncesThroughTheListener(t *testing.T) {
	smtpd := smtptest.Start(t)
	smtpd.SetReply(func(rcpt string) error {
		if rcpt == "gone@example.com" {
			return smtptest.Permanent
		}
		return nil
	})
	in := startTreu(t, map[string]string{"TREU_BOUNCE_LISTEN": "127.0.0.1:0"},
		"--smtp-url", smtpd.URL(), "--from", "news@shop.example", "--bounce-domain", "bounce.shop.example")
	if in.app.bounceAddr == "" {
		t.Fatal("no bounce listener")
	}
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	for _, email := range []string{"kim@example.com", "ana@example.com", "lu@example.com", "gone@example.com"} {
		body := map[string]any{"email": email, "double_optin": false, "consent": consent}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("import %s = %d", email, st)
		}
	}
	var cp struct{ ID int64 }
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "Winter", "subject": "Winter", "markdown": "Hallo"}, &cp); st != 201 {
		t.Fatalf("create = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if st, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatalf("wait: %v (status %s)", err, st)
	}
	returnPath := map[string]string{}
	for _, r := range smtpd.Messages() {
		if !strings.HasPrefix(r.From, "bounces+") || !strings.HasSuffix(r.From, "@bounce.shop.example") {
			t.Fatalf("MAIL FROM %q is no VERP address", r.From)
		}
		p := parse(t, r)
		if fid := p.Header.Get("Feedback-ID"); fid != fmt.Sprintf("%d:campaign:127.0.0.1", cp.ID) {
			t.Errorf("Feedback-ID %q", fid)
		}
		returnPath[r.To[0]] = r.From
	}
	if len(returnPath) != 3 {
		t.Fatalf("sent to %v", returnPath)
	}
	status := func(email string) string {
		var s struct{ Status string }
		if st := in.do("GET", "/api/subscribers/"+email, nil, &s); st != 200 {
			t.Fatalf("get %s = %d", email, st)
		}
		return s.Status
	}
	if got := status("gone@example.com"); got != "bounced" {
		t.Fatalf("refused at send: status %q", got)
	}

	dsn, _ := os.ReadFile("../../feedback/testdata/dsn_postfix.eml")
	dsn = bytes.ReplaceAll(dsn, []byte("VERP_ADDRESS"), []byte(returnPath["kim@example.com"]))
	if err := sendTo(in.app.bounceAddr, "", returnPath["kim@example.com"], dsn); err != nil {
		t.Fatal(err)
	}
	if got := status("kim@example.com"); got != "bounced" {
		t.Fatalf("after the DSN: status %q", got)
	}
	arf, _ := os.ReadFile("../../feedback/testdata/arf.eml")
	arf = bytes.ReplaceAll(arf, []byte("VERP_ADDRESS"), []byte(returnPath["ana@example.com"]))
	if err := sendTo(in.app.bounceAddr, "fbl@isp.example", "abuse@bounce.shop.example", arf); err != nil {
		t.Fatal(err)
	}
	var ana struct {
		Status string
		Lists  []struct{ Slug, Status string }
	}
	in.do("GET", "/api/subscribers/ana@example.com", nil, &ana)
	if ana.Status != "complained" || len(ana.Lists) != 1 || ana.Lists[0].Status != "unsubscribed" {
		t.Fatalf("after the ARF: %+v", ana)
	}
	if got := status("lu@example.com"); got != "active" {
		t.Fatalf("lu: %q", got)
	}
	var got struct {
		Stats struct{ Audience, Sent, Failed, Delivered, Bounced, Complained int }
	}
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", cp.ID), nil, &got)
	if s := got.Stats; s.Audience != 4 || s.Sent != 3 || s.Failed != 1 || s.Delivered != 2 || s.Bounced != 2 || s.Complained != 1 {
		t.Fatalf("stats %+v", s)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"kind":"hard"}`, "email"},
		{`{"email":"x","kind":"hard"}`, "email"},
		{`{"email":"lu@example.com","kind":"bounced"}`, "kind"},
		{`{"email":"lu@example.com","kind":"soft","reason":5}`, "reason"},
	} {
		var e struct{ Error, Field string }
		if st := in.do("POST", "/api/bounces", tc.body, &e); st != 422 || e.Field != tc.field {
			t.Errorf("%s = %d %+v; want 422 naming %s", tc.body, st, e, tc.field)
		}
	}
	var out struct {
		ID         int64
		Suppressed string
	}
	if st := in.do("POST", "/api/bounces", `{"email":"lu@example.com","kind":"hard","reason":"550 from the shop's relay"}`, &out); st != 201 || out.Suppressed != "bounce" {
		t.Fatalf("POST /api/bounces = %d %+v", st, out)
	}
	if got := status("lu@example.com"); got != "bounced" {
		t.Fatalf("lu after POST /api/bounces: %q", got)
	}
}

func sendTo(addr, from, to string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// TestProviderWebhookOverHTTP: a relay's webhook reaches the binary over
// HTTP; without its credentials it is a 401 and changes nothing; an
// endpoint not configured is a 404.
func TestProviderWebhookOverHTTP(t *testing.T) {
	in := startTreu(t, map[string]string{"TREU_WEBHOOK_BASIC_SECRET": "s3cret"})
	body := map[string]any{"email": "kim@example.com", "double_optin": false,
		"consent": map[string]string{"text": "ja", "ip": "198.51.100.1", "source": "import"}}
	if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
		t.Fatalf("import = %d", st)
	}
	post := func(path, user, pass, payload string) int {
		req, _ := http.NewRequest("POST", in.base+path, strings.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hard := `{"RecordType":"Bounce","Type":"HardBounce","ID":1,"Email":"kim@example.com","Description":"unknown user"}`
	if st := post("/webhooks/postmark", "", "", hard); st != 401 {
		t.Fatalf("no credentials = %d", st)
	}
	if st := post("/webhooks/postmark", "treu", "wrong", hard); st != 401 {
		t.Fatalf("wrong secret = %d", st)
	}
	var s struct{ Status string }
	in.do("GET", "/api/subscribers/kim@example.com", nil, &s)
	if s.Status != "active" {
		t.Fatalf("an unauthenticated webhook changed kim: %q", s.Status)
	}
	if st := post("/webhooks/postmark", "treu", "s3cret", hard); st != 200 {
		t.Fatalf("postmark = %d", st)
	}
	in.do("GET", "/api/subscribers/kim@example.com", nil, &s)
	if s.Status != "bounced" {
		t.Fatalf("after the webhook: %q", s.Status)
	}
	if st := post("/webhooks/sendgrid", "", "", "[]"); st != 404 {
		t.Fatalf("unconfigured sendgrid = %d", st)
	}
}

// TestShopWebhooks: the shop registers a webhook; a complaint reported over
// the API reaches it as subscriber.unsubscribed then subscriber.complained,
// in order and signed; private targets need --webhook-allow-private.
func TestShopWebhooks(t *testing.T) {
	var (
		mu     sync.Mutex
		got    []string
		header []http.Header
		bodies [][]byte
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct{ Type string }
		json.Unmarshal(b, &ev)
		mu.Lock()
		got, header, bodies = append(got, ev.Type), append(header, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()

	plain := startTreu(t, nil)
	var e struct{ Error, Field string }
	if st := plain.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "events": []string{"subscriber.complained"}}, &e); st != 422 || e.Field != "url" {
		t.Fatalf("loopback webhook without --webhook-allow-private = %d %+v", st, e)
	}

	in := startTreu(t, map[string]string{"TREU_WEBHOOK_ALLOW_PRIVATE": "true"})
	var ep struct {
		ID     int64
		Secret string
	}
	if st := in.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/treu",
		"events": []string{"subscriber.complained", "subscriber.unsubscribed", "campaign.finished"}}, &ep); st != 201 || ep.Secret == "" {
		t.Fatalf("create webhook = %d %+v", st, ep)
	}
	body := map[string]any{"email": "kim@example.com", "double_optin": false,
		"consent": map[string]string{"text": "ja", "ip": "198.51.100.1", "source": "import"}}
	if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
		t.Fatalf("import = %d", st)
	}
	if st := in.do("POST", "/api/bounces", `{"email":"kim@example.com","kind":"complaint"}`, nil); st != 201 {
		t.Fatalf("complaint = %d", st)
	}
	in.eventually("two webhook deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0] != "subscriber.unsubscribed" || got[1] != "subscriber.complained" {
		t.Fatalf("events %v", got)
	}
	for i, h := range header {
		ts, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		want, _ := webhooks.Sign(ep.Secret, h.Get("webhook-id"), ts, bodies[i])
		if h.Get("webhook-signature") != want {
			t.Fatalf("delivery %d: signature %q, want %q", i, h.Get("webhook-signature"), want)
		}
	}
	var ds struct{ Deliveries []struct{ Status string } }
	if st := in.do("GET", fmt.Sprintf("/api/webhooks/%d/deliveries", ep.ID), nil, &ds); st != 200 || len(ds.Deliveries) != 2 {
		t.Fatalf("deliveries = %d %+v", st, ds)
	}
}
