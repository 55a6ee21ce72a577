package store_test

import (
	"context"
	"os"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// After Checkpoint the write-ahead log is empty, and with secure_delete a
// deleted row's bytes are gone from the database file too.
func TestCheckpointLeavesNoDeletedBytes(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	secret := "geheim-7f3a9c@example.com"
	err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox (recipient, subject, raw, created_at) VALUES (?, 's', ?, 0)`, secret, []byte("To: "+secret))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db.Path() + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after a TRUNCATE checkpoint", fi.Size())
	}
	b, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if contains(b, secret) {
		t.Error("the deleted row's bytes are still in the database file")
	}
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
