package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestStatementCache: a prepared statement runs in many transactions, bound
// once per transaction; an unprepared one is parsed per use; Prepare twice
// keeps one statement; Close releases them.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	const ins = `INSERT INTO schema_migrations (name, applied_at) VALUES (?, 0)`
	const count = `SELECT count(*) FROM schema_migrations WHERE name LIKE 'x%'`
	if err := db.Prepare(ctx, ins, ins); err != nil {
		t.Fatal(err)
	}
	if n := len(db.stmts.m); n != 1 {
		t.Fatalf("%d statements cached, want 1", n)
	}
	for i := range 3 {
		err := db.Tx(ctx, func(tx *Tx) error {
			for j := range 2 {
				if _, err := tx.ExecCached(ctx, ins, "x"+string(rune('a'+i*2+j))); err != nil {
					return err
				}
			}
			if len(tx.bound) != 1 {
				t.Errorf("%d statements bound, want 1", len(tx.bound))
			}
			var n int
			if err := tx.QueryRowCached(ctx, count).Scan(&n); err != nil || n != i*2+2 {
				t.Errorf("count = %d %v, want %d (unprepared, parsed per use)", n, err, i*2+2)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Prepare(ctx, `SELECT nonsense FROM nowhere`); err == nil {
		t.Error("a bad statement prepared")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db.stmts.m != nil {
		t.Error("statements kept after Close")
	}
}
