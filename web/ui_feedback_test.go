package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/webhooks"
)

// lateBounces lets a test hand the UI a feedback service made after the
// environment's database.
type lateBounces struct{ fb **feedback.Service }

func (l lateBounces) ForSubscriber(ctx context.Context, id int64) ([]feedback.Bounce, error) {
	return (*l.fb).ForSubscriber(ctx, id)
}

// The subscriber page lists each bounce with the remote server's words and
// shows the status a bounce gives.
func TestUISubscriberBounces(t *testing.T) {
	var fb *feedback.Service
	opt, svcp := withSubscribers(t)
	env := newUIEnv(t, opt, func(_ *Config, d *UIDeps) { d.Bounces = lateBounces{&fb} })
	s, err := subscribers.New(env.db, nopQueue{}, subscribers.Config{BaseURL: "http://treu.test", From: "news@shop.example",
		Secret: []byte("0123456789abcdef0123456789abcdef")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	*svcp = s
	fb = feedback.New(env.db, s, feedback.Config{}, slog.New(slog.DiscardHandler))
	sub := enroll(t, s, "kim@example.com", "Kim")
	if _, err := fb.Record(context.Background(), feedback.Report{Kind: feedback.Hard, Ref: feedback.Ref{SubscriberID: sub.ID, CampaignID: 12},
		Status: "5.1.1", Diagnostic: "smtp; 550 5.1.1 <kim@example.com>: User unknown", Source: feedback.SourceDSN}); err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/subscribers/" + strconv.FormatInt(sub.ID, 10))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	for _, want := range []string{"Bounces and complaints", "550 5.1.1 &lt;kim@example.com&gt;: User unknown", `href="/ui/campaigns/12"`,
		`badge bounced`, `badge hard`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

type fakeWebhooks struct{}

func (fakeWebhooks) List(context.Context) ([]webhooks.Endpoint, error) {
	return []webhooks.Endpoint{{ID: 3, URL: "https://shop.example/treu-hook", Events: []string{"subscriber.bounced"}}}, nil
}

func (fakeWebhooks) Recent(context.Context, int64) ([]webhooks.Delivery, error) {
	code := 503
	return []webhooks.Delivery{{ID: 1, Type: "subscriber.bounced", Status: "pending", Attempts: 2, LastStatus: &code, LastError: "HTTP 503"}}, nil
}

func (fakeWebhooks) Create(context.Context, webhooks.Input) (webhooks.Endpoint, error) {
	return webhooks.Endpoint{}, errs.Invalidf("url", "read-only fake")
}

func (fakeWebhooks) Delete(context.Context, int64) error { return errs.NotFoundf("read-only fake") }

// The webhooks page shows each endpoint with its latest deliveries.
func TestUIWebhooksPage(t *testing.T) {
	env := newUIEnv(t, func(_ *Config, d *UIDeps) { d.Webhooks = fakeWebhooks{} })
	c := env.client()
	c.signIn()
	r := c.get("/ui/webhooks")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	for _, want := range []string{"https://shop.example/treu-hook", "subscriber.bounced", "HTTP 503", `href="/ui/webhooks" aria-current="page"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
