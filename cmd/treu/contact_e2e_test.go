package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// TestContactPolicyExemptions runs the real binary inside quiet hours (set
// around the current time): the double opt-in confirmation and a
// transactional mail go out at once and are not counted; the welcome flow
// mail and a campaign wait for the quiet hours to end; a campaign that
// ignores the policy goes.
func TestContactPolicyExemptions(t *testing.T) {
	smtpd := smtptest.Start(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Now().In(berlin)
	quiet := fmt.Sprintf("%s-%s", now.Add(-time.Hour).Format("15:04"), now.Add(2*time.Hour).Format("15:04"))
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example",
		"--contact-per-day", "1", "--contact-per-week", "3", "--quiet-hours", quiet, "--timezone", "Europe/Berlin")

	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "kim@example.com", "locale": "de",
		"consent": map[string]string{"text": "Ja", "source": "checkout"}}, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	confirm := parse(t, smtpd.WaitFor(1, 20*time.Second)[0])
	resp, err := http.PostForm(link(t, confirm, "confirm"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("confirm = %d", resp.StatusCode)
	}
	tpl := map[string]any{"name": "Versand", "locales": map[string]any{"de": map[string]any{"subject": "Versand", "markdown": "Unterwegs."}}}
	if st := in.do("PUT", "/api/tx-templates/versand", tpl, nil); st != 201 {
		t.Fatalf("tx template = %d", st)
	}
	if st := in.do("POST", "/api/tx", map[string]any{"template": "versand", "email": "kim@example.com"}, nil); st != 202 {
		t.Fatalf("tx = %d", st)
	}
	in.app.queue.Wake()
	if got := smtpd.WaitFor(2, 20*time.Second); len(got) != 2 {
		t.Fatalf("%d mails, want the confirmation and the transactional one", len(got))
	}
	var logged int
	in.app.db.QueryRow(`SELECT count(*) FROM contact_log`).Scan(&logged)
	if logged != 0 {
		t.Fatalf("%d exempt mails counted", logged)
	}

	// The welcome mail waits for the end of the quiet hours.
	in.tickFlows()
	var due int64
	in.app.db.QueryRow(`SELECT due_at FROM flow_runs WHERE flow = 'welcome'`).Scan(&due)
	if end := time.Unix(due, 0).In(berlin).Format("15:04"); end != now.Add(2*time.Hour).Format("15:04") {
		t.Fatalf("welcome due at %s, want the end of the quiet hours %s", end, quiet)
	}

	var quietCp, recall struct {
		ID            int64
		ContactPolicy string `json:"contact_policy"`
		Status        string
		QuietUntil    *time.Time `json:"quiet_until"`
		Stats         struct{ Sent, Pending, Capped int64 }
	}
	if st := in.do("POST", "/api/campaigns", map[string]any{"subject": "News", "markdown": "x"}, &quietCp); st != 201 || quietCp.ContactPolicy != "skip" {
		t.Fatalf("campaign = %d %+v", st, quietCp)
	}
	var bad struct{ Error, Field string }
	if st := in.do("POST", "/api/campaigns", map[string]any{"subject": "News", "markdown": "x", "contact_policy": "never"}, &bad); st != 422 || bad.Field != "contact_policy" {
		t.Fatalf("bad contact_policy = %d %+v", st, bad)
	}
	if st := in.do("POST", "/api/campaigns", map[string]any{"subject": "Rückruf", "markdown": "x", "contact_policy": "ignore"}, &recall); st != 201 {
		t.Fatalf("recall = %d", st)
	}
	in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", quietCp.ID), nil, nil)
	in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", recall.ID), nil, nil)
	in.eventually("the recall campaign finished", func() bool {
		in.do("GET", fmt.Sprintf("/api/campaigns/%d", recall.ID), nil, &recall)
		return recall.Status == "finished"
	})
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", quietCp.ID), nil, &quietCp)
	if quietCp.Status != "running" || quietCp.Stats.Sent != 0 || quietCp.Stats.Pending != 1 || quietCp.QuietUntil == nil ||
		quietCp.QuietUntil.In(berlin).Format("15:04") != now.Add(2*time.Hour).Format("15:04") {
		t.Fatalf("campaign in quiet hours: %+v", quietCp)
	}
	if recall.QuietUntil != nil {
		t.Fatalf("a campaign ignoring the policy has quiet_until %v", recall.QuietUntil)
	}
	got := smtpd.WaitFor(3, 20*time.Second)
	if len(got) != 3 || !strings.Contains(parse(t, got[2]).Subject, "Rückruf") {
		t.Fatalf("%d mails; the third should be the recall", len(got))
	}
}
