package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/webhooks"
)

// The webhooks page adds an endpoint with a checkbox per event (link.clicked
// among them), shows its secret once, keeps the form on a mistake, and
// deletes one.
func TestUIWebhookForm(t *testing.T) {
	var hooks *webhooks.Service
	env := newUIEnv(t, func(_ *Config, d *UIDeps) { d.Webhooks = lateWebhooks{&hooks} })
	hooks = webhooks.New(env.db, webhooks.Config{}, slog.New(slog.DiscardHandler))
	c := env.client()
	c.signIn()
	r := c.get("/ui/webhooks")
	for _, typ := range webhooks.Types {
		mustContain(t, "form", r.Body, `name="events" value="`+typ+`"`)
	}
	tok := c.csrfOf("/ui/webhooks")

	// No event ticked: 422, the URL kept.
	r = c.post("/ui/webhooks", url.Values{"csrf": {tok}, "url": {"https://shop.example/hook"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("no events: %d", r.Status)
	}
	mustContain(t, "refused form", r.Body, `value="https://shop.example/hook"`, `<fieldset aria-invalid="true">`)
	// A private address is refused, the ticked boxes kept.
	r = c.post("/ui/webhooks", url.Values{"csrf": {tok}, "url": {"http://127.0.0.1/hook"}, "events": {"link.clicked"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `value="link.clicked" checked`) || !strings.Contains(r.Body, `id="wh-url" name="url" value="http://127.0.0.1/hook" required placeholder="https://shop.example/treu-webhook" aria-invalid="true"`) {
		t.Fatalf("private address: %d", r.Status)
	}

	r = c.post("/ui/webhooks", url.Values{"csrf": {tok}, "url": {"https://shop.example/hook"}, "events": {"link.clicked", "campaign.finished"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="new-secret">whsec_`) {
		t.Fatalf("create: %d\n%s", r.Status, r.Body)
	}
	eps, _ := hooks.List(context.Background())
	if len(eps) != 1 || strings.Join(eps[0].Events, ",") != "link.clicked,campaign.finished" {
		t.Fatalf("endpoints %+v", eps)
	}
	if r := c.get("/ui/webhooks"); strings.Contains(r.Body, "whsec_") {
		t.Fatal("the secret is shown again")
	}
	r = c.post("/ui/webhooks/"+itoa(eps[0].ID)+"/delete", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/webhooks?done=webhook-deleted" {
		t.Fatalf("delete: %d %s", r.Status, r.Location)
	}
	if eps, _ := hooks.List(context.Background()); len(eps) != 0 {
		t.Fatalf("left: %+v", eps)
	}
}

// lateWebhooks lets the test make the service after the env's database.
type lateWebhooks struct{ s **webhooks.Service }

func (l lateWebhooks) List(ctx context.Context) ([]webhooks.Endpoint, error) { return (*l.s).List(ctx) }
func (l lateWebhooks) Recent(ctx context.Context, id int64) ([]webhooks.Delivery, error) {
	return (*l.s).Recent(ctx, id)
}
func (l lateWebhooks) Create(ctx context.Context, in webhooks.Input) (webhooks.Endpoint, error) {
	return (*l.s).Create(ctx, in)
}
func (l lateWebhooks) Delete(ctx context.Context, id int64) error { return (*l.s).Delete(ctx, id) }
