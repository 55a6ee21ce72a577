package segments

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Querier is what Count needs: *store.DB (read pool), *store.Tx, *sql.DB and
// *sql.Tx all have it.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// hashFunc is the SQL function, registered by package store, that gives the
// hex sha256 of its text argument; suppressions are keyed by that hash of
// email_key.
const hashFunc = store.SHA256HexFunc

// AudienceWhere is the one definition of a mailing's audience, shared by Count
// and the campaign snapshot: a boolean SQL expression over `subscribers AS s`
// that holds for subscribers who are active, have an active subscription to
// at least one of lists (slugs), match r (nil: everyone), and are not
// suppressed. Use it as
//
//	SELECT s.id FROM subscribers AS s WHERE <where>
//
// lists must not be empty: defaulting to "newsletter" is the caller's choice,
// never an accident here. Subquery aliases start with seg_ or aud_.
func AudienceWhere(r *Rule, lists []string, now time.Time) (string, []any, error) {
	if len(lists) == 0 {
		return "", nil, errs.Invalidf("lists", "an audience needs at least one list")
	}
	return audienceWhere(r, lists, now)
}

// audienceWhere is AudienceWhere; no lists means an active subscription to any list.
func audienceWhere(r *Rule, lists []string, now time.Time) (string, []any, error) {
	var b strings.Builder
	var args []any
	// The unary + keeps SQLite from using the status index: without ANALYZE
	// statistics it would scan 90% of subscribers through it instead of
	// letting a selective rule (an attribute, a small list) drive by rowid.
	b.WriteString("+s.status = 'active' AND EXISTS (SELECT 1 FROM subscriptions AS aud_sub WHERE aud_sub.subscriber_id = s.id AND aud_sub.status = 'active'")
	if len(lists) > 0 {
		// Resolve slugs to ids first, so each subscriber costs one primary-key
		// probe per list instead of a join.
		b.WriteString(" AND aud_sub.list_id IN (SELECT aud_l.id FROM lists AS aud_l WHERE aud_l.slug " + placeholders(len(lists)) + ")")
		for _, l := range lists {
			args = append(args, l)
		}
	}
	b.WriteString(")")
	if r != nil {
		where, rargs, err := r.SQL(now)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(" AND (" + where + ")")
		args = append(args, rargs...)
	}
	// Last, so the costly hash runs only for rows that passed everything else.
	// The first, uncorrelated test is evaluated once and skips hashing
	// altogether while nobody is suppressed.
	b.WriteString(" AND (NOT EXISTS (SELECT 1 FROM suppressions) OR NOT EXISTS (SELECT 1 FROM suppressions AS aud_x WHERE aud_x.email_hash = " + hashFunc + "(s.email_key)))")
	return b.String(), args, nil
}

// Count counts the audience of r on lists (see AudienceWhere) at now.
// With no lists it counts subscribers reachable through any list, which is
// what a segment's own count shows.
func Count(ctx context.Context, q Querier, r *Rule, lists []string, now time.Time) (int, error) {
	where, args, err := audienceWhere(r, lists, now)
	if err != nil {
		return 0, err
	}
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM subscribers AS s WHERE "+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("segments: count: %w", err)
	}
	return n, nil
}
