// Package storetest opens real databases for tests: SQLite in the test's temp
// dir (Open), and with Each the same test body against SQLite and against a
// throwaway PostgreSQL (store/pgtest) that the package's TestMain starts:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestX(t *testing.T) {
//		storetest.Each(t, func(t *testing.T, db *store.DB) { ... })
//	}
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/pgtest"
)

// Open returns a migrated SQLite database in tb.TempDir(), closed when the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "treu.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Main runs the package's tests with a PostgreSQL cluster for Each (pgtest.Main).
func Main(m *testing.M) { pgtest.Main(m) }

// Each runs fn as two subtests, "sqlite" and "postgres", each on a fresh
// migrated database. With TREU_PG=off only "sqlite" runs; without
// storetest.Main in TestMain the postgres subtest fails.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, Open(t)) })
	if pgtest.Off() {
		return
	}
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.Open(t)) })
}
