package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// TestGroupCommit: concurrent callers each get their own outcome; a failing
// job is refused alone and the others of its batch are written; a caller who
// gave up writes nothing.
func TestGroupCommit(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	bad := errors.New("refused")
	var afters int
	g := store.NewGroupCommit(db, 8, func(ctx context.Context, tx *store.Tx, key string) error {
		if key == "bad" || key == "bad2" {
			return bad
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, 'v')`, key)
		return err
	}, func() { afters++ })

	var wg sync.WaitGroup
	errc := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%03d", i)
			switch i {
			case 50:
				key = "bad"
			case 120:
				key = "bad2"
			}
			err := g.Do(ctx, key)
			if (key == "bad" || key == "bad2") != errors.Is(err, bad) {
				errc <- fmt.Errorf("%s: %v", key, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM settings`).Scan(&n)
	if n != 198 {
		t.Fatalf("rows = %d, want 198", n)
	}
	if afters == 0 {
		t.Fatal("after never ran")
	}

	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.Do(gone, "late"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	db.QueryRow(`SELECT count(*) FROM settings WHERE key = 'late'`).Scan(&n)
	if n != 0 {
		t.Fatal("a cancelled caller's work was written")
	}
}
