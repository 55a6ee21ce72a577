package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

func TestOpenMigratesOnceAndSeedsNewsletter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "treu.db")
	for range 2 { // the second Open must find everything applied
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM lists WHERE slug = 'newsletter'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("newsletter lists = %d, want 1", n)
		}
		db.Close()
	}
}

func TestReadPoolRefusesWrites(t *testing.T) {
	db := storetest.Open(t)
	if _, err := db.ExecContext(context.Background(), `INSERT INTO settings (key, value) VALUES ('a', 'b')`); err == nil {
		t.Fatal("write through the read pool succeeded; want query_only error")
	}
}

func TestConcurrentWritesNeverBusy(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 800)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				errc <- db.Tx(ctx, func(tx *store.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, 'v')`, fmt.Sprintf("k%d-%d", g, i))
					return err
				})
				var n int
				errc <- db.QueryRowContext(ctx, `SELECT count(*) FROM settings`).Scan(&n)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM settings`).Scan(&n); err != nil || n != 400 {
		t.Fatalf("rows = %d, %v; want 400", n, err)
	}
}

func TestBackupIsConsistentCopy(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := db.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	cp, err := store.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var n int
	if err := cp.QueryRowContext(ctx, `SELECT count(*) FROM lists`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("lists in backup = %d, %v", n, err)
	}
}
