package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/subscribers"
)

// TestOneMarketingRule feeds the same fixtures through every path that
// decides who gets mail (segment counts, a campaign's snapshot and its
// per-batch check, a test send, a flow's entry and send, transactional
// mail), through the real server: all of them must agree, because all of
// them ask package subscribers (marketing.go).
func TestOneMarketingRule(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	ctx := context.Background()
	if st := in.do("POST", "/api/lists", map[string]any{"slug": "offers", "name": "Angebote"}, nil); st != 201 {
		t.Fatalf("create list = %d", st)
	}
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	enroll := func(email string, doi bool) {
		body := map[string]any{"email": email, "lists": []string{"newsletter", "offers"}, "locale": "de"}
		if !doi {
			body["double_optin"], body["consent"] = false, consent
		}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 && st != 202 {
			t.Fatalf("enroll %s = %d", email, st)
		}
	}
	// The fixtures, and who may get marketing mail for each list.
	const (
		active    = "aktiv@example.com"           // both lists
		pending   = "pending@example.com"         // never confirmed
		offers    = "nurangebote@example.com"     // left the newsletter, kept offers
		left      = "abgemeldet@example.com"      // left every list
		erased    = "geloescht@example.com"       // erased: a suppression, no subscriber
		bounced   = "bounced@example.com"         // active, hard bounce suppression
		idn       = "kunde@bücher.example"        // active, IDN domain
		idnErased = "alt@BÜCHER.example"          // erased, typed differently later
		idnTyped  = "Alt@bücher.example"          // the same address as idnErased
		nobody    = "fremd@example.com"           // never enrolled
		idnStored = "kunde@xn--bcher-kva.example" // how idn is stored and mailed
		customer  = "kundin@example.com"          // existing customer (UWG § 7 (3)): no consent
	)
	for _, e := range []string{active, offers, left, erased, bounced, idn, idnErased} {
		enroll(e, false)
	}
	enroll(pending, true)
	var cust struct {
		LegalBasis string `json:"legal_basis"`
		Status     string
	}
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": customer, "lists": []string{"newsletter", "offers"}, "locale": "de",
		"legal_basis": "existing_customer", "order_id": "A-1001"}, &cust); st != 201 || cust.LegalBasis != "existing_customer" || cust.Status != "active" {
		t.Fatalf("enroll existing customer = %d %+v", st, cust)
	}
	if st := in.do("PATCH", "/api/subscribers/"+offers, map[string]any{"lists": []string{"offers"}}, nil); st != 200 {
		t.Fatalf("leave newsletter = %d", st)
	}
	if st := in.do("PATCH", "/api/subscribers/"+left, map[string]any{"lists": []string{}}, nil); st != 200 {
		t.Fatalf("leave all = %d", st)
	}
	for _, e := range []string{erased, idnErased} {
		if st := in.do("DELETE", "/api/subscribers/"+e, nil, nil); st != 204 {
			t.Fatalf("erase %s = %d", e, st)
		}
	}
	if _, err := in.app.db.Writer().ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at)
		SELECT treu_sha256_hex(email_key), 'bounce', 0 FROM subscribers WHERE email = ?`, bounced); err != nil {
		t.Fatal(err)
	}
	may := map[string][]string{"newsletter": {active, idnStored}, "offers": {active, offers, idnStored}}
	// A mailing that may reach existing customers (existing_customers: true).
	mayExisting := map[string][]string{"newsletter": {active, idnStored, customer}, "offers": {active, offers, idnStored, customer}}
	smtpd.WaitFor(1, 20*time.Second) // the confirmation mail to pending
	smtpd.Reset()

	t.Run("segment counts", func(t *testing.T) {
		var seg struct{ ID int64 }
		if st := in.do("POST", "/api/segments", map[string]any{"name": "alle", "rule": map[string]any{"all": []any{}}}, &seg); st != 201 {
			t.Fatalf("segment = %d", st)
		}
		for list, want := range map[string]int{"": 3, "newsletter": 2, "offers": 3} {
			var c struct{ Count int }
			path := fmt.Sprintf("/api/segments/%d/count", seg.ID)
			if list != "" {
				path += "?list=" + list
			}
			if st := in.do("GET", path, nil, &c); st != 200 || c.Count != want {
				t.Errorf("count on %q = %d %d, want %d", list, st, c.Count, want)
			}
		}
	})

	t.Run("campaigns", func(t *testing.T) {
		for _, tc := range []struct {
			list     string
			existing bool
		}{{"newsletter", false}, {"offers", false}, {"newsletter", true}, {"offers", true}} {
			list, want := tc.list, sorted(may[tc.list])
			if tc.existing {
				want = sorted(mayExisting[tc.list])
			}
			smtpd.Reset()
			var cp struct{ ID int64 }
			body := map[string]any{"name": list, "subject": "Hallo", "markdown": "Hallo", "lists": []string{list}, "existing_customers": tc.existing}
			if st := in.do("POST", "/api/campaigns", body, &cp); st != 201 {
				t.Fatalf("create = %d", st)
			}
			if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
				t.Fatalf("start = %d", st)
			}
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			if _, err := in.app.campaigns.Wait(wctx, cp.ID, campaigns.Finished); err != nil {
				t.Fatal(err)
			}
			cancel()
			if got := recipientsOf(smtpd.Messages()); !slices.Equal(got, want) {
				t.Errorf("campaign to %s (existing customers %v) reached %v, want %v", list, tc.existing, got, want)
			}
			// The existing customer's mail says they may object at no cost
			// beyond base rates; a consenting subscriber's does not.
			for _, m := range smtpd.Messages() {
				p := parse(t, m)
				notice := strings.Contains(p.Text, "Basistarifen") && strings.Contains(p.HTML, "Basistarifen")
				if notice != slices.Contains(m.To, customer) {
					t.Errorf("mail to %v: objection notice %v", m.To, notice)
				}
			}
		}
	})

	t.Run("batch check", func(t *testing.T) {
		ids := map[int64]string{}
		rows, err := in.app.db.QueryContext(ctx, `SELECT id, email FROM subscribers`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var e string
			rows.Scan(&id, &e)
			ids[id] = e
		}
		rows.Close()
		for _, list := range []string{"newsletter", "offers"} {
			rc, err := subscribers.Recipients(ctx, in.app.db, slices.Collect(maps.Keys(ids)), []string{list})
			if err != nil {
				t.Fatal(err)
			}
			rcx, err := subscribers.RecipientsFor(ctx, in.app.db, slices.Collect(maps.Keys(ids)),
				subscribers.Mailing{Lists: []string{list}, ExistingCustomers: true})
			if err != nil {
				t.Fatal(err)
			}
			var gotx []string
			for _, r := range rcx {
				if r.May() {
					gotx = append(gotx, r.Email)
				}
			}
			if slices.Sort(gotx); !slices.Equal(gotx, sorted(mayExisting[list])) {
				t.Errorf("RecipientsFor existing customers on %s = %v, want %v", list, gotx, sorted(mayExisting[list]))
			}
			var got []string
			for _, r := range rc {
				if r.May() {
					got = append(got, r.Email)
				}
			}
			if slices.Sort(got); !slices.Equal(got, sorted(may[list])) {
				t.Errorf("Recipients for %s = %v, want %v", list, got, sorted(may[list]))
			}
			for id, e := range ids {
				want := map[string]string{pending: subscribers.SkipPending, left: subscribers.SkipUnsubscribed,
					bounced: subscribers.SkipSuppressed, customer: subscribers.SkipBasis}[e]
				if e == offers && list == "newsletter" {
					want = subscribers.SkipUnsubscribed
				}
				if rc[id].Skip != want {
					t.Errorf("%s on %s: skip %q, want %q", e, list, rc[id].Skip, want)
				}
			}
		}
	})

	t.Run("test send and transactional mail", func(t *testing.T) {
		var cp struct{ ID int64 }
		in.do("POST", "/api/campaigns", map[string]any{"name": "t", "subject": "t", "markdown": "t"}, &cp)
		tpl := map[string]any{"name": "Versand", "locales": map[string]any{"de": map[string]any{"subject": "Versand", "markdown": "Unterwegs."}}}
		if st := in.do("PUT", "/api/tx-templates/versand", tpl, nil); st != 201 {
			t.Fatalf("tx template = %d", st)
		}
		smtpd.Reset()
		sent := 0
		// Suppressed addresses get no test; only a hard bounce stops
		// transactional mail (erasure and complaints end marketing only).
		for _, tc := range []struct {
			email      string
			test, tx   int
			suppressed bool
		}{
			{active, 202, 202, false}, {pending, 202, 202, false}, {offers, 202, 202, false}, {left, 202, 202, false},
			{erased, 422, 202, true}, {bounced, 422, 422, true}, {idn, 202, 202, false},
			{idnTyped, 422, 202, true}, {strings.ToUpper(erased), 422, 202, true}, {nobody, 202, 202, false},
			{customer, 202, 202, false},
		} {
			if tc.test == 202 {
				sent++
			}
			if tc.tx == 202 {
				sent++
			}
			var e struct{ Error, Field string }
			st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/test", cp.ID), map[string]any{"emails": []string{tc.email}}, &e)
			if st != tc.test || (st == 422 && e.Field != "emails") {
				t.Errorf("test send to %s = %d %+v, want %d", tc.email, st, e, tc.test)
			}
			e.Field = ""
			st = in.do("POST", "/api/tx", map[string]any{"template": "versand", "email": tc.email}, &e)
			if st != tc.tx || (st == 422 && e.Field != "email") {
				t.Errorf("tx to %s = %d %+v, want %d", tc.email, st, e, tc.tx)
			}
			sup, err := subscribers.Suppressed(ctx, in.app.db, tc.email)
			if err != nil || (sup[tc.email] != "") != tc.suppressed {
				t.Errorf("Suppressed(%s) = %v %v, want suppressed %v", tc.email, sup, err, tc.suppressed)
			}
		}
		in.app.queue.Wake()
		if got := smtpd.WaitFor(sent, 20*time.Second); len(got) != sent {
			t.Errorf("%d test and transactional mails arrived, want %d", len(got), sent)
		}
	})

	t.Run("cart flow", func(t *testing.T) {
		smtpd.Reset()
		for i, e := range []string{active, pending, offers, left, bounced, idn, customer} {
			ev := map[string]any{"type": "cart.updated", "id": fmt.Sprintf("cart-ev-%d", i), "email": e, "cart": map[string]any{
				"id": fmt.Sprintf("c%d", i), "url": "https://shop.example/cart", "currency": "EUR", "total": 10,
				"items": []map[string]any{{"sku": "A", "name": "Tee", "price": 10, "quantity": 1}}}}
			if st := in.do("POST", "/api/events", ev, nil); st != 202 {
				t.Fatalf("cart of %s = %d", e, st)
			}
		}
		if _, err := in.app.flows.Tick(ctx, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		in.app.queue.Wake()
		got := recipientsOf(smtpd.WaitFor(2, 20*time.Second))
		if !slices.Equal(got, sorted(may["newsletter"])) {
			t.Errorf("cart reminders to %v, want %v", got, sorted(may["newsletter"]))
		}

		// The same flow opened to existing customers reaches the customer too,
		// with the objection notice.
		var flow map[string]any
		if st := in.do("GET", "/api/flows/cart-abandonment", nil, &flow); st != 200 {
			t.Fatalf("get flow = %d", st)
		}
		flow["existing_customers"] = true
		if st := in.do("PUT", "/api/flows/cart-abandonment", flow, &flow); st != 200 || flow["existing_customers"] != true {
			t.Fatalf("put flow = %d %v", st, flow["existing_customers"])
		}
		// The tick above moved the flow's cursor hours ahead of the real
		// clock the carts are stamped with; taken back, the carts are looked
		// at again: the others have their runs, only the customer's enters.
		if _, err := in.app.db.Writer().ExecContext(ctx, `UPDATE flows SET cursor_at = NULL WHERE slug = 'cart-abandonment'`); err != nil {
			t.Fatal(err)
		}
		smtpd.Reset()
		if _, err := in.app.flows.Tick(ctx, time.Now().Add(4*time.Hour)); err != nil {
			t.Fatal(err)
		}
		in.app.queue.Wake()
		msgs := smtpd.WaitFor(1, 20*time.Second)
		if got := recipientsOf(msgs); !slices.Equal(got, []string{customer}) {
			t.Errorf("cart reminders open to existing customers reached %v, want %v", got, []string{customer})
		}
		for _, m := range msgs {
			if notice := strings.Contains(parse(t, m).Text, "Basistarifen"); notice != slices.Contains(m.To, customer) {
				t.Errorf("cart reminder to %v: objection notice %v", m.To, notice)
			}
		}
	})
}

func recipientsOf(msgs []smtptest.Received) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

// TestExistingCustomerEnrollment: an existing customer needs the sale (an
// order id or the notice given), is active at once without double opt-in,
// and the basis and notice are in the consent log; a confirmed opt-in later
// makes them a consenting subscriber.
func TestExistingCustomerEnrollment(t *testing.T) {
	in := startTreu(t, nil)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"email": "a@example.com", "legal_basis": "existing_customer"}, "order_id"},
		{map[string]any{"email": "a@example.com", "legal_basis": "customer"}, "legal_basis"},
		{map[string]any{"email": "a@example.com", "legal_basis": "existing_customer", "order_id": "1", "double_optin": true}, "double_optin"},
		{map[string]any{"email": "a@example.com", "order_id": "1"}, "legal_basis"},
	} {
		var e struct{ Field string }
		if st := in.do("POST", "/api/subscribers", tc.body, &e); st != 422 || e.Field != tc.field {
			t.Errorf("%v = %d %q, want 422 %q", tc.body, st, e.Field, tc.field)
		}
	}
	notice := "Wir nutzen Ihre Adresse für Angebote zu ähnlichen Produkten; Sie können jederzeit widersprechen."
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "kim@example.com", "legal_basis": "existing_customer",
		"order_id": "A-7", "notice": notice}, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	var sub struct {
		LegalBasis string `json:"legal_basis"`
		Consents   []struct{ Action, Text, Detail string }
	}
	if st := in.do("GET", "/api/subscribers/kim@example.com/export", nil, &sub); st != 200 {
		t.Fatalf("get = %d", st)
	}
	if sub.LegalBasis != "existing_customer" || len(sub.Consents) == 0 || sub.Consents[0].Action != "existing_customer" ||
		sub.Consents[0].Text != notice || !strings.Contains(sub.Consents[0].Detail, "order_id=A-7") {
		t.Errorf("subscriber = %+v", sub)
	}
}
