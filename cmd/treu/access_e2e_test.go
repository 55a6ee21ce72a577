package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A token made with --scope shop enrolls but is refused on admin routes;
// the default token (admin, as before scopes) is not; both commands and
// user add --role land in the audit log.
func TestTokenScopesAndUserRolesFromTheCommandLine(t *testing.T) {
	in := startTreu(t, nil)
	ctx := context.Background()
	getenv := func(k string) string { return map[string]string{"USER": "ops"}[k] }
	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--data", in.data, "--name", "shop", "--scope", "shop"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	shop := strings.TrimSpace(out.String())
	if err := run(ctx, []string{"token", "create", "--data", in.data, "--name", "x", "--scope", "root"}, getenv, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("--scope root accepted")
	}
	if err := run(ctx, []string{"user", "add", "--data", in.data, "--email", "ed@shop.example", "--role", "editor"}, getenv,
		strings.NewReader("correct horse battery\n"), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"user", "add", "--data", in.data, "--email", "x@shop.example", "--role", "god"}, getenv,
		strings.NewReader("correct horse battery\n"), io.Discard, io.Discard); err == nil {
		t.Fatal("--role god accepted")
	}

	admin := in.token
	in.token = shop
	if st := in.do(http.MethodPost, "/api/subscribers", map[string]any{"email": "kim@example.com"}, nil); st != http.StatusCreated {
		t.Fatalf("a shop token enrolls: %d", st)
	}
	var refused map[string]string
	for _, p := range []string{"/api/campaigns", "/api/layouts", "/api/segments", "/api/subscribers/kim@example.com/export", "/api/audit"} {
		if st := in.do(http.MethodGet, p, nil, &refused); st != http.StatusForbidden || refused["field"] != "scope" || refused["error"] == "" {
			t.Errorf("GET %s with a shop token: %d %v", p, st, refused)
		}
	}
	if st := in.do(http.MethodDelete, "/api/subscribers/kim@example.com", nil, &refused); st != http.StatusForbidden {
		t.Errorf("a shop token erases: %d", st)
	}
	in.token = admin
	var log struct {
		Entries []struct {
			Action string
			Actor  struct{ Kind, Name string }
		}
	}
	if st := in.do(http.MethodGet, "/api/audit", nil, &log); st != http.StatusOK || len(log.Entries) < 3 {
		t.Fatalf("audit: %d %+v", st, log)
	}
	if e := log.Entries[0]; e.Action != "user.add" || e.Actor.Kind != "cli" || e.Actor.Name != "command line (ops)" {
		t.Fatalf("newest entry = %+v", e)
	}
}
