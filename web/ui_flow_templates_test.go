package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/treu-mail/treu/accounts"
)

// TestFlowTemplatesAPI: GET /api/flows/templates lists the ready-made flows;
// POST /api/flows/templates/{key} creates one switched off (404 unknown key,
// 409 slug taken, another slug allowed).
func TestFlowTemplatesAPI(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	env.srv.flows = m.flows // the API reads the engine; the UI test deps hand it over late
	_, admin, _ := env.accounts.CreateToken(ctx, "ops", accounts.ScopeAdmin)
	st, body := apiCall(t, env, admin, http.MethodGet, "/api/flows/templates", "")
	if ts, _ := body["templates"].([]any); st != http.StatusOK || len(ts) != 4 {
		t.Fatalf("list: %d %v", st, body)
	}
	if st, body = apiCall(t, env, admin, http.MethodPost, "/api/flows/templates/nps", ""); st != http.StatusCreated || body["slug"] != "nps" || body["enabled"] != false {
		t.Fatalf("create: %d %v", st, body)
	}
	if st, _ = apiCall(t, env, admin, http.MethodPost, "/api/flows/templates/nps", ""); st != http.StatusConflict {
		t.Fatalf("taken slug: %d", st)
	}
	if st, body = apiCall(t, env, admin, http.MethodPost, "/api/flows/templates/nps", `{"slug":"nps-de"}`); st != http.StatusCreated || body["slug"] != "nps-de" {
		t.Fatalf("own slug: %d %v", st, body)
	}
	if st, _ = apiCall(t, env, admin, http.MethodPost, "/api/flows/templates/nope", ""); st != http.StatusNotFound {
		t.Fatalf("unknown key: %d", st)
	}
	if f, err := m.flows.Get(ctx, "nps-de"); err != nil || f.Enabled || f.Trigger.Event != "order.placed" {
		t.Fatalf("created: %+v %v", f, err)
	}
}

// TestUIFlowFromTemplate: "Use this template" creates the flow switched off
// and opens its editor; German page strings.
func TestUIFlowFromTemplate(t *testing.T) {
	env, m := newMoreEnv(t)
	c := env.client()
	c.signIn()
	r := c.get("/ui/flows/new")
	mustContain(t, "templates on the new flow page", r.Body, `action="/ui/flows/new/template"`, `value="birthday"`, "Use this template")
	tok := c.csrfOf("/ui/flows/new")
	r = c.post("/ui/flows/new/template", url.Values{"csrf": {tok}, "template": {"win-back"}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/flows/win-back?done=flow-saved" {
		t.Fatalf("create: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	f, err := m.flows.Get(context.Background(), "win-back")
	if err != nil || f.Enabled || f.Trigger.Stage != "lapsing" || !f.Exit.Order {
		t.Fatalf("created: %+v %v", f, err)
	}
	r = c.post("/ui/flows/new/template", url.Values{"csrf": {tok}, "template": {"win-back"}})
	if r.Status != http.StatusConflict {
		t.Fatalf("again: %d", r.Status)
	}
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	r = c.get("/ui/flows/new")
	mustContain(t, "German templates", r.Body, "Fertige Abläufe", "Diese Vorlage verwenden", "Geburtstagsgruß")
}
