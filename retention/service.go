package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/store"
)

// Change is one move between stages.
type Change struct {
	SubscriberID int64     `json:"subscriber_id"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	At           time.Time `json:"at"`
}

// Listener hears a Change inside the transaction that stores it; an error
// rolls the move back (and, on an order, the order with it, to be retried).
type Listener func(ctx context.Context, tx *store.Tx, c Change) error

// Service keeps the stages.
type Service struct {
	db        *store.DB
	log       *slog.Logger
	cfg       Config
	listeners []Listener

	// Links signs and checks the NPS links; nil: no survey pages. Set once
	// before the server starts.
	Links *SurveyLinks
	// Attribution, if set, gives the report the revenue credited to mails.
	// Set once before the server starts.
	Attribution Attribution
}

// New returns a Service; cfg's zero values take the defaults.
func New(db *store.DB, cfg Config, log *slog.Logger) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{db: db, log: log, cfg: cfg}, nil
}

// Config returns the thresholds in use.
func (s *Service) Config() Config { return s.cfg }

// OnChange registers fn for every stage change. Register before the server
// starts: the list is read without a lock.
func (s *Service) OnChange(fn Listener) { s.listeners = append(s.listeners, fn) }

// Querier reads: a *store.Tx or the *store.DB read pool.
type Querier = events.Querier

// latestScore returns the subscriber's latest NPS score, or NoScore.
func latestScore(ctx context.Context, q Querier, subscriberID int64) (int, error) {
	var score int
	err := q.QueryRowContext(ctx, `SELECT score FROM nps_answers WHERE subscriber_id = ?
		ORDER BY answered_at DESC, survey DESC LIMIT 1`, subscriberID).Scan(&score)
	if errors.Is(err, sql.ErrNoRows) {
		return NoScore, nil
	}
	if err != nil {
		return 0, fmt.Errorf("retention: nps of %d: %w", subscriberID, err)
	}
	return score, nil
}

// storedStage returns the stored stage, Prospect when there is none.
func storedStage(ctx context.Context, q Querier, subscriberID int64) (string, time.Time, error) {
	var stage string
	var since int64
	err := q.QueryRowContext(ctx, `SELECT stage, since FROM subscriber_stages WHERE subscriber_id = ?`, subscriberID).Scan(&stage, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return Prospect, time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("retention: stage of %d: %w", subscriberID, err)
	}
	return stage, time.Unix(since, 0).UTC(), nil
}

// Recompute computes the subscriber's stage at tx.Now and stores a change.
// It returns the change, or ok false when the stage stays. Called by the
// order and link hooks in their transaction, and by Pass.
func (s *Service) Recompute(ctx context.Context, tx *store.Tx, subscriberID int64) (c Change, ok bool, err error) {
	o, err := events.OrderSummaryOf(ctx, tx, subscriberID, tx.Now, s.cfg.RegularWindow)
	if err != nil {
		return Change{}, false, err
	}
	score, err := latestScore(ctx, tx, subscriberID)
	if err != nil {
		return Change{}, false, err
	}
	return s.store(ctx, tx, subscriberID, Compute(s.cfg, o, score, tx.Now))
}

// store writes stage for the subscriber if it differs from the stored one.
func (s *Service) store(ctx context.Context, tx *store.Tx, subscriberID int64, stage string) (Change, bool, error) {
	old, _, err := storedStage(ctx, tx, subscriberID)
	if err != nil {
		return Change{}, false, err
	}
	if old == stage {
		return Change{}, false, nil
	}
	now := tx.Now.Unix()
	_, err = tx.ExecContext(ctx, `INSERT INTO subscriber_stages (subscriber_id, stage, since, updated_at)
		SELECT id, ?, ?, ? FROM subscribers WHERE id = ?
		ON CONFLICT (subscriber_id) DO UPDATE SET stage = excluded.stage, since = excluded.since, updated_at = excluded.updated_at`,
		stage, now, now, subscriberID)
	if err != nil {
		return Change{}, false, fmt.Errorf("retention: store stage of %d: %w", subscriberID, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO stage_changes (subscriber_id, from_stage, to_stage, changed_at)
		SELECT id, ?, ?, ? FROM subscribers WHERE id = ?`, old, stage, now, subscriberID)
	if err != nil {
		return Change{}, false, fmt.Errorf("retention: store change of %d: %w", subscriberID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Change{}, false, nil // no such subscriber (erased meanwhile)
	}
	c := Change{SubscriberID: subscriberID, From: old, To: stage, At: tx.Now}
	for _, fn := range s.listeners {
		if err := fn(ctx, tx, c); err != nil {
			return Change{}, false, fmt.Errorf("retention: stage change of %d: %w", subscriberID, err)
		}
	}
	return c, true, nil
}

// Stage is where a subscriber stands.
type Stage struct {
	Stage string    `json:"stage"`
	Since time.Time `json:"since,omitzero"` // zero for a prospect who never moved
}

// Current returns the subscriber's stored stage (Prospect without a row).
func (s *Service) Current(ctx context.Context, subscriberID int64) (Stage, error) {
	st, since, err := storedStage(ctx, s.db, subscriberID)
	return Stage{Stage: st, Since: since}, err
}

// History returns the subscriber's moves, oldest first.
func (s *Service) History(ctx context.Context, subscriberID int64) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT from_stage, to_stage, changed_at FROM stage_changes
		WHERE subscriber_id = ? ORDER BY changed_at, id`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("retention: history of %d: %w", subscriberID, err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		c := Change{SubscriberID: subscriberID}
		var at int64
		if err := rows.Scan(&c.From, &c.To, &at); err != nil {
			return nil, fmt.Errorf("retention: history of %d: %w", subscriberID, err)
		}
		c.At = time.Unix(at, 0).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention: history of %d: %w", subscriberID, err)
	}
	return out, nil
}
