package segments

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
)

func BenchmarkCompile(b *testing.B) {
	raw := []byte(`{"all":[{"field":"list","op":"eq","value":"vip"},{"any":[{"field":"attributes.city","op":"in","value":["Berlin","Hamburg","München"]},` +
		`{"field":"orders.count","op":"gte","value":3}]},{"not":{"field":"email","op":"contains","value":"@example."}},` +
		`{"field":"orders.last_at","op":"within_days","value":90}]}`)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.SQL(now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCount1M counts audiences over 1,000,000 subscribers. Building the
// database takes about a minute; set TREU_SEGMENTS_BENCH_DB to a file path to
// keep it between runs (it is rebuilt if missing).
//
//	go test ./segments -run '^$' -bench Count1M -benchtime 10x
func BenchmarkCount1M(b *testing.B) {
	const n = 1_000_000
	db := open1M(b, n)
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		rule  string
		lists []string
	}{
		{"attr_eq", cond("attributes.city", "eq", `"c42"`), []string{"newsletter"}},
		{"attr_eq_and_orders", `{"all":[` + cond("attributes.city", "eq", `"c42"`) + `,` + cond("orders.count", "gte", `3`) + `]}`, []string{"newsletter"}},
		{"list_vip", cond("list", "eq", `"vip"`), []string{"newsletter"}},
		{"orders_count_gte", cond("orders.count", "gte", `5`), []string{"newsletter"}},
		{"whole_newsletter", `{"all":[]}`, []string{"newsletter"}},
	} {
		r, err := Parse([]byte(bc.rule))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				if got, err = Count(ctx, db, &r, bc.lists, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(got), "matches")
		})
	}
}

// open1M opens (building if needed) a database of n subscribers: 90% active,
// all on newsletter, 10% also on vip, 100 cities, 1,000 suppressed addresses.
func open1M(b *testing.B, n int) *store.DB {
	b.Helper()
	ctx := context.Background()
	path := os.Getenv("TREU_SEGMENTS_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "1m.db")
	}
	_, statErr := os.Stat(path)
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if statErr == nil {
		var have int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers`).Scan(&have); err == nil && have == n {
			return db
		}
		b.Fatalf("%s exists but does not hold %d subscribers; remove it", path, n)
	}
	start := time.Now()
	// One transaction and one INSERT ... SELECT over a recursive CTE: SQLite
	// generates the rows itself, so no Go round trip per subscriber.
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`INSERT INTO lists (slug, name, created_at) VALUES ('vip', 'VIP', 0)`,
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at,
				order_count, order_total, last_order_at)
			SELECT 'u' || i || '@example.com', 'u' || i || '@example.com', 'User ' || i,
				CASE i % 2 WHEN 0 THEN 'de' ELSE 'en' END,
				json_object('city', 'c' || (i % 100), 'age', i % 90, 'vip', json(CASE WHEN i % 10 = 3 THEN 'true' ELSE 'false' END)),
				CASE WHEN i % 10 = 0 THEN 'unsubscribed' ELSE 'active' END,
				1700000000 + i * 20, 1700000000 + i * 20, i % 7, (i % 500) * 1.5,
				CASE WHEN i % 7 = 0 THEN NULL ELSE 1740000000 + i * 10 END
			FROM n`,
			`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT s.id, l.id, 'active', 0, 0 FROM subscribers AS s, lists AS l
			WHERE l.slug = 'newsletter' OR (l.slug = 'vip' AND s.id % 10 = 3)`,
			`INSERT INTO suppressions (email_hash, reason, created_at)
			SELECT ` + store.SHA256HexFunc + `(email_key), 'bounce', 0 FROM subscribers WHERE id % 1000 = 1`,
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
	return db
}
