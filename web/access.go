package web

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
)

// Who may call a route is part of the route table: every /api route is added
// through shop(...) or admin(...), every /ui route through signedOut(...) or
// a role (viewer, editor, admin). guards records each one, and checkGuarded
// refuses to start a server with a route added some other way, so a new
// route cannot be forgotten open.
type guards map[string]string // "METHOD /path" -> "shop", "admin", or a role

func (g guards) add(method, path, who string) {
	key := method + " " + path
	if _, dup := g[key]; dup {
		panic("web: route " + key + " registered twice")
	}
	g[key] = who
}

// checkGuarded panics, naming them, if routes under one of prefixes were
// added without a guard.
func checkGuarded(e *echo.Echo, g guards, prefixes ...string) {
	var open []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // group catch-alls: they answer 404 and run nothing
		}
		for _, p := range prefixes {
			if strings.HasPrefix(r.Path, p) && g[r.Method+" "+r.Path] == "" {
				open = append(open, r.Method+" "+r.Path)
			}
		}
	}
	if len(open) > 0 {
		sort.Strings(open)
		panic(fmt.Sprintf("web: routes registered without shop/admin or a role wrapper: %s", strings.Join(open, ", ")))
	}
}

// Context key for the API token requireToken found.
const ctxToken = "api.token"

// apiScopes returns the two ways to add an /api route: shop routes take any
// valid token, admin routes an admin token.
func (s *Server) apiScopes(api *echo.Group) (shop, admin func(method, path string, h echo.HandlerFunc)) {
	prefix := "/api"
	shop = func(method, path string, h echo.HandlerFunc) {
		s.guards.add(method, prefix+path, string(accounts.ScopeShop))
		api.Add(method, path, h)
	}
	admin = func(method, path string, h echo.HandlerFunc) {
		s.guards.add(method, prefix+path, string(accounts.ScopeAdmin))
		api.Add(method, path, h, requireAdminToken)
	}
	return shop, admin
}

func requireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := c.Get(ctxToken).(accounts.Token)
		if !ok || tok.Scope != accounts.ScopeAdmin {
			return &errs.Error{Kind: errs.Forbidden, Field: "scope",
				Msg: "this token has the shop scope; this route needs an admin token"}
		}
		return next(c)
	}
}

// withActor puts who acts into the request's context for the audit log.
func withActor(c echo.Context, a audit.Actor) {
	a.IP = c.RealIP()
	c.SetRequest(c.Request().WithContext(audit.WithActor(c.Request().Context(), a)))
}

// record appends to the audit log as the request's actor. The change it
// describes has happened already, so a failure here is logged, not answered.
func (s *Server) record(c echo.Context, action, target, detail string) {
	if s.audit == nil {
		return
	}
	if err := s.audit.Record(c.Request().Context(), action, target, detail); err != nil {
		s.log.Error("audit log", "action", action, "err", err)
	}
}

// uiRoles returns the ways to add a /ui route: signedOut for the sign-in
// pages, and one per role for everything else (each also signed in).
func (u *ui) uiRoles(g *echo.Group) (signedOut, viewer, editor, admin func(method, path string, h echo.HandlerFunc)) {
	add := func(min accounts.Role) func(method, path string, h echo.HandlerFunc) {
		return func(method, path string, h echo.HandlerFunc) {
			u.srv.guards.add(method, "/ui"+path, string(min))
			g.Add(method, path, h, u.requireUser, requireRole(min))
		}
	}
	signedOut = func(method, path string, h echo.HandlerFunc) {
		u.srv.guards.add(method, "/ui"+path, "signed-out")
		g.Add(method, path, h)
	}
	return signedOut, add(accounts.RoleViewer), add(accounts.RoleEditor), add(accounts.RoleAdmin)
}

// requireRole refuses a signed-in user whose role is below min. It runs
// after requireUser, so there is a user.
func requireRole(min accounts.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			user, _ := c.Get(ctxUser).(accounts.User)
			if !user.Role.AtLeast(min) {
				return &errs.Error{Kind: errs.Forbidden, Field: "role",
					Msg: fmt.Sprintf("Your role (%s) may not do this; it needs %s or more.", user.Role, min)}
			}
			return next(c)
		}
	}
}

// roleOf is the user's role for templates ("" when signed out).
func roleOf(c echo.Context) accounts.Role {
	user, _ := c.Get(ctxUser).(accounts.User)
	return user.Role
}

func idTarget(kind string, id int64) string { return kind + " " + strconv.FormatInt(id, 10) }

// subscriberTarget names an erased subscriber by id only: an address must not
// outlive its erasure in the audit log.
func subscriberTarget(ref string) string {
	if _, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return "subscriber " + ref
	}
	return "subscriber (by address)"
}
