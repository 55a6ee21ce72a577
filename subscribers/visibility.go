package subscribers

import (
	"context"
	"fmt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// SetListPublic makes a list public (offered on the sign-up form and the
// preference page) or private (the shop's own: VIPs, imports). Members stay
// members either way.
func (s *Service) SetListPublic(ctx context.Context, slug string, public bool) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE lists SET public = ? WHERE slug = ?`, public, slug)
		if err != nil {
			return fmt.Errorf("subscribers: list %s: %w", slug, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("list %q not found", truncate(slug, 64))
		}
		return nil
	})
}

// PublicLists are the lists the sign-up form offers.
func (s *Service) PublicLists(ctx context.Context) ([]List, error) {
	all, err := s.Lists(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, l := range all {
		if l.Public {
			out = append(out, l)
		}
	}
	return out, nil
}

// privateListIDs are the ids of the private lists, which the preference page
// neither shows nor changes.
func privateListIDs(ctx context.Context, q querier) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM lists WHERE public = 0`)
	if err != nil {
		return nil, fmt.Errorf("subscribers: private lists: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("subscribers: private lists: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
