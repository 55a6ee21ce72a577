package flows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// A flow's figures per step are a campaign's: delivered, opens (tracked
// people), clicks (people), bounces and complaints, with their rates; the
// flow's are the sum of its steps.
func TestStepEngagement(t *testing.T) {
	e := newEnv(t)
	subs, err := subscribers.New(e.db, e.q, subscribers.Config{BaseURL: "https://news.shop.example", From: "news@shop.example",
		ShopName: "Kaffee & Co.", Secret: []byte("0123456789abcdef0123456789abcdef")}, discard)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracking.New(e.db, tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("s")}, subs, nil)
	var fb *feedback.Service
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer: templates.Footer{ShopName: "Kaffee & Co."}, Tracking: tr,
		Feedback: func(ctx context.Context, flow string) ([]flows.MailFeedback, error) {
			ms, err := fb.Flow(ctx, flow)
			var out []flows.MailFeedback
			for _, m := range ms {
				out = append(out, flows.MailFeedback{SubscriberID: m.SubscriberID, MailID: m.MailID, Bounced: m.Bounced, Complained: m.Complained})
			}
			return out, err
		},
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	fb = feedback.New(e.db, subs, feedback.Config{FlowOf: eng.FlowOfMail}, discard)
	kim := e.subscriber("kim@example.de", "de")
	ali := e.subscriber("ali@example.de", "en")
	e.exec(`UPDATE subscribers SET tracking = 1 WHERE id = ?`, kim)
	e.cart("e1", "kim@example.de", "c1", t0)
	e.cart("e2", "ali@example.de", "c2", t0)
	if r := e.tick(t0.Add(61 * time.Minute)); r.Sent != 2 {
		t.Fatalf("first reminder: %+v", r)
	}
	token := func(text, prefix string) string {
		i := strings.Index(text, prefix)
		if i < 0 {
			t.Fatalf("no %s in %s", prefix, text)
		}
		return text[i+len(prefix) : i+len(prefix)+tracking.TokenLen]
	}
	// An hour later: Kim opens and clicks (tracked), Ali clicks (counted,
	// not tied to her).
	e.now = t0.Add(2 * time.Hour)
	for _, m := range e.mails() {
		if _, err := tr.Click(ctx, token(m.msg.Text, "https://news.shop.example/l/"), tracking.Hit{IP: "198.51.100.1", UserAgent: m.to}); err != nil {
			t.Fatal(err)
		}
		if m.to == "kim@example.de" {
			if err := tr.Open(ctx, token(m.msg.HTML, "https://news.shop.example/o/"), tracking.Hit{IP: "198.51.100.1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := e.tick(t0.Add(24*time.Hour + time.Minute)); r.Sent != 2 {
		t.Fatalf("second reminder: %+v", r)
	}
	// The second mail bounces for Ali; Kim marks hers as spam.
	mailOf := func(sub int64, step int) int64 {
		var id int64
		if err := e.db.QueryRow(`SELECT mail_id FROM flow_sends WHERE subscriber_id = ? AND step = ?`, sub, step).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, r := range []feedback.Report{
		{Kind: feedback.Hard, Email: "ali@example.de", Source: feedback.SourceAPI, Ref: feedback.Ref{SubscriberID: ali, MailID: mailOf(ali, 1)}},
		{Kind: feedback.Complaint, Email: "kim@example.de", Source: feedback.SourceAPI, Ref: feedback.Ref{SubscriberID: kim, MailID: mailOf(kim, 1)}},
	} {
		if _, err := fb.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	st, err := eng.Stats(ctx, flows.CartAbandonment)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Steps) != 2 {
		t.Fatalf("steps: %+v", st.Steps)
	}
	s0, s1 := st.Steps[0].Engagement, st.Steps[1].Engagement
	if s0.Delivered != 2 || s0.OpensUnique != 1 || s0.ClicksUnique != 1 || s0.Clicks != 2 || s0.Bounced != 0 ||
		s0.Rates.Open != 0.5 || s0.Rates.Click != 0.5 || s0.Rates.Bounce != 0 {
		t.Errorf("step 1: %+v", s0)
	}
	if s1.Delivered != 1 || s1.Bounced != 1 || s1.Complained != 1 || s1.Clicks != 0 ||
		s1.Rates.Bounce != 0.5 || s1.Rates.Complaint != 0.5 || s1.Rates.Open != 0 {
		t.Errorf("step 2: %+v", s1)
	}
	if st.Sent != 4 || st.Delivered != 3 || st.Clicks != 2 || st.OpensUnique != 1 || st.Bounced != 1 || st.Complained != 1 ||
		st.Rates.Click != 0.25 || st.Rates.Bounce != 0.25 {
		t.Errorf("flow: sent %d %+v", st.Sent, st.Engagement)
	}
}
