package web

import (
	"encoding/json"

	"context"
	"github.com/treu-mail/treu/flows"
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

// TestUIFlowWithTypedSteps: a flow made over the API with steps other than
// mails is listed step by step, and the mail form does not overwrite it.
func TestUIFlowWithTypedSteps(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	var f flows.Flow
	if err := json.Unmarshal([]byte(`{"slug":"club","name":"Club","trigger":{"stage":"regular"},"steps":[
		{"type":"attribute","action":"set","key":"club","value":true},
		{"type":"condition","rule":{"field":"locale","op":"eq","value":"de"},"no":3},
		{"delay":"24h","subject":"Willkommen im Club","markdown":"Hallo"},
		{"type":"webhook","delay":"1h"}]}`), &f); err != nil {
		t.Fatal(err)
	}
	if _, err := m.flows.Create(ctx, f); err == nil || !strings.Contains(err.Error(), "webhooks are not available") {
		t.Fatalf("webhook step without webhooks: %v", err)
	}
	f.Steps = f.Steps[:3]
	f.Steps[1].No = 0
	if _, err := m.flows.Create(ctx, f); err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/flows/club")
	mustContain(t, "typed flow page", r.Body, "1. set attribute club = true", `2. if {&#34;field&#34;:&#34;locale&#34;,&#34;op&#34;:&#34;eq&#34;,&#34;value&#34;:&#34;de&#34;} matches go on, else end`,
		"3. after 1d, mail &#34;Willkommen im Club&#34;", "after the customer becomes regular", "edit it over the API")
	if strings.Contains(r.Body, `id="flow-form"`) {
		t.Fatal("the mail form is shown for a flow it cannot edit")
	}
	r = c.post("/ui/flows/club", url.Values{"csrf": {c.csrfOf("/ui/flows/club")}, "version": {"1"},
		"steps[0].delay": {"1h"}, "steps[0].subject": {"x"}, "steps[0].markdown": {"y"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("saving the mail form over it: %d", r.Status)
	}
	if got, _ := m.flows.Get(ctx, "club"); len(got.Steps) != 3 || got.Steps[0].Type != flows.StepAttribute {
		t.Fatalf("steps after the refused save: %+v", got.Steps)
	}
}
