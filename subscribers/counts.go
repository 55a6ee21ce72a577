package subscribers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/treu-mail/treu/store"
)

// Reads the marketer's pages need, kept here because this package owns the
// tables (web and cmd run no SQL).

// CountByStatus counts subscribers by status (pending, active, unsubscribed).
// It reads subscriber_counts, which triggers keep (migration 0016): three
// rows, not a million.
func CountByStatus(ctx context.Context, q Querier) (map[string]int64, error) {
	out, err := store.CountBy(ctx, q, `SELECT status, n FROM subscriber_counts`)
	if err != nil {
		return nil, fmt.Errorf("subscribers: count by status: %w", err)
	}
	return out, nil
}

// ListSize is a list with its number of active subscriptions.
type ListSize struct {
	Slug, Name string
	Active     int64
}

// ListSizes is the number of active subscriptions per list, from list_counts
// (kept by triggers, migration 0016). It does not apply the marketing rule (the
// subscriber's own status, suppressions): it is the size of the list, not a
// campaign's audience.
func ListSizes(ctx context.Context, q Querier) ([]ListSize, error) {
	rows, err := q.QueryContext(ctx, `SELECT l.slug, l.name,
		coalesce((SELECT c.listed FROM list_counts c WHERE c.list_id = l.id), 0)
		FROM lists l ORDER BY l.name`)
	if err != nil {
		return nil, fmt.Errorf("subscribers: list sizes: %w", err)
	}
	defer rows.Close()
	var out []ListSize
	for rows.Next() {
		var l ListSize
		if err := rows.Scan(&l.Slug, &l.Name, &l.Active); err != nil {
			return nil, fmt.Errorf("subscribers: list sizes: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Growth counts the subscribers who became active on each of days days
// from first (a midnight in the shop's zone; days are midnight to midnight in
// first's location, 23 or 25 hours long across a DST change) and are still
// active: confirmed_at, or created_at for those enrolled with proven consent.
// The query counts quarter-hours (zones differ from UTC by whole
// quarter-hours) and Go adds them up per local date. The (status,
// created_at) index bounds the scan so it stays fast at a million
// subscribers: an unconfirmed subscriber is purged MaxPendingTTL after the
// last confirmation mail, so looking that much further back finds the new
// ones (only one whose confirmation was re-sent late may be missed). A
// returning subscriber's row is older: not new.
func Growth(ctx context.Context, q Querier, first time.Time, days int) ([]int64, error) {
	const slot = int64(15 * time.Minute / time.Second)
	loc, since := first.Location(), first.Unix()
	rows, err := q.QueryContext(ctx, `SELECT (coalesce(confirmed_at, created_at) - ?1) / ?2, count(*) FROM subscribers
		WHERE status = 'active' AND created_at >= ?1 - ?3 AND coalesce(confirmed_at, created_at) >= ?1
		GROUP BY 1`, since, slot, int64(MaxPendingTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("subscribers: growth: %w", err)
	}
	defer rows.Close()
	counts := make([]int64, days)
	firstDate := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	for rows.Next() {
		var i, n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, fmt.Errorf("subscribers: growth: %w", err)
		}
		t := time.Unix(since+i*slot, 0).In(loc)
		d := int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Sub(firstDate) / (24 * time.Hour))
		if d >= 0 && d < days { // a clock set back could put one in the future
			counts[d] += n
		}
	}
	return counts, rows.Err()
}

// SearchFilter is one page of a subscriber search.
type SearchFilter struct {
	Q      string // the start of the address or of the name, any case
	List   string // slug: only those active on it
	Status string // pending, active, unsubscribed
	Before int64  // keyset: ids below this
	Limit  int
}

// Found is a row of a subscriber search.
type Found struct {
	ID          int64
	Email, Name string
	Status      string
	CreatedAt   time.Time
	OrderCount  int64
	OrderTotal  float64
}

// Search pages through subscribers newest first. Every shape of the query
// walks an index in id order and stops after one page (under 3 ms at a
// million subscribers, BenchmarkSearch). A text search matches the start of
// the address (email_key, indexed) or of the name (lower(name), indexed):
// when few match (fewer than prefixDense in both indexes) they are fetched
// through those indexes and sorted; when many do, the id-order walk finds a
// page of them quickly.
func Search(ctx context.Context, q Querier, f SearchFilter) ([]Found, error) {
	sparse := false
	if p := searchPrefixes(f.Q); p != nil {
		var n int
		err := q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM subscribers WHERE email_key >= ? AND email_key < ? LIMIT ?))
			+ (SELECT count(*) FROM (SELECT 1 FROM subscribers WHERE lower(name) >= ? AND lower(name) < ? LIMIT ?))`,
			p[0], p[1], prefixDense, p[2], p[3], prefixDense).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("subscribers: search: %w", err)
		}
		sparse = n < prefixDense
	}
	query, args := searchQuery(f, sparse)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("subscribers: search: %w", err)
	}
	defer rows.Close()
	var out []Found
	for rows.Next() {
		var r Found
		var created int64
		if err := rows.Scan(&r.ID, &r.Email, &r.Name, &r.Status, &created, &r.OrderCount, &r.OrderTotal); err != nil {
			return nil, fmt.Errorf("subscribers: search: %w", err)
		}
		r.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// prefixDense: a search prefix matching this many rows or more in its
// indexes is looked for by walking ids instead (at 5% of a million or more a
// page of them is usually near). Below it, counting the matches in the index
// and sorting them costs a few ms; "anna muster77" (28,000 names, all with
// ids far below the newest) took 480 ms by the walk.
const prefixDense = 50_000

// searchPrefixes gives the index ranges [lo, hi) a search text covers: the
// address's (email_key is lower-cased by Go) and the name's (SQLite's
// lower() folds ASCII only). nil for no text.
func searchPrefixes(q string) []string {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil
	}
	// U+10FFFF sorts after every character that can follow the prefix.
	const top = "\U0010FFFF"
	email := strings.ToLower(q)
	name := asciiLower(q)
	return []string{email, email + top, name, name + top}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// searchQuery builds the search for one page; sparse: few match the text
// (see Search).
func searchQuery(f SearchFilter, sparse bool) (string, []any) {
	var (
		from  = `subscribers s`
		where []string
		args  []any
		order = `s.id DESC`
	)
	if f.List != "" {
		// Driven by the (list_id, status, subscriber_id) index: the list's
		// members come out in id order, so the keyset needs no sort.
		from = `subscriptions m JOIN subscribers s ON s.id = m.subscriber_id`
		where = append(where, `m.list_id = (SELECT id FROM lists WHERE slug = ?)`, `m.status = 'active'`)
		args = append(args, f.List)
		order = `m.subscriber_id DESC`
		if f.Before > 0 {
			where = append(where, `m.subscriber_id < ?`)
			args = append(args, f.Before)
		}
	} else if f.Before > 0 {
		where = append(where, `s.id < ?`)
		args = append(args, f.Before)
	}
	if f.Status != "" {
		// The unary + keeps SQLite off the (status, created_at) index, which
		// would make it sort every active subscriber by id for one page.
		where = append(where, `+s.status = ?`)
		args = append(args, f.Status)
	}
	if p := searchPrefixes(f.Q); p != nil {
		if sparse {
			where = append(where, `s.id IN (SELECT id FROM subscribers WHERE email_key >= ? AND email_key < ?
				UNION ALL SELECT id FROM subscribers WHERE lower(name) >= ? AND lower(name) < ?)`)
		} else {
			// The unary + keeps SQLite on the id-order walk: through the
			// prefix indexes it would sort every match for one page.
			where = append(where, `((+s.email_key >= ? AND +s.email_key < ?) OR (+lower(s.name) >= ? AND +lower(s.name) < ?))`)
		}
		args = append(args, p[0], p[1], p[2], p[3])
	}
	query := `SELECT s.id, s.email, s.name, s.status, s.created_at, s.order_count, s.order_total FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, max(f.Limit, 1))
	return query, args
}
