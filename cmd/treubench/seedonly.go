package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/treu-mail/treu/store"
)

// seedOnlyRun makes the database the page benchmarks read (scripts/
// bench_pages.sh): n subscribers as the send bench seeds them (five cities,
// so one city matches a fifth; 10% vip), every 1,000th address suppressed,
// a private list "vip" holding every 10th subscriber, then ANALYZE as after
// an import. dir must not hold a database yet.
func seedOnlyRun(ctx context.Context, dir string, n int, stdout io.Writer) error {
	if dir == "" {
		return errors.New("-seed-only needs -data DIR")
	}
	path := filepath.Join(dir, "treu.db")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; remove it to seed again", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	t0 := time.Now()
	if err := seed(ctx, db, n); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	err = db.Tx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`INSERT INTO lists (slug, name, created_at) VALUES ('vip', 'VIP', 0)`,
			`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
				SELECT id, (SELECT id FROM lists WHERE slug = 'vip'), 'active', created_at, created_at FROM subscribers WHERE id % 10 = 0`,
			`INSERT INTO suppressions (email_hash, reason, created_at)
				SELECT ` + store.SHA256HexFunc + `(email_key), 'bounce', 0 FROM subscribers WHERE id % 1000 = 1`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := db.Analyze(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d subscribers into %s in %.1f s\n", n, path, time.Since(t0).Seconds())
	return nil
}
