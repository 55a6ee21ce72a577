// Package web is Treu's HTTP layer on Echo: the shop API (api_*.go), the
// customer pages (public*.go) and the marketers' UI (ui_*.go). Handlers decode
// and validate the request shape, call one domain method and encode the answer;
// domain errors (internal/errs) become HTTP statuses in errors.go, and only there.
//
// Who may call what is in the route table (routes.go, ui_routes.go): each /api
// route is added with shop or admin (the token's scope), each /ui route with
// signedOut, viewer, editor or admin (the user's role); access.go refuses to
// start a server with a route added any other way. Changes are recorded in the
// audit log with Server.record, as the actor the middleware found.
package web
