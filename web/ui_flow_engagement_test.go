package web

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// The flow page shows per step what the campaigns list shows per campaign:
// open, click and unsubscribe rates side by side, with bounces, orders and
// revenue; and the flow's in all.
func TestUIFlowStepEngagement(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	tr := tracking.New(env.db, tracking.Config{BaseURL: "http://treu.test", Secret: []byte("k")}, m.subs, log)
	var err error
	m.flows, err = flows.New(env.db, nopQueue{}, m.subs, m.segs, m.pools, flows.Config{From: "news@shop.example",
		ListID: "newsletter.shop.example", Footer: templates.Footer{ShopName: "Laden am Eck"}, Tracking: tr,
		Feedback: func(context.Context, string) ([]flows.MailFeedback, error) { return nil, nil }}, log)
	if err != nil {
		t.Fatal(err)
	}
	// Four welcome mails of step 1 went out; two were sent to people who
	// allow tracking, one of whom opened and clicked.
	var subs []int64
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		s, _, err := m.subs.Enroll(ctx, subscribers.EnrollInput{Email: email, Tracking: i < 2, TrackingText: "ok"}, subscribers.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s.ID)
		err = env.db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO flow_runs (flow, subscriber_id, step, status, created_at, updated_at) VALUES ('welcome', ?, 1, 'active', 0, 0)`, s.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO flow_sends (run_id, flow, step, subscriber_id, sent_at) VALUES (last_insert_rowid(), 'welcome', 0, ?, 0)`, s.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h, _, err := tr.Links(tracking.FlowMail(flows.Welcome, 0)).Rewrite(ctx, nil, `<html><body><a href="https://shop.example/">Shop</a></body></html>`, "",
		tracking.Recipient{SubscriberID: subs[0], Tracking: true, SentAt: env.db.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tok := func(prefix string) string {
		i := strings.Index(h, prefix) + len(prefix)
		return h[i : i+tracking.TokenLen]
	}
	if _, err := tr.Click(ctx, tok("http://treu.test/l/"), tracking.Hit{IP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Open(ctx, tok("http://treu.test/o/"), tracking.Hit{IP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}

	c := env.client()
	c.signIn()
	r := c.get("/ui/flows/welcome")
	mustContain(t, "flow page", r.Body, `id="flow-engagement"`, "What recipients did", "All steps")
	row := regexp.MustCompile(`(?s)<tr class="step-engagement"><th scope="row">1</th>(.*?)</tr>`).FindStringSubmatch(r.Body)
	if row == nil {
		t.Fatalf("no row for step 1:\n%s", r.Body)
	}
	// 1 of 4 opened (an hour after sending: a person), 1 of 4 clicked,
	// nobody unsubscribed.
	for _, want := range []string{`<td class="num">4</td>`, `rate-opens">25.0 %`, `rate-clicks">25.0 %`, `rate-unsubscribed">0.0 %`, `rate-bounced">0.0 %`} {
		if !strings.Contains(row[1], want) {
			t.Errorf("step 1 lacks %s: %s", want, row[1])
		}
	}
	if !regexp.MustCompile(`(?s)<tr class="flow-engagement"><th scope="row">All steps</th><td class="num">4</td>`).MatchString(r.Body) {
		t.Errorf("no total row")
	}
	// The flows list has the flow's rates side by side, as the campaigns list.
	r = c.get("/ui/flows")
	welcome := regexp.MustCompile(`(?s)href="/ui/flows/welcome">.*?</tr>`).FindString(r.Body)
	for _, want := range []string{`rate-opens">25.0 %`, `rate-clicks">25.0 %`, `rate-unsubscribed">0.0 %`} {
		if !strings.Contains(welcome, want) {
			t.Errorf("flows list lacks %s: %s", want, welcome)
		}
	}
}
