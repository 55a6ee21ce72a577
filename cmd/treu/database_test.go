package main

import (
	"context"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// usesDatabase must name every package that runs SQL, or serve would take a
// postgres:// --database with a package still written for SQLite alone.
func TestUsesDatabaseNamesEveryPackageWithSQL(t *testing.T) {
	dirs, err := filepath.Glob("../../*")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if name == "store" || name == "cmd" || name == "internal" || name == "web" {
			continue // the store itself; the binaries and web hold no SQL (rule of the codebase)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			pf, err := parser.ParseFile(gotoken.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(pf.Imports, func(i *ast.ImportSpec) bool { return i.Path.Value == `"github.com/treu-mail/treu/store"` }) {
				found = append(found, name)
				break
			}
		}
	}
	if len(found) < 10 {
		t.Fatalf("found only %v importing store: the walk is broken", found)
	}
	for _, p := range found {
		if !slices.Contains(usesDatabase, p) {
			t.Errorf("package %s imports store but is not in usesDatabase (cmd/treu/database.go)", p)
		}
	}
	for p := range portedToPostgres {
		if !slices.Contains(usesDatabase, p) {
			t.Errorf("portedToPostgres names %s, which usesDatabase does not", p)
		}
	}
}

func TestPostgresDatabaseRefusedNamingWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	secret := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	serveWith := func(args ...string) error {
		return run(ctx, append([]string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, args...), getenv, nil, io.Discard, io.Discard)
	}
	err := serveWith("--database", "postgres://treu:hunter2@db.invalid/treu", "--secret-file", secret)
	if err == nil || !strings.Contains(err.Error(), "subscribers") || !strings.Contains(err.Error(), "coupons") ||
		strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("serve on postgres: %v; want a refusal naming the ported and missing packages, without the password", err)
	}
	if err := serveWith("--database", "postgres://db.invalid/treu"); err == nil || !strings.Contains(err.Error(), "--secret-file") {
		t.Fatalf("postgres without --secret-file: %v", err)
	}
	if err := serveWith("--database", "mysql://db.invalid/treu"); err == nil || !strings.Contains(err.Error(), "--database") {
		t.Fatalf("mysql URL: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("short"), 0o600)
	for file, want := range map[string]string{short: "at least 32", filepath.Join(t.TempDir(), "none"): "does not exist"} {
		if err := serveWith("--secret-file", file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--secret-file %s: %v, want %q", file, err, want)
		}
	}
}

// Two instances given one --secret-file sign alike: a link made by one is
// good on the other, and neither writes a key of its own.
func TestSecretFileSharedByInstances(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-shared"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startTreu(t, nil, "--secret-file", secret)
	b := startTreu(t, nil, "--secret-file", secret)
	c := startTreu(t, nil)
	tok := a.app.retention.Links.Token(42, "order-7")
	id, survey, err := b.app.retention.Links.Parse(tok)
	if err != nil || id != 42 || survey != "order-7" {
		t.Fatalf("b parses a's link: %d %q %v", id, survey, err)
	}
	if _, _, err := c.app.retention.Links.Parse(tok); err == nil {
		t.Fatal("an instance with its own key took the link")
	}
	for _, in := range []*instance{a, b} {
		if _, err := os.Stat(filepath.Join(in.data, "secret.key")); !os.IsNotExist(err) {
			t.Errorf("%s/secret.key written beside --secret-file: %v", in.data, err)
		}
	}
}
