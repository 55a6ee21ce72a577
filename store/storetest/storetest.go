// Package storetest opens a real SQLite database in a test's temp dir.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/treu-mail/treu/store"
)

// Open returns a migrated database in tb.TempDir(), closed when the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "treu.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
