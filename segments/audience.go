package segments

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// Querier is what Count needs: *store.DB (read pool), *store.Tx, *sql.DB and
// *sql.Tx all have it.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// AudienceWhere is a mailing's audience, shared by Count and the campaign
// snapshot: subscribers.MarketingWhere (the one marketing rule) for lists
// (slugs) and r (nil: everyone) as a boolean SQL expression over
// `subscribers AS s`. Use it as
//
//	SELECT s.id FROM subscribers AS s WHERE <where>
//
// lists must not be empty: defaulting to "newsletter" is the caller's choice,
// never an accident here. Subquery aliases start with seg_ or mk_.
func AudienceWhere(r *Rule, lists []string, now time.Time) (string, []any, error) {
	return AudienceWhereFor(r, subscribers.Mailing{Lists: lists}, now)
}

// AudienceWhereFor is AudienceWhere for a mailing that may also reach
// existing customers (subscribers.Mailing.ExistingCustomers).
func AudienceWhereFor(r *Rule, m subscribers.Mailing, now time.Time) (string, []any, error) {
	if len(m.Lists) == 0 {
		return "", nil, errs.Invalidf("lists", "an audience needs at least one list")
	}
	return audienceWhere(r, m, now)
}

// audienceWhere is AudienceWhereFor; no lists means an active subscription to any list.
func audienceWhere(r *Rule, m subscribers.Mailing, now time.Time) (string, []any, error) {
	if r == nil {
		where, args := subscribers.MarketingWhereFor(m, "")
		return where, args, nil
	}
	rw, rargs, err := r.SQL(now)
	if err != nil {
		return "", nil, err
	}
	where, args := subscribers.MarketingWhereFor(m, rw, rargs...)
	return where, args, nil
}

// Count counts the audience of r on lists (see AudienceWhere) at now.
// With no lists it counts subscribers reachable through any list, which is
// what a segment's own count shows.
func Count(ctx context.Context, q Querier, r *Rule, lists []string, now time.Time) (int, error) {
	where, args, err := audienceWhere(r, subscribers.Mailing{Lists: lists}, now)
	if err != nil {
		return 0, err
	}
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM subscribers AS s WHERE "+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("segments: count: %w", err)
	}
	return n, nil
}

// Matches reports whether subscriber id matches r at now (the rule alone,
// not the marketing rule): a flow's condition step asks it for one person.
func Matches(ctx context.Context, q Querier, r Rule, id int64, now time.Time) (bool, error) {
	where, args, err := r.SQL(now)
	if err != nil {
		return false, err
	}
	var one int
	err = q.QueryRowContext(ctx, "SELECT 1 FROM subscribers AS s WHERE s.id = ? AND ("+where+")",
		append([]any{id}, args...)...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("segments: match %d: %w", id, err)
	}
	return true, nil
}
