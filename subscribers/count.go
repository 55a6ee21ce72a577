package subscribers

import (
	"context"
	"fmt"
)

// Count returns how many subscribers there are, in any status: the retention
// report counts those without a stage as prospects.
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("subscribers: count: %w", err)
	}
	return n, nil
}
