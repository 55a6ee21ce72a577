package retention

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// AnswerWindow is how long after the first click another click changes the
// score: a customer who slipped can correct it, but an old mail cannot
// rewrite an answer weeks later.
const AnswerWindow = 24 * time.Hour

// MaxComment bounds the comment a customer leaves with a score.
const MaxComment = 4000

// Answer records an NPS score (0-10) for the subscriber and survey (an
// order id, or ""). Repeating a click changes nothing; another score within
// AnswerWindow of the first click replaces it; later ones are ignored. The
// stage is recomputed in the same transaction (a promoter needs the score).
func (s *Service) Answer(ctx context.Context, subscriberID int64, survey string, score int) error {
	if score < 0 || score > 10 {
		return errs.Invalidf("score", "score must be a whole number from 0 to 10")
	}
	if len(survey) > 200 || !utf8.ValidString(survey) {
		return errs.Invalidf("survey", "survey must be at most 200 bytes of UTF-8")
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		now := tx.Now.Unix()
		res, err := tx.ExecContext(ctx, `INSERT INTO nps_answers (subscriber_id, survey, score, first_at, answered_at)
			SELECT id, ?, ?, ?, ? FROM subscribers WHERE id = ?
			ON CONFLICT (subscriber_id, survey) DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at
			WHERE excluded.answered_at - nps_answers.first_at <= ? AND nps_answers.score <> excluded.score`,
			survey, score, now, now, subscriberID, int64(AnswerWindow/time.Second))
		if err != nil {
			return fmt.Errorf("retention: answer of %d: %w", subscriberID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a repeated or late click, or no such subscriber
		}
		_, _, err = s.Recompute(ctx, tx, subscriberID)
		return err
	})
}

// Comment stores the customer's comment on their answer to survey; it needs
// an answer first.
func (s *Service) Comment(ctx context.Context, subscriberID int64, survey, comment string) error {
	comment = strings.TrimSpace(comment)
	if len(comment) > MaxComment || !utf8.ValidString(comment) {
		return errs.Invalidf("comment", "comment must be at most %d bytes of UTF-8", MaxComment)
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE nps_answers SET comment = ? WHERE subscriber_id = ? AND survey = ?`,
			comment, subscriberID, survey)
		if err != nil {
			return fmt.Errorf("retention: comment of %d: %w", subscriberID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("answer")
		}
		return nil
	})
}

// NPSAnswer is one stored answer.
type NPSAnswer struct {
	Survey     string    `json:"survey"`
	Score      int       `json:"score"`
	Comment    string    `json:"comment,omitempty"`
	AnsweredAt time.Time `json:"answered_at"`
}

// Answers returns the subscriber's answers, newest first.
func (s *Service) Answers(ctx context.Context, subscriberID int64) ([]NPSAnswer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT survey, score, comment, answered_at FROM nps_answers
		WHERE subscriber_id = ? ORDER BY answered_at DESC, survey DESC`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("retention: answers of %d: %w", subscriberID, err)
	}
	defer rows.Close()
	out := []NPSAnswer{}
	for rows.Next() {
		var a NPSAnswer
		var at int64
		if err := rows.Scan(&a.Survey, &a.Score, &a.Comment, &at); err != nil {
			return nil, fmt.Errorf("retention: answers of %d: %w", subscriberID, err)
		}
		a.AnsweredAt = time.Unix(at, 0).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// Detractor is an NPS answer from 0 to 6: someone the shop may call back.
type Detractor struct {
	SubscriberID int64     `json:"subscriber_id"`
	Email        string    `json:"email"`
	Survey       string    `json:"survey"`
	Score        int       `json:"score"`
	Comment      string    `json:"comment,omitempty"`
	AnsweredAt   time.Time `json:"answered_at"`
}

// Detractors returns the latest answers from 0 to 6 with the subscriber's
// address, newest first, at most limit (1 to 500; default 50). Like Answer,
// it reads the subscribers table retention's rows belong to.
func (s *Service) Detractors(ctx context.Context, limit int) ([]Detractor, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	// Addresses come from package subscribers (its table), in one read.
	rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id, survey, score, comment, answered_at
		FROM nps_answers WHERE score <= 6 ORDER BY answered_at DESC, subscriber_id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("retention: detractors: %w", err)
	}
	defer rows.Close()
	out := []Detractor{}
	var ids []int64
	for rows.Next() {
		var d Detractor
		var at int64
		if err := rows.Scan(&d.SubscriberID, &d.Survey, &d.Score, &d.Comment, &at); err != nil {
			return nil, fmt.Errorf("retention: detractors: %w", err)
		}
		d.AnsweredAt = time.Unix(at, 0).UTC()
		out = append(out, d)
		ids = append(ids, d.SubscriberID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention: detractors: %w", err)
	}
	rows.Close()
	who, err := subscribers.Recipients(ctx, s.db, ids, nil)
	if err != nil {
		return nil, fmt.Errorf("retention: detractors: %w", err)
	}
	for i := range out {
		out[i].Email = who[out[i].SubscriberID].Email
	}
	return out, nil
}
