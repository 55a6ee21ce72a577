package store

import (
	"context"
	"database/sql"
	"fmt"
)

// CountBy runs a "label, count(*) ... GROUP BY label" query and returns the
// counts by label, for the owning packages' status figures.
func CountBy(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, query string, args ...any) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var label string
		var n int64
		if err := rows.Scan(&label, &n); err != nil {
			return nil, fmt.Errorf("store: count by: %w", err)
		}
		out[label] = n
	}
	return out, rows.Err()
}
