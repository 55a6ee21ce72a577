package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestBadInputStoresNothing: every bad request answers the error shape of
// API.md with the right status and field, and leaves no subscriber behind.
func TestBadInputStoresNothing(t *testing.T) {
	in := startTreu(t, nil)
	big := `{"email":"a@example.com","name":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"malformed", `{"email":`, 400, ""},
		{"not an object", `[1,2]`, 400, ""},
		{"two values", `{"email":"a@example.com"} {}`, 400, ""},
		{"email wrong type", `{"email": 42}`, 422, "email"},
		{"lists wrong type", `{"email":"a@example.com","lists":"newsletter"}`, 422, "lists"},
		{"no email", `{}`, 422, "email"},
		{"invalid email", `{"email":"not-an-address"}`, 422, "email"},
		{"oversized email", `{"email":"` + strings.Repeat("a", 250) + `@example.com"}`, 422, "email"},
		{"CRLF in email", `{"email":"a@example.com\r\nBcc: victim@example.com"}`, 422, "email"},
		{"CRLF in name", `{"email":"a@example.com","name":"Kim\r\nBcc: x@example.com"}`, 422, "name"},
		{"bad locale", `{"email":"a@example.com","locale":"fr"}`, 422, "locale"},
		{"unknown list", `{"email":"a@example.com","lists":["nope"]}`, 422, "lists"},
		{"import without consent", `{"email":"a@example.com","double_optin":false}`, 422, "consent"},
		{"body over 1 MiB", big, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e struct{ Error, Field string }
			st := in.do("POST", "/api/subscribers", tc.body, &e)
			if st != tc.status || e.Error == "" || e.Field != tc.field {
				t.Fatalf("status %d %+v; want %d field %q", st, e, tc.status, tc.field)
			}
		})
	}
	var n int
	if err := in.app.db.QueryRow(`SELECT count(*) FROM subscribers`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("subscribers stored = %d, %v; want 0", n, err)
	}
	var e struct{ Error string }
	if st := in.do("GET", "/api/subscribers/nobody@example.com", nil, &e); st != 404 || e.Error == "" {
		t.Fatalf("unknown subscriber = %d %+v", st, e)
	}
	for path, field := range map[string]string{
		"/api/campaigns?status=sent": "status", "/api/campaigns?limit=ten": "limit",
		"/api/outbox?before=-1": "before", "/api/outbox?limit=100000": "limit",
	} {
		var qe struct{ Error, Field string }
		if st := in.do("GET", path, nil, &qe); st != 422 || qe.Field != field {
			t.Errorf("GET %s = %d %+v; want 422 naming %q", path, st, qe, field)
		}
	}
}

// TestConcurrentEnrollment: 200 enrollments from 20 goroutines while the
// queue workers deliver confirmations: all 2xx, each stored once, no
// "database is locked".
func TestConcurrentEnrollment(t *testing.T) {
	in := startTreu(t, nil)
	var wg sync.WaitGroup
	errc := make(chan error, 200)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				// Every other request repeats an address another goroutine enrolls.
				email := fmt.Sprintf("c%d-%d@example.com", g, i)
				if i%2 == 1 {
					email = fmt.Sprintf("c%d-%d@example.com", (g+1)%20, i-1)
				}
				req, _ := http.NewRequest("POST", in.base+"/api/subscribers", strings.NewReader(`{"email":"`+email+`"}`))
				req.Header.Set("Authorization", "Bearer "+in.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errc <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 201 && resp.StatusCode != 200 {
					errc <- fmt.Errorf("%s: status %d", email, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	var n, distinct int
	in.app.db.QueryRow(`SELECT count(*), count(DISTINCT email_key) FROM subscribers`).Scan(&n, &distinct)
	if n != 100 || distinct != 100 {
		t.Fatalf("stored %d rows, %d distinct; want 100 each", n, distinct)
	}
	// Every confirmation reaches the outbox: the queue workers ran meanwhile.
	var sent int
	in.eventually("100 confirmations in the outbox", func() bool {
		in.app.db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&sent)
		return sent == 100
	})
}

// TestOutboxWithoutSMTP: with no SMTP configured every mail lands in the
// outbox, listed and readable one by one over the API.
func TestOutboxWithoutSMTP(t *testing.T) {
	in := startTreu(t, nil)
	if st := in.do("POST", "/api/subscribers", `{"email":"ola@example.com","locale":"en"}`, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	var list struct {
		Mails []struct {
			ID        int64
			Recipient string
			Subject   string
		}
	}
	in.eventually("a mail in the outbox", func() bool {
		in.do("GET", "/api/outbox", nil, &list)
		return len(list.Mails) > 0
	})
	m := list.Mails[0]
	if !strings.Contains(m.Recipient, "ola@example.com") || m.Subject == "" {
		t.Fatalf("outbox entry %+v", m)
	}
	var one struct{ Text, HTML, Raw string }
	if st := in.do("GET", fmt.Sprintf("/api/outbox/%d", m.ID), nil, &one); st != 200 || !strings.Contains(one.Text, "/confirm/") || !strings.Contains(one.Raw, "MIME-Version") {
		t.Fatalf("outbox mail = %d %+v", st, one)
	}
}
