package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/tracking"
)

// TestCampaignThroughAPI drives a campaign the way a marketer's script would:
// imported subscribers, a segment, a campaign with personalisation, a test
// send, start; then checks who got what over real SMTP.
func TestCampaignThroughAPI(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")

	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	for i := range 30 {
		city := "Berlin"
		if i%3 == 0 {
			city = "Köln"
		}
		body := map[string]any{"email": fmt.Sprintf("p%02d@example.com", i), "name": fmt.Sprintf("Person %d", i),
			"locale": []string{"de", "en"}[i%2], "attributes": map[string]any{"city": city, "vip": i%5 == 0},
			"double_optin": false, "consent": consent}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("import %d = %d", i, st)
		}
	}
	// One Köln subscriber unsubscribes through the API before the send.
	if st := in.do("PATCH", "/api/subscribers/p03@example.com", map[string]any{"lists": []string{}}, nil); st != 200 {
		t.Fatalf("unsubscribe via PATCH = %d", st)
	}

	var seg struct{ ID int64 }
	rule := map[string]any{"name": "Köln", "rule": map[string]any{"field": "attributes.city", "op": "eq", "value": "Köln"}}
	if st := in.do("POST", "/api/segments", rule, &seg); st != 201 {
		t.Fatalf("segment = %d", st)
	}
	var count struct{ Count int }
	if st := in.do("GET", fmt.Sprintf("/api/segments/%d/count?list=newsletter", seg.ID), nil, &count); st != 200 || count.Count != 9 {
		t.Fatalf("count = %d %+v; want 9 (10 in Köln, one unsubscribed)", st, count)
	}
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/segments", `{"name":"x","rule":{"field":"shoe_size","op":"eq","value":1}}`, &bad); st != 422 || bad.Field == "" {
		t.Fatalf("unknown field = %d %+v", st, bad)
	}
	if st := in.do("POST", "/api/campaigns", `{"name":"x","subject":"x","markdown":"Hallo {{ .Nope }}"}`, &bad); st != 422 || !strings.Contains(bad.Error, "line") {
		t.Fatalf("template error = %d %+v", st, bad)
	}

	var cp struct {
		ID     int64
		Status string
	}
	body := map[string]any{"name": "Domfest", "subject": "Hallo {{ .FirstName }} aus {{ .Attr \"city\" }}",
		"markdown":   "# Domfest\n\nLiebe(r) {{ .Name | default \"Kundin, Kunde\" }}, **nur heute**.\n",
		"segment_id": seg.ID, "lists": []string{"newsletter"}}
	if st := in.do("POST", "/api/campaigns", body, &cp); st != 201 || cp.Status != "draft" {
		t.Fatalf("create campaign = %d %+v", st, cp)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/test", cp.ID), map[string]any{"emails": []string{"marketing@shop.example"}}, nil); st != 202 {
		t.Fatalf("test send = %d", st)
	}
	test := parse(t, smtpd.WaitFor(1, 20*time.Second)[0])
	if !strings.HasPrefix(test.Subject, "[Test]") {
		t.Fatalf("test subject = %q", test.Subject)
	}
	smtpd.Reset()

	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, &cp); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if st, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatalf("wait: %v (status %s)", err, st)
	}
	var got struct {
		Status string
		Stats  struct{ Audience, Sent, Failed, Pending int }
	}
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", cp.ID), nil, &got)
	if got.Status != "finished" || got.Stats.Audience != 9 || got.Stats.Sent != 9 || got.Stats.Failed != 0 || got.Stats.Pending != 0 {
		t.Fatalf("campaign = %+v", got)
	}
	msgs := smtpd.Messages()
	if len(msgs) != 9 {
		t.Fatalf("SMTP got %d mails, want 9", len(msgs))
	}
	seen := map[string]bool{}
	for _, r := range msgs {
		p := parse(t, r)
		to := r.To[0]
		if seen[to] {
			t.Errorf("%s got the campaign twice", to)
		}
		seen[to] = true
		if to == "p03@example.com" {
			t.Errorf("unsubscribed p03 got the campaign")
		}
		if !strings.HasSuffix(p.Subject, "aus Köln") || !strings.HasPrefix(p.Subject, "Hallo Person") {
			t.Errorf("subject %q not personalised", p.Subject)
		}
		if !strings.Contains(p.HTML, "<strong>nur heute</strong>") || !strings.Contains(p.Text, "Person") {
			t.Errorf("body not rendered or personalised:\n%s", p.Text)
		}
		if p.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("%s: no one-click header", to)
		}
	}
}

