package flows

import (
	"context"
	"database/sql"
	"fmt"
)

// querier is what UsingSegment reads through: the read pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// UsingSegment names the flows whose audience is the segment (kept here
// because this package owns flows; web runs no SQL).
func UsingSegment(ctx context.Context, q querier, segmentID int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT slug FROM flows WHERE segment_id = ? ORDER BY slug`, segmentID)
	if err != nil {
		return nil, fmt.Errorf("flows: using segment %d: %w", segmentID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return nil, fmt.Errorf("flows: using segment %d: %w", segmentID, err)
		}
		out = append(out, slug)
	}
	return out, rows.Err()
}
