// Package web is Treu's HTTP layer on Echo: the shop API (api_*.go), the
// customer pages (public*.go) and the marketers' UI (ui_*.go). Handlers decode
// and validate the request shape, call one domain method and encode the answer;
// domain errors (internal/errs) become HTTP statuses in errors.go, and only there.
package web
