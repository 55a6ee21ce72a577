package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminCommandsNeedADatabase: token, user, import and backup refuse a --data
// folder without treu.db instead of creating an empty database there; migrate
// creates it, and then they work.
func TestAdminCommandsNeedADatabase(t *testing.T) {
	ctx := context.Background()
	none := func(string) string { return "" }
	for _, tc := range []struct {
		name string
		args func(data string) []string
	}{
		{"token create", func(d string) []string { return []string{"token", "create", "--data", d, "--name", "shop"} }},
		{"token list", func(d string) []string { return []string{"token", "list", "--data", d} }},
		{"user add", func(d string) []string { return []string{"user", "add", "--data", d, "--email", "you@shop.example"} }},
		{"import", func(d string) []string {
			return []string{"import", "--data", d, "--consent-source", "Shop", "--consent-text", "Ja", filepath.Join("testdata", "none.csv")}
		}},
		{"backup", func(d string) []string { return []string{"backup", "--data", d, filepath.Join(t.TempDir(), "copy.db")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, data := range []string{t.TempDir(), filepath.Join(t.TempDir(), "typo")} {
				args := tc.args(data)
				err := run(ctx, args, none, strings.NewReader("a long password\n"), io.Discard, io.Discard)
				if err == nil || !strings.Contains(err.Error(), "--data") || !strings.Contains(err.Error(), "treu.db") {
					t.Fatalf("err = %v, want a refusal naming --data and treu.db", err)
				}
				if _, err := os.Stat(filepath.Join(data, "treu.db")); !os.IsNotExist(err) {
					t.Fatalf("%s created a database (%v)", tc.name, err)
				}
				if _, err := os.Stat(args[len(args)-1]); tc.name == "backup" && !os.IsNotExist(err) {
					t.Fatal("a refused backup left its output file")
				}
			}
		})
	}
	data := t.TempDir()
	if err := run(ctx, []string{"migrate", "--data", data}, none, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"user", "add", "--data", data, "--email", "you@shop.example"}, none,
		strings.NewReader("a long password\n"), io.Discard, io.Discard); err != nil {
		t.Fatalf("user add after migrate: %v", err)
	}
	if err := run(ctx, []string{"token", "create", "--data", data, "--name", "shop"}, none, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("token create after migrate: %v", err)
	}
}
