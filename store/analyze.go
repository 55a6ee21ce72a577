package store

import (
	"context"
	"fmt"
)

// Analyze refreshes the query planner's statistics (sqlite_stat1), as wanted
// after migrations and large imports. analysis_limit samples each index
// instead of reading it whole, so this holds the writer for milliseconds
// even at a million rows.
func (db *DB) Analyze(ctx context.Context) error {
	return db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `PRAGMA analysis_limit = 1000`); err != nil {
			return fmt.Errorf("store: analyze: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `ANALYZE`); err != nil {
			return fmt.Errorf("store: analyze: %w", err)
		}
		return nil
	})
}
