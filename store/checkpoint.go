package store

import (
	"context"
	"fmt"
	"time"
)

// Checkpoint copies the write-ahead log into the database file and truncates
// the log to zero bytes. After an erasure the log still holds the pages as
// they were before, with the erased person's data; with secure_delete on,
// the database file itself keeps none once the log is folded in.
//
// TRUNCATE waits (busy_timeout) for readers of older snapshots to finish; a
// reader that holds on reports busy, and the checkpoint is tried again.
//
// On PostgreSQL it does nothing: the server recycles its own log, and what a
// deleted row leaves behind is VACUUM's and the operator's to clear.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.dialect == Postgres {
		return nil
	}
	var busy, logFrames, done int
	for attempt := range 5 {
		if err := db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("store: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return fmt.Errorf("store: checkpoint: readers kept the log busy (%d of %d frames copied)", done, logFrames)
}
