package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
)

// A route added without shop/admin or a role stops the server at start.
func TestUnguardedRouteRefusesToStart(t *testing.T) {
	e := echo.New()
	g := guards{}
	api := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	ok := func(c echo.Context) error { return nil }
	g.add(http.MethodGet, "/api/guarded", "admin")
	api.GET("/guarded", ok)
	checkGuarded(e, g, "/api/") // every route guarded: no panic

	api.POST("/forgotten", ok)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "POST /api/forgotten") {
			t.Fatalf("panic = %v; want one naming POST /api/forgotten", r)
		}
	}()
	checkGuarded(e, g, "/api/")
}

// pathOf fills a route's parameters so the request reaches the route.
func pathOf(route string) string {
	return regexp.MustCompile(`:[a-z]+`).ReplaceAllString(route, "1")
}

func routesOf(s *Server, prefix string, who ...string) []string {
	var out []string
	for key, w := range s.guards {
		_, path, _ := strings.Cut(key, " ")
		if strings.HasPrefix(path, prefix) && (len(who) == 0 || contains(who, w)) {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func apiCall(t *testing.T, env *uiEnv, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, env.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// Every admin route refuses a shop token with 403 {"error","field"}, and the
// shop's own routes let it through.
func TestShopTokenRefusedOnEveryAdminRoute(t *testing.T) {
	env := newUIEnv(t)
	ctx := context.Background()
	_, shop, err := env.accounts.CreateToken(ctx, "shop", accounts.ScopeShop)
	if err != nil {
		t.Fatal(err)
	}
	_, admin, _ := env.accounts.CreateToken(ctx, "ops", accounts.ScopeAdmin)
	adminRoutes := routesOf(env.srv, "/api/", "admin")
	if len(adminRoutes) < 40 {
		t.Fatalf("only %d admin routes: %v", len(adminRoutes), adminRoutes)
	}
	for _, must := range []string{"POST /api/campaigns", "PUT /api/layouts/:id", "POST /api/segments",
		"GET /api/subscribers/:ref/export", "DELETE /api/subscribers/:ref", "GET /api/audit"} {
		if env.srv.guards[must] != "admin" {
			t.Errorf("%s is not an admin route", must)
		}
	}
	for _, key := range adminRoutes {
		method, route, _ := strings.Cut(key, " ")
		st, body := apiCall(t, env, shop, method, pathOf(route), `{}`)
		if st != http.StatusForbidden || body["error"] == nil || body["field"] != "scope" {
			t.Errorf("%s with a shop token: %d %v; want 403 naming the scope", key, st, body)
		}
		if st, body := apiCall(t, env, admin, method, pathOf(route), `{}`); st == http.StatusForbidden || st == http.StatusUnauthorized {
			t.Errorf("%s with an admin token: %d %v", key, st, body)
		}
	}
	shopRoutes := routesOf(env.srv, "/api/", "shop")
	if got := strings.Join(shopRoutes, ", "); got != "GET /api/subscribers/:ref, POST /api/events, POST /api/subscribers, POST /api/tx" {
		t.Fatalf("shop routes = %s", got)
	}
	for _, key := range shopRoutes {
		method, route, _ := strings.Cut(key, " ")
		if st, body := apiCall(t, env, shop, method, pathOf(route), `{}`); st == http.StatusForbidden || st == http.StatusUnauthorized {
			t.Errorf("%s with a shop token: %d %v", key, st, body)
		}
	}
}

// addUser makes a user with role and returns a client signed in as them.
func (e *uiEnv) clientAs(email string, role accounts.Role) *uiClient {
	e.t.Helper()
	if _, err := e.accounts.AddUser(context.Background(), email, "correct horse battery", role); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	tok := c.csrfOf("/ui/login")
	r := c.post("/ui/login", url.Values{"csrf": {tok}, "email": {email}, "password": {"correct horse battery"}})
	if r.Status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d", email, r.Status)
	}
	return c
}

// A viewer is refused on every UI route that changes something, and an
// editor on every admin route; both still read.
func TestViewerRefusedOnEveryStateChange(t *testing.T) {
	env := newUIEnv(t)
	viewer := env.clientAs("vic@shop.example", accounts.RoleViewer)
	csrf := viewer.csrfOf("/ui/")
	changes := routesOf(env.srv, "/ui/", "editor", "admin")
	var posts int
	for _, key := range changes {
		method, route, _ := strings.Cut(key, " ")
		var r uiResp
		if method == http.MethodGet {
			r = viewer.get(pathOf(route))
		} else {
			posts++
			r = viewer.post(pathOf(route), url.Values{"csrf": {csrf}, "name": {"x"}, "email": {"x@shop.example"}, "role": {"owner"}})
		}
		if r.Status != http.StatusForbidden {
			t.Errorf("%s as a viewer: %d; want 403", key, r.Status)
		}
	}
	if posts < 20 {
		t.Fatalf("only %d state-changing routes walked: %v", posts, changes)
	}
	// Every POST a viewer may make is one that changes nothing shared.
	for _, key := range routesOf(env.srv, "/ui/", "viewer") {
		if strings.HasPrefix(key, "POST ") && !contains([]string{"POST /ui/logout", "POST /ui/account/password",
			"POST /ui/campaigns/preview", "POST /ui/campaigns/audience", "POST /ui/segments/count", "POST /ui/flows/:slug/preview",
			"POST /ui/layouts/preview", "POST /ui/tx/preview"}, key) {
			t.Errorf("%s is open to viewers; is it really read-only?", key)
		}
	}
	if r := viewer.get("/ui/settings"); r.Status != http.StatusOK || strings.Contains(r.Body, "/ui/settings/users") {
		t.Fatalf("a viewer reads settings, without the admin links: %d", r.Status)
	}

	editor := env.clientAs("ed@shop.example", accounts.RoleEditor)
	csrf = editor.csrfOf("/ui/")
	for _, key := range routesOf(env.srv, "/ui/", "admin") {
		method, route, _ := strings.Cut(key, " ")
		if method == http.MethodPost {
			if r := editor.post(pathOf(route), url.Values{"csrf": {csrf}}); r.Status != http.StatusForbidden {
				t.Errorf("%s as an editor: %d; want 403", key, r.Status)
			}
		}
	}
	if r := editor.post("/ui/lists", url.Values{"csrf": {csrf}, "slug": {"vip"}, "name": {"VIP"}}); r.Status == http.StatusForbidden {
		t.Fatalf("an editor makes a list: %d", r.Status)
	}
}

// Signing out ends the session on the server: a copy of the cookie made
// before is refused afterwards. A password change does the same to every
// other session and keeps the browser that made it signed in.
func TestSignOutEndsCopiedCookie(t *testing.T) {
	env := newUIEnv(t)
	a := env.client()
	a.signIn()
	u, _ := url.Parse(env.ts.URL + "/ui/")
	thief := env.client()
	thief.c.Jar.SetCookies(u, a.c.Jar.Cookies(u))
	if r := thief.get("/ui/"); r.Status != http.StatusOK {
		t.Fatalf("copied cookie before sign-out: %d", r.Status)
	}
	if r := a.post("/ui/logout", url.Values{"csrf": {a.csrfOf("/ui/")}}); r.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.Status)
	}
	if r := thief.get("/ui/"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/ui/login") {
		t.Fatalf("copied cookie after sign-out: %d %q; want the sign-in page", r.Status, r.Location)
	}

	a.signIn()
	thief = env.client()
	thief.c.Jar.SetCookies(u, a.c.Jar.Cookies(u))
	r := a.post("/ui/account/password", url.Values{"csrf": {a.csrfOf("/ui/account")},
		"current_password": {env.password}, "new_password": {"a brand new password"}, "repeat_password": {"a brand new password"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("change password: %d\n%s", r.Status, r.Body)
	}
	if r := thief.get("/ui/"); r.Status != http.StatusSeeOther {
		t.Fatalf("copied cookie after a password change: %d", r.Status)
	}
	if r := a.get(r.Location); r.Status != http.StatusOK || !strings.Contains(r.Body, "Every other session is signed out") {
		t.Fatalf("the browser that changed it: %d", r.Status)
	}
	r = a.post("/ui/account/password", url.Values{"csrf": {a.csrfOf("/ui/account")},
		"current_password": {"wrong"}, "new_password": {"x"}, "repeat_password": {"x"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The current password is wrong.") {
		t.Fatalf("wrong current password: %d", r.Status)
	}
}

var inviteLinkRe = regexp.MustCompile(`http://treu\.test(/ui/invite/[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+)`)

// An owner invites by mail; the link sets a password and signs the new user
// in with the role given; the users page changes roles and removes users,
// never the last owner; all of it lands in the audit log.
func TestInviteRolesAndAudit(t *testing.T) {
	env := newUIEnv(t)
	owner := env.client()
	owner.signIn()
	csrf := owner.csrfOf("/ui/settings/users")
	r := owner.post("/ui/settings/users/invite", url.Values{"csrf": {csrf}, "email": {"new@shop.example"}, "role": {"editor"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("invite: %d\n%s", r.Status, r.Body)
	}
	if r := owner.post("/ui/settings/users/invite", url.Values{"csrf": {csrf}, "email": {"not an address"}, "role": {"editor"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: %d", r.Status)
	}
	if _, err := env.queue.ProcessDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms, _ := env.outbox.List(context.Background(), 1, 0)
	if len(ms) != 1 || ms[0].Recipient != "new@shop.example" {
		t.Fatalf("outbox = %+v", ms)
	}
	m, _ := env.outbox.Get(context.Background(), ms[0].ID)
	link := inviteLinkRe.FindStringSubmatch(m.Parsed.Text)
	if link == nil {
		t.Fatalf("no link in\n%s", m.Parsed.Text)
	}
	newbie := env.client()
	page := newbie.get(link[1])
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "new@shop.example") {
		t.Fatalf("invite page: %d", page.Status)
	}
	tok := csrfRe.FindStringSubmatch(page.Body)[1]
	r = newbie.post(link[1], url.Values{"csrf": {tok}, "new_password": {"my own password"}, "repeat_password": {"my own password"}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/" {
		t.Fatalf("accept: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	if r := newbie.get("/ui/account"); r.Status != http.StatusOK || !strings.Contains(r.Body, "new@shop.example") {
		t.Fatalf("signed in after accepting: %d", r.Status)
	}
	if r := env.client().get(link[1]); r.Status != http.StatusNotFound {
		t.Fatalf("a used link: %d", r.Status)
	}

	users, _ := env.accounts.Users(context.Background())
	var newID, ownerID int64
	for _, u := range users {
		switch u.Email {
		case "new@shop.example":
			newID = u.ID
			if u.Role != accounts.RoleEditor {
				t.Fatalf("role %s", u.Role)
			}
		case env.email:
			ownerID = u.ID
		}
	}
	if r := owner.post(fmt.Sprintf("/ui/settings/users/%d/role", newID), url.Values{"csrf": {csrf}, "role": {"viewer"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("set role: %d", r.Status)
	}
	if r := owner.post(fmt.Sprintf("/ui/settings/users/%d/remove", ownerID), url.Values{"csrf": {csrf}}); r.Status != http.StatusConflict ||
		!strings.Contains(r.Body, "last owner") {
		t.Fatalf("remove the last owner: %d", r.Status)
	}
	if r := owner.post(fmt.Sprintf("/ui/settings/users/%d/remove", newID), url.Values{"csrf": {csrf}}); r.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.Status)
	}
	if r := newbie.get("/ui/"); r.Status != http.StatusSeeOther {
		t.Fatalf("a removed user's session: %d", r.Status)
	}
	if r := owner.post("/ui/settings/tokens", url.Values{"csrf": {csrf}, "name": {"shop"}, "scope": {"root"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad scope: %d", r.Status)
	}
	if r := owner.post("/ui/settings/tokens", url.Values{"csrf": {csrf}, "name": {"shop"}, "scope": {"shop"}}); r.Status != http.StatusOK {
		t.Fatalf("create token: %d", r.Status)
	}

	audit := owner.get("/ui/settings/audit")
	for _, want := range []string{"user.invite", "user.accept_invite", "user.role", "user.remove", "token.create", "maria@shop.example"} {
		if !strings.Contains(audit.Body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	_, admin, _ := env.accounts.CreateToken(context.Background(), "ops", accounts.ScopeAdmin)
	st, body := apiCall(t, env, admin, http.MethodGet, "/api/audit?limit=2", "")
	entries, _ := body["entries"].([]any)
	if st != http.StatusOK || len(entries) != 2 {
		t.Fatalf("GET /api/audit: %d %v", st, body)
	}
	first := entries[0].(map[string]any)
	if first["action"] != "token.create" || first["actor"].(map[string]any)["name"] != env.email {
		t.Fatalf("newest entry = %v", first)
	}
	next := fmt.Sprintf("/api/audit?limit=2&before=%v", entries[1].(map[string]any)["id"])
	if st, body := apiCall(t, env, admin, http.MethodGet, next, ""); st != http.StatusOK || len(body["entries"].([]any)) != 2 {
		t.Fatalf("next page: %d %v", st, body)
	}
	if st, body := apiCall(t, env, admin, http.MethodGet, "/api/audit?limit=0", ""); st != http.StatusUnprocessableEntity || body["field"] != "limit" {
		t.Fatalf("limit=0: %d %v", st, body)
	}
}

// Lockout is per account and client address: a guesser behind one address
// locks only themselves out; the owner, elsewhere, still signs in.
func TestLockoutIsPerClientAddress(t *testing.T) {
	env := newUIEnv(t, func(c *Config, _ *UIDeps) { c.TrustProxy = true })
	post := func(c *uiClient, ip, password string) int {
		t.Helper()
		tok := c.csrfOf("/ui/login")
		form := url.Values{"csrf": {tok}, "email": {env.email}, "password": {password}}
		req, _ := http.NewRequest(http.MethodPost, env.ts.URL+"/ui/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		return c.do(req).Status
	}
	guesser := env.client()
	for range 5 {
		if st := post(guesser, "198.51.100.9", "not the password"); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", st)
		}
	}
	if st := post(guesser, "198.51.100.9", env.password); st != http.StatusTooManyRequests {
		t.Fatalf("the guesser's address after 5 failures: %d; want 429", st)
	}
	if st := post(env.client(), "203.0.113.7", env.password); st != http.StatusSeeOther {
		t.Fatalf("the owner from another address: %d; want signed in", st)
	}
}