// TestCartReminderThroughAPI: the shop reports a cart over the API; an hour
// later (the scheduler's tick, driven here with a later time) the reminder
// with the cart's items goes out over SMTP; a second cart is bought and gets none.
func TestCartReminderThroughAPI(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	for _, e := range []string{"cart@example.com", "buyer@example.com"} {
		if st := in.do("POST", "/api/subscribers", map[string]any{"email": e, "locale": "de", "double_optin": false, "consent": consent}, nil); st != 201 {
			t.Fatalf("import = %d", st)
		}
	}
	cart := func(email, id string) map[string]any {
		return map[string]any{"type": "cart.updated", "id": "ev-" + id, "email": email, "cart": map[string]any{
			"id": id, "url": "https://shop.example/cart/" + id, "currency": "EUR", "total": 59.8,
			"items": []map[string]any{{"sku": "TEE-1", "name": "Bio-T-Shirt", "price": 29.9, "quantity": 2}}}}
	}
	var ack struct{ ID string }
	if st := in.do("POST", "/api/events", cart("cart@example.com", "c1"), &ack); st != 202 || ack.ID == "" {
		t.Fatalf("event = %d %+v", st, ack)
	}
	if st := in.do("POST", "/api/events", cart("cart@example.com", "c1"), nil); st != 202 {
		t.Fatalf("repeated event = %d, want 202 (accepted once)", st)
	}
	in.do("POST", "/api/events", cart("buyer@example.com", "c2"), nil)
	order := map[string]any{"type": "order.placed", "id": "ev-o2", "email": "buyer@example.com",
		"order": map[string]any{"id": "o2", "cart_id": "c2", "currency": "EUR", "total": 59.8,
			"items": []map[string]any{{"sku": "TEE-1", "name": "Bio-T-Shirt", "price": 29.9, "quantity": 2}}}}
	if st := in.do("POST", "/api/events", order, nil); st != 202 {
		t.Fatalf("order = %d", st)
	}
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/events", `{"type":"cart.updated","email":"cart@example.com","cart":{"id":"c9","items":[{"name":"x","price":"free"}]}}`, &bad); st < 400 || st >= 500 || bad.Field == "" {
		t.Fatalf("bad event = %d %+v", st, bad)
	}

	// Nothing is due yet; in two hours the reminder is.
	in.tickFlows()
	if n := smtpd.Count(); n != 0 {
		t.Fatalf("%d mails before the delay", n)
	}
	if _, err := in.app.flows.Tick(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	in.app.queue.Wake()
	got := smtpd.WaitFor(1, 20*time.Second)
	p := parse(t, got[0])
	if got[0].To[0] != "cart@example.com" || !strings.Contains(p.Text, "Bio-T-Shirt") || strings.Contains(p.HTML, `href="https://shop.example/cart/c1`) {
		t.Fatalf("reminder to %v:\n%s", got[0].To, p.Text)
	}
	// The cart link is a tracked redirect to the cart, with the flow's UTM parameters.
	if target := followTracked(t, in.base, p.Text, "Zurück zum Warenkorb ("); target != "https://shop.example/cart/c1?utm_source=treu&utm_medium=email&utm_campaign=cart-abandonment" {
		t.Fatalf("cart link goes to %q", target)
	}
	if _, err := in.app.flows.Tick(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var queued int
	in.app.db.QueryRow(`SELECT count(*) FROM mail_queue WHERE recipient = 'cart@example.com'`).Scan(&queued)
	if queued != 1 {
		t.Fatalf("a second tick queued more: %d mails for the cart", queued)
	}
	in.app.db.QueryRow(`SELECT count(*) FROM mail_queue WHERE recipient = 'buyer@example.com'`).Scan(&queued)
	if queued != 0 {
		t.Fatalf("the buyer, whose cart became an order, got %d reminders", queued)
	}
}

// TestLayoutsThroughAPI: a stored layout wraps a campaign's content; a layout
// without the content placeholder is refused naming the field.
func TestLayoutsThroughAPI(t *testing.T) {
	in := startTreu(t, nil)
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/layouts", `{"name":"x","html":"<html><body>no content</body></html>"}`, &bad); st != 422 || bad.Field == "" {
		t.Fatalf("layout without content = %d %+v", st, bad)
	}
	if st := in.do("POST", "/api/layouts", `{"name":"x","html":"<html><body><img src=a.png onerror=alert(1)>{{ content }}</body></html>"}`, &bad); st != 422 || bad.Field != "html" || !strings.Contains(bad.Error, "onerror") {
		t.Fatalf("layout with an event handler = %d %+v", st, bad)
	}
	var l struct{ ID int64 }
	if st := in.do("POST", "/api/layouts", `{"name":"Herbst","html":"<html><body><div class=\"autumn\">{{ content }}</div></body></html>"}`, &l); st != 201 {
		t.Fatalf("create layout = %d", st)
	}
	var cp struct{ ID int64 }
	body := fmt.Sprintf(`{"name":"Herbst","subject":"Herbst","markdown":"Blätter **fallen**","layout_id":%d}`, l.ID)
	if st := in.do("POST", "/api/campaigns", body, &cp); st != 201 {
		t.Fatalf("campaign = %d", st)
	}
	var pv struct{ HTML string }
	if st := in.do("GET", fmt.Sprintf("/api/campaigns/%d/preview", cp.ID), nil, &pv); st != 200 ||
		!strings.Contains(pv.HTML, `class="autumn"`) || !strings.Contains(pv.HTML, "<strong>fallen</strong>") {
		t.Fatalf("preview = %d\n%s", st, pv.HTML)
	}
	var ls struct{ Layouts []struct{ ID int64 } }
	if st := in.do("GET", "/api/layouts", nil, &ls); st != 200 || len(ls.Layouts) != 1 {
		t.Fatalf("list = %d %+v", st, ls)
	}
}

