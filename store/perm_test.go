package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/treu-mail/treu/store"
)

// TestFilesOwnerOnly: treu.db, -wal and -shm are 0600 after writes, in a
// world-writable folder under a umask that takes nothing away, and an older
// database created 0644 is tightened at open.
func TestFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()

	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(p), err)
			}
			if m := st.Mode().Perm(); m != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), m)
			}
		}
	}
	write := func(t *testing.T, db *store.DB) {
		t.Helper()
		err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE lists SET name = name || '.' WHERE slug = 'newsletter'`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM lists`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("new", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "treu.db")
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		write(t, db)
		check(t, path)
	})

	t.Run("older database", func(t *testing.T) {
		// Files left 0644 by an older Treu (or a crash, for -wal and -shm)
		// are tightened when the database is opened again.
		path := filepath.Join(t.TempDir(), "treu.db")
		first, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		write(t, first)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		again, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		write(t, again)
		check(t, path)
	})
}
