package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/store"
)

// passPage is how many customers Pass reads at a time; each page's changes
// are written in one short transaction.
const passPage = 1000

// Pass recomputes every customer's stage at now: time alone moves customers
// to lapsing and lost, and a regular by months back to repeat buyer. The
// scheduler runs it daily. Pages are read from the read pool; only the
// customers whose stage differs are recomputed, in a write transaction, so a
// pass over a million customers holds the writer only for the moves. It
// returns the number of changes.
func (s *Service) Pass(ctx context.Context, now time.Time) (int, error) {
	var after int64
	changed := 0
	for {
		page, err := events.OrderSummaries(ctx, s.db, after, passPage, now, s.cfg.RegularWindow)
		if err != nil {
			return changed, err
		}
		if len(page) == 0 {
			break
		}
		lo, hi := page[0].SubscriberID, page[len(page)-1].SubscriberID
		stages, err := s.pageStages(ctx, lo, hi)
		if err != nil {
			return changed, err
		}
		scores, err := s.pageScores(ctx, lo, hi)
		if err != nil {
			return changed, err
		}
		var moved []int64
		for _, o := range page {
			score, ok := scores[o.SubscriberID]
			if !ok {
				score = NoScore
			}
			old, ok := stages[o.SubscriberID]
			if !ok {
				old = Prospect
			}
			if Compute(s.cfg, o, score, now) != old {
				moved = append(moved, o.SubscriberID)
			}
		}
		if len(moved) > 0 {
			err := s.db.Tx(ctx, func(tx *store.Tx) error {
				for _, id := range moved {
					if _, ok, err := s.Recompute(ctx, tx, id); err != nil {
						return err
					} else if ok {
						changed++
					}
				}
				return nil
			})
			if err != nil {
				return changed, err
			}
		}
		after = hi
		if len(page) < passPage {
			break
		}
	}
	if changed > 0 {
		s.log.InfoContext(ctx, "stages recomputed", "changes", changed)
	}
	return changed, nil
}

func (s *Service) pageStages(ctx context.Context, lo, hi int64) (map[int64]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id, stage FROM subscriber_stages
		WHERE subscriber_id BETWEEN ? AND ?`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("retention: pass stages: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]string, passPage)
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, fmt.Errorf("retention: pass stages: %w", err)
		}
		out[id] = st
	}
	return out, rows.Err()
}

// pageScores returns each subscriber's latest score: rows come oldest
// first, so the last one read wins, as in latestScore.
func (s *Service) pageScores(ctx context.Context, lo, hi int64) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id, score FROM nps_answers
		WHERE subscriber_id BETWEEN ? AND ? ORDER BY subscriber_id, answered_at, survey`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("retention: pass scores: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var score int
		if err := rows.Scan(&id, &score); err != nil {
			return nil, fmt.Errorf("retention: pass scores: %w", err)
		}
		out[id] = score
	}
	return out, rows.Err()
}
