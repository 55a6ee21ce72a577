package retention_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/store"
)

// benchNow is the benchmark database's "today": orders fall in the three
// years before it.
var benchNow = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// BenchmarkRetention1M runs the retention queries over 1,000,000 subscribers
// (600,000 of them customers) and 5,000,000 orders. Building the database
// takes a few minutes; set TREU_RETENTION_BENCH_DB to a file path to keep it
// between runs.
//
//	go test ./retention -run '^$' -bench Retention1M -benchtime 3x -timeout 60m
func BenchmarkRetention1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 5,000,000-order database")
	}
	db := openBench(b, 1_000_000, 600_000, 5_000_000)
	clock := benchNow
	db.Now = func() time.Time { return clock }
	ctx := context.Background()
	ret, err := retention.New(db, retention.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	count := func(ctx context.Context) (int64, error) {
		var n int64
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers`).Scan(&n)
		return n, err
	}
	// The daily pass: the first run on a fresh database places every
	// customer (on a kept TREU_RETENTION_BENCH_DB it has nothing left to do);
	// the next day's run moves only those whose time has come.
	for i, name := range []string{"pass_first", "pass_next_day"} {
		b.Run(name, func(b *testing.B) {
			var moved int
			clock = benchNow.Add(time.Duration(i) * 24 * time.Hour)
			defer func() { clock = benchNow }()
			for b.Loop() {
				if moved, err = ret.Pass(ctx, clock); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(moved), "moves")
		})
	}
	from, to := retention.DefaultPeriod(benchNow, nil)
	for _, bc := range []struct {
		name     string
		from, to time.Time
	}{
		{"report_365d", from, to},
		{"report_30d", to.Add(-30 * 24 * time.Hour), to},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var r retention.Report
			for b.Loop() {
				if r, err = ret.Report(ctx, bc.from, bc.to, count); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.Customers), "customers")
			b.ReportMetric(float64(r.Orders), "orders")
		})
	}
	// What the retention page and GET /api/retention without a period do
	// after the nightly pass has computed the report.
	if _, err := ret.Precompute(ctx, from, to, count); err != nil {
		b.Fatal(err)
	}
	b.Run("page_stored", func(b *testing.B) {
		for b.Loop() {
			if _, err := ret.StoredReport(ctx, from, to, count); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// openBench opens (building if needed) a database of subscribers, the first
// customers of them with orders placed over the three years before benchNow.
func openBench(b *testing.B, subscribers, customers, orders int) *store.DB {
	b.Helper()
	ctx := context.Background()
	path := os.Getenv("TREU_RETENTION_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "retention.db")
	}
	_, statErr := os.Stat(path)
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if statErr == nil {
		var have int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM shop_orders`).Scan(&have); err == nil && have == orders {
			return db
		}
		b.Fatalf("%s exists but does not hold %d orders; remove it", path, orders)
	}
	start := time.Now()
	const span = 3 * 365 * 24 * 3600
	// Bulk load as one would: a big page cache, and the secondary indexes
	// dropped during the load and built again after it (a sorted build
	// instead of millions of random inserts).
	w := db.Writer()
	if _, err := w.ExecContext(ctx, `PRAGMA cache_size = -500000`); err != nil {
		b.Fatal(err)
	}
	var indexes []string
	rows, err := w.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
		AND tbl_name IN ('subscribers', 'shop_orders', 'nps_answers')`)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			b.Fatal(err)
		}
		names, indexes = append(names, name), append(indexes, sql)
	}
	rows.Close()
	for _, n := range names {
		if _, err := w.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
			b.Fatal(err)
		}
	}
	// SQLite generates the rows itself (recursive CTEs): no Go round trip
	// per row. Order times are spread by a multiplicative hash; customers
	// by the order number, so each has about orders/customers orders.
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			SELECT 'u' || i || '@example.com', 'u' || i || '@example.com', 'active', ?, ? FROM n`,
				[]any{subscribers, benchNow.Unix() - span, benchNow.Unix() - span}},
			{`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO shop_orders (order_id, email_key, subscriber_id, currency, total, placed_at)
			SELECT 'o' || i, 'u' || (1 + i % ?) || '@example.com', 1 + i % ?, 'EUR', 5 + (i * 7919) % 200,
				? - (i * 2654435761) % ? FROM n`,
				[]any{orders, customers, customers, benchNow.Unix(), span}},
			{`UPDATE subscribers SET order_count = f.n, order_total = f.t, first_order_at = f.a, last_order_at = f.z
			FROM (SELECT subscriber_id AS id, count(*) AS n, sum(total) AS t, min(placed_at) AS a, max(placed_at) AS z
				FROM shop_orders GROUP BY subscriber_id) AS f WHERE subscribers.id = f.id`, nil},
			// A tenth of the customers answered the survey.
			{`INSERT INTO nps_answers (subscriber_id, survey, score, first_at, answered_at)
			SELECT id, '', id % 11, last_order_at, last_order_at FROM subscribers WHERE id % 10 = 0 AND order_count > 0`, nil},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range append(indexes, `ANALYZE`, `PRAGMA cache_size = -2000`) {
		if _, err := w.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d subscribers, %d orders in %v", subscribers, orders, time.Since(start).Round(time.Second))
	return db
}
