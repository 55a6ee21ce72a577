package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// TestImportCommandAndExport: `treu import` reads a gzipped file from German
// Excel into a running instance's data folder, and the API exports it again
// as CSV, all or a segment.
func TestImportCommandAndExport(t *testing.T) {
	in := startTreu(t, nil)
	text := "E-Mail;Vorname;Nachname;Stadt\r\n" +
		"anna@example.com;Änne;Größe;Köln\r\n" +
		"ben@example.com;Ben;Weiß;Berlin\r\n" +
		"kaputt;X;Y;Z\r\n"
	raw, err := charmap.Windows1252.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	file := filepath.Join(t.TempDir(), "kunden.csv.gz")
	os.WriteFile(file, gz.Bytes(), 0o600)

	var out, errOut bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		errOut.Reset()
		return run(context.Background(), append([]string{"import"}, args...), func(string) string { return "" }, nil, &out, &errOut)
	}
	if err := run(file, "--data", in.data); err == nil || !strings.Contains(err.Error(), "--consent-source") {
		t.Fatalf("no consent: %v", err)
	}
	if err := run(file, "--data", in.data, "--consent-source", "Shop", "--consent-text", "Ja", "--list", "nope"); err == nil ||
		!strings.Contains(err.Error(), "--list") {
		t.Fatalf("unknown list: %v", err)
	}
	if err := run(file, "--data", in.data, "--consent-source", "Kundenkonto", "--consent-text", "Ja, Newsletter.",
		"--column", "Stadt=attribute:city", "--log-level", "warn"); err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"(windows-1252, gzip, separator \";\")", "3 rows: 2 to import, 1 with errors",
		`column "E-Mail": 1 rows (lines 4)`, "2 new, 0 already there, 0 failed, 1 left out"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}

	get := func(path string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, in.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+in.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := get("/api/subscribers/export.csv")
	if code != http.StatusOK || h.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(body, `1,anna@example.com,Änne Größe,de,active,`) || !strings.Contains(body, `,newsletter,"{""city"":""Köln""}"`) {
		t.Fatalf("export: %d %v\n%s", code, h, body)
	}
	var seg struct{ ID int64 }
	if c := in.do(http.MethodPost, "/api/segments", map[string]any{"name": "Berlin",
		"rule": map[string]any{"field": "attributes.city", "op": "eq", "value": "Berlin"}}, &seg); c != http.StatusCreated {
		t.Fatalf("segment: %d", c)
	}
	code, body, h = get("/api/subscribers/export.csv?format=excel&segment=" + strconv.FormatInt(seg.ID, 10))
	if code != http.StatusOK || !strings.HasPrefix(body, "\ufeffid;email;") || !strings.Contains(body, "ben@example.com") ||
		strings.Contains(body, "anna@") || !strings.Contains(h.Get("Content-Disposition"), "subscribers-segment-") {
		t.Fatalf("segment export: %d %v\n%s", code, h, body)
	}
	for path, want := range map[string]int{
		"/api/subscribers/export.csv?segment=x":   http.StatusUnprocessableEntity,
		"/api/subscribers/export.csv?segment=999": http.StatusNotFound,
		"/api/subscribers/export.csv?format=pdf":  http.StatusUnprocessableEntity,
	} {
		if code, body, _ := get(path); code != want {
			t.Errorf("%s: %d, want %d\n%s", path, code, want, body)
		}
	}
}
