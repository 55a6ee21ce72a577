package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
)

// onDisk says in which of treu.db, -wal and -shm the address is, in any case.
func onDisk(t *testing.T, data, addr string) []string {
	t.Helper()
	var where []string
	for _, name := range []string{"treu.db", "treu.db-wal", "treu.db-shm"} {
		b, err := os.ReadFile(filepath.Join(data, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(bytes.ToLower(b), []byte(strings.ToLower(addr))); n > 0 {
			where = append(where, fmt.Sprintf("%s (%d times)", name, n))
		}
	}
	return where
}

// TestEraseLeavesNoCopyOnDisk: a person with every kind of trace (consents,
// shop events, a cart, an order, a transactional mail refused by an SMTP
// server that quotes the address in its reply, the hard bounce that records
// it, and a campaign sent meanwhile) is erased; then the bytes of the database
// files hold the address nowhere.
func TestEraseLeavesNoCopyOnDisk(t *testing.T) {
	const addr = "Kim.Erase@Example.com"
	smtpd := smtptest.Start(t)
	smtpd.SetReply(func(rcpt string) error {
		if strings.EqualFold(rcpt, addr) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + rcpt + ">: mailbox unavailable"}
		}
		return nil
	})
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}

	// The shop reports a cart before the address is a subscriber (unlinked),
	// then the person is imported, orders, and gets a transactional mail.
	cart := map[string]any{"type": "cart.updated", "id": "ev-1", "email": addr, "cart": map[string]any{
		"id": "c1", "url": "https://shop.example/cart/c1?email=" + addr, "currency": "EUR", "total": 10,
		"items": []map[string]any{{"sku": "T", "name": "Tee", "price": 10, "quantity": 1}}}}
	if st := in.do("POST", "/api/events", cart, nil); st != 202 {
		t.Fatalf("cart = %d", st)
	}
	for _, e := range []string{addr, "other@example.com"} {
		if st := in.do("POST", "/api/subscribers", map[string]any{"email": e, "name": "Kim Erase", "locale": "de",
			"double_optin": false, "consent": consent, "attributes": map[string]any{"contact": e}}, nil); st != 201 {
			t.Fatalf("import %s = %d", e, st)
		}
	}
	order := map[string]any{"type": "order.placed", "id": "ev-2", "email": strings.ToUpper(addr),
		"order": map[string]any{"id": "o1", "currency": "EUR", "total": 10, "items": []map[string]any{{"sku": "T", "name": "Tee", "price": 10, "quantity": 1}}}}
	if st := in.do("POST", "/api/events", order, nil); st != 202 {
		t.Fatalf("order = %d", st)
	}
	tpl := `{"name":"Versand","locales":{"de":{"subject":"Bestellung {{ .Data.order_id }}","markdown":"Für {{ .Email }}"}}}`
	if st := in.do("PUT", "/api/tx-templates/versand", tpl, nil); st != 201 {
		t.Fatalf("tx template = %d", st)
	}
	if st := in.do("POST", "/api/tx", map[string]any{"template": "versand", "email": addr, "data": map[string]any{"order_id": "o1"}}, nil); st != 202 {
		t.Fatalf("tx = %d", st)
	}
	in.eventually("the transactional mail refused", func() bool {
		var n int
		in.app.db.QueryRow(`SELECT count(*) FROM mail_queue WHERE status = 'failed'`).Scan(&n)
		return n == 1
	})
	var cp struct{ ID int64 }
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "x", "subject": "Hallo", "markdown": "Hallo {{ .Email }}"}, &cp); st != 201 {
		t.Fatalf("campaign = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatal(err)
	}
	// The refusal was a hard bounce: the campaign left out the suppressed
	// address, and the bounce keeps the server's words, which quote it.
	var diagnostic string
	var audience int
	in.app.db.QueryRow(`SELECT diagnostic FROM bounces WHERE kind = 'hard'`).Scan(&diagnostic)
	if !strings.Contains(strings.ToLower(diagnostic), strings.ToLower(addr)) {
		t.Fatalf("the bounce does not quote the address: %q", diagnostic)
	}
	in.app.db.QueryRow(`SELECT count(*) FROM deliveries WHERE campaign_id = ?`, cp.ID).Scan(&audience)
	if audience != 1 {
		t.Fatalf("the campaign's audience is %d, want 1 (the bounced address is left out)", audience)
	}
	if len(onDisk(t, in.data, addr)) == 0 {
		t.Fatal("the address is nowhere on disk before the erase: the test proves nothing")
	}

	if st := in.do("DELETE", "/api/subscribers/"+strings.ToLower(addr), nil, nil); st != 204 {
		t.Fatalf("erase = %d", st)
	}
	if where := onDisk(t, in.data, addr); len(where) > 0 {
		t.Fatalf("after the erase the address is still in %v", where)
	}
	// Others' data is untouched.
	if st := in.do("GET", "/api/subscribers/other@example.com", nil, nil); st != 200 {
		t.Fatalf("other subscriber = %d", st)
	}
	if len(onDisk(t, in.data, "other@example.com")) == 0 {
		t.Fatal("the other subscriber's address went too")
	}
}

// TestEraseRemovesCapturedMail: without SMTP, mail is captured in the
// outbox; an erasure deletes it there too.
func TestEraseRemovesCapturedMail(t *testing.T) {
	const addr = "pending.person@example.com"
	in := startTreu(t, nil)
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": addr, "locale": "en"}, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	in.eventually("the confirmation mail captured", func() bool {
		var n int
		in.app.db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n)
		return n == 1
	})
	if st := in.do("DELETE", "/api/subscribers/"+addr, nil, nil); st != 204 {
		t.Fatalf("erase = %d", st)
	}
	if where := onDisk(t, in.data, addr); len(where) > 0 {
		t.Fatalf("after the erase the address is still in %v", where)
	}
}

// TestPrivateListsThroughAPI: a list created private is not on the sign-up
// form; PATCH makes it public.
func TestPrivateListsThroughAPI(t *testing.T) {
	in := startTreu(t, nil)
	var l struct {
		Slug   string
		Public bool
	}
	if st := in.do("POST", "/api/lists", `{"slug":"vip","name":"VIP","public":false}`, &l); st != 201 || l.Public {
		t.Fatalf("create = %d %+v", st, l)
	}
	form := func() string {
		resp, err := http.Get(in.base + "/subscribe")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if strings.Contains(form(), `value="vip"`) {
		t.Fatal("a private list is on the sign-up form")
	}
	var bad struct{ Field string }
	if st := in.do("PATCH", "/api/lists/vip", `{}`, &bad); st != 422 || bad.Field != "public" {
		t.Fatalf("patch without public = %d %+v", st, bad)
	}
	if st := in.do("PATCH", "/api/lists/nope", `{"public":true}`, nil); st != 404 {
		t.Fatalf("patch unknown = %d", st)
	}
	if st := in.do("PATCH", "/api/lists/vip", `{"public":true}`, &l); st != 200 || !l.Public {
		t.Fatalf("patch = %d %+v", st, l)
	}
	if !strings.Contains(form(), `value="vip"`) {
		t.Fatal("a public list is not on the sign-up form")
	}
}