// TestCustomLayoutKeepsFooter: a campaign whose stored layout has no
// {{ footer }} still carries the Impressum and the preference and
// unsubscribe links in the HTML part of every mail sent over SMTP.
func TestCustomLayoutKeepsFooter(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example",
		"--shop-name", "Bäckerei Süß", "--impressum", `Bäckerei Süß GmbH\nHauptstr. 1, 10115 Berlin`)
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	for _, s := range []struct{ email, locale string }{{"de@example.com", "de"}, {"en@example.com", "en"}} {
		if st := in.do("POST", "/api/subscribers", map[string]any{"email": s.email, "locale": s.locale, "double_optin": false, "consent": consent}, nil); st != 201 {
			t.Fatalf("import = %d", st)
		}
	}
	var l struct{ ID int64 }
	layout := `<html><head><style>.x { color: #333; }</style></head><body><div class="x">{{ content }}</div><p>Bis bald!</p></body></html>`
	if st := in.do("POST", "/api/layouts", map[string]any{"name": "Ohne Fuß", "html": layout}, &l); st != 201 {
		t.Fatalf("create layout = %d", st)
	}
	var cp struct{ ID int64 }
	body := map[string]any{"name": "Brot", "subject": "Frisches Brot", "markdown": "Heute **frisch**.", "layout_id": l.ID, "lists": []string{"newsletter"}}
	if st := in.do("POST", "/api/campaigns", body, &cp); st != 201 {
		t.Fatalf("campaign = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if st, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatalf("wait: %v (status %s)", err, st)
	}
	msgs := smtpd.WaitFor(2, 20*time.Second)
	for _, r := range msgs {
		p := parse(t, r)
		unsub := strings.TrimSuffix(strings.TrimPrefix(p.Header.Get("List-Unsubscribe"), "<"), ">")
		if !strings.Contains(unsub, "/unsubscribe/") {
			t.Fatalf("List-Unsubscribe = %q", p.Header.Get("List-Unsubscribe"))
		}
		want := []string{"Bäckerei Süß GmbH", "Hauptstr. 1, 10115 Berlin", `href="` + unsub + `"`, "/preferences/", "Bis bald!", "<strong>frisch</strong>"}
		if r.To[0] == "de@example.com" {
			want = append(want, ">Abmelden<", ">Einstellungen ändern<")
		} else {
			want = append(want, ">Unsubscribe<", ">Manage preferences<")
		}
		for _, w := range want {
			if !strings.Contains(p.HTML, w) {
				t.Errorf("%s: HTML part lacks %q:\n%s", r.To[0], w, p.HTML)
			}
		}
		if strings.Index(p.HTML, "Hauptstr. 1") < strings.Index(p.HTML, "Bis bald!") {
			t.Errorf("footer is not at the end of the layout")
		}
	}
}

// followTracked opens the tracked link that follows after in text (without
// following the redirect) and returns where it leads.
func followTracked(t *testing.T, base, text, after string) string {
	t.Helper()
	i := strings.Index(text, after)
	if i < 0 {
		t.Fatalf("no %q in\n%s", after, text)
	}
	rest := text[i+len(after):]
	if !strings.HasPrefix(rest, base+"/l/") {
		t.Fatalf("not a tracked link: %.80s", rest)
	}
	link := rest[:len(base)+3+tracking.TokenLen]
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d", link, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}
