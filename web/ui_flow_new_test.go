package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUINewFlow: a marketer picks a trigger, writes the first mail with its
// preview (which shows the sample event's data), and lands in the editor of
// the new flow; a mistake is shown on the form naming the field.
func TestUINewFlow(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	c := env.client()
	c.signIn()
	r := c.get("/ui/flows")
	mustContain(t, "flow list", r.Body, `href="/ui/flows/new"`)
	r = c.get("/ui/flows/new")
	mustContain(t, "new flow page", r.Body, `name="kind" value="event" checked`, `hx-post="/ui/flows/new/preview"`, "lapsing")
	tok := c.csrfOf("/ui/flows/new")

	v := url.Values{"csrf": {tok}, "preview_step": {"0"}, "steps[0].preview_locale": {"en"}, "steps[0].delay": {"0"},
		"steps[0].subject": {"Parcel {{ .Event.data.tracking_url }}"}, "steps[0].markdown": {"Order {{ .Event.order.id }}"}}
	r = c.post("/ui/flows/new/preview", v)
	mustContain(t, "preview", r.Body, "Parcel https://shop.example/track/1001", "Order 1001")

	form := url.Values{"csrf": {tok}, "slug": {"shipped"}, "name": {"Shipped"}, "kind": {"event"}, "event": {"order.shipped"},
		"steps[0].delay": {"1h"}, "steps[0].subject": {""}, "steps[0].markdown": {"Hi"}}
	r = c.post("/ui/flows/new", form)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="s0-subject" name="steps[0].subject" value="" aria-invalid="true"`) {
		t.Fatalf("empty subject: %d\n%s", r.Status, r.Body)
	}
	form.Set("steps[0].subject", "Your parcel")
	r = c.post("/ui/flows/new", form)
	if r.Status != http.StatusSeeOther || r.Location != "/ui/flows/shipped?done=flow-saved" {
		t.Fatalf("create: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	f, err := m.flows.Get(ctx, "shipped")
	if err != nil || f.Enabled || f.Trigger.Event != "order.shipped" || f.Name != "Shipped" || len(f.Steps) != 1 || f.Steps[0].Subject != "Your parcel" {
		t.Fatalf("created: %+v %v", f, err)
	}
	r = c.get(r.Location)
	mustContain(t, "editor of the new flow", r.Body, "Shipped", "after the shop reports order.shipped", `hx-post="/ui/flows/shipped/preview"`)
	r = c.post("/ui/flows/new", form)
	if r.Status != http.StatusConflict {
		t.Fatalf("the same slug again: %d", r.Status)
	}
}
