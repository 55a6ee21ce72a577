package subscribers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
)

func TestExportCSV(t *testing.T) {
	e := newEnv(t)
	no := false
	proof := &ConsentInput{Text: "ja", Source: "test"}
	e.enroll(EnrollInput{Email: "anna@example.com", Name: "Änne Berg", Locale: "de", DoubleOptIn: &no, Consent: proof,
		Attributes: json.RawMessage(`{"city":"Köln","points":3}`)})
	e.enroll(EnrollInput{Email: "ben@example.com", Name: "=HYPERLINK(\"http://evil\")"}) // pending
	e.enroll(EnrollInput{Email: "+cem@example.com", DoubleOptIn: &no, Consent: proof})
	e.clock.Add(time.Hour)

	var b bytes.Buffer
	n, err := e.svc.ExportCSV(e.ctx, &b, CSVOptions{})
	if err != nil || n != 3 {
		t.Fatalf("export: %d, %v", n, err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"id", "email", "name", "locale", "status", "created_at", "confirmed_at", "lists", "attributes"},
		{"1", "anna@example.com", "Änne Berg", "de", "active", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", "newsletter", `{"city":"Köln","points":3}`},
		{"2", "ben@example.com", `'=HYPERLINK("http://evil")`, "en", "pending", "2026-03-01T10:00:00Z", "", "", ""},
		{"3", "+cem@example.com", "", "en", "active", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", "newsletter", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records: %q", len(recs), recs)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, recs[i], want[i])
		}
	}

	// Excel: byte order mark, semicolons, no formula from an address; a filter.
	b.Reset()
	n, err = e.svc.ExportCSV(e.ctx, &b, CSVOptions{Excel: true, Where: "s.status = ?", Args: []any{"active"}})
	if err != nil || n != 2 {
		t.Fatalf("filtered export: %d, %v", n, err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "\ufeffid;email;") || !strings.Contains(out, "\n3;'+cem@example.com;") || strings.Contains(out, "ben@") {
		t.Fatalf("excel export:\n%s", out)
	}
}

// BenchmarkExportCSV1M streams 1,000,000 subscribers as CSV. Building the
// database takes a while; set TREU_EXPORT_BENCH_DB to a file path to keep it
// between runs.
//
//	go test ./subscribers -run '^$' -bench ExportCSV1M -benchtime 1x
func BenchmarkExportCSV1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	path := os.Getenv("TREU_EXPORT_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "1m.db")
	}
	_, statErr := os.Stat(path)
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if statErr != nil {
		start := time.Now()
		err = db.Tx(ctx, func(tx *store.Tx) error {
			for _, q := range []string{
				`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
				INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at, confirmed_at)
				SELECT 'u' || i || '@example.com', 'u' || i || '@example.com', 'User ' || i, 'de',
					json_object('city', 'c' || (i % 100), 'points', i % 90), 'active', 1700000000 + i, 1700000000 + i, 1700000000 + i
				FROM n`,
				`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
				SELECT s.id, l.id, 'active', 0, 0 FROM subscribers AS s, lists AS l WHERE l.slug = 'newsletter'`,
			} {
				if _, err := tx.ExecContext(ctx, q, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d subscribers in %v", n, time.Since(start).Round(time.Millisecond))
	}
	svc, err := New(db, &testQueue{}, Config{BaseURL: "https://shop.example", From: "news@shop.example", Secret: testSecret},
		slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	for b.Loop() {
		var cw countWriter
		t0 := time.Now()
		got, err := svc.ExportCSV(ctx, &cw, CSVOptions{})
		if err != nil || got != n {
			b.Fatalf("exported %d, %v", got, err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/1M")
		b.ReportMetric(float64(cw)/(1<<20), "MiB")
	}
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
