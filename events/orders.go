package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
)

// MonthSeconds is the length of a "month" in ActiveMonths: 30 days, so the
// count does not depend on a calendar or a time zone.
const MonthSeconds = 30 * 24 * 3600

// OrderSummary is a subscriber's order history in the figures package
// retention needs to place them on the ladder.
type OrderSummary struct {
	SubscriberID int64
	Count        int
	First, Last  time.Time // zero when Count is 0
	// ActiveMonths counts the 30-day months, of the window months before
	// now, that hold at least one order.
	ActiveMonths int
}

// The figures on subscribers are kept by Ingest and Link; only the active
// months need the orders themselves (a range on shop_orders_subscriber).
const summaryCols = `s.id, s.order_count, s.first_order_at, s.last_order_at,
	(SELECT count(DISTINCT (?1 - o.placed_at) / 2592000) FROM shop_orders AS o
	  WHERE o.subscriber_id = s.id AND o.placed_at > ?2 AND o.placed_at <= ?1)`

func scanSummary(sc interface{ Scan(...any) error }) (OrderSummary, error) {
	var o OrderSummary
	var first, last sql.NullInt64
	if err := sc.Scan(&o.SubscriberID, &o.Count, &first, &last, &o.ActiveMonths); err != nil {
		return OrderSummary{}, err
	}
	if first.Valid {
		o.First = time.Unix(first.Int64, 0).UTC()
	}
	if last.Valid {
		o.Last = time.Unix(last.Int64, 0).UTC()
	}
	return o, nil
}

// OrderSummaryOf returns the subscriber's summary at now, window months back.
// A subscriber that does not exist has a zero summary.
func OrderSummaryOf(ctx context.Context, q Querier, subscriberID int64, now time.Time, window int) (OrderSummary, error) {
	o, err := scanSummary(q.QueryRowContext(ctx, `SELECT `+summaryCols+` FROM subscribers AS s WHERE s.id = ?3`,
		now.Unix(), now.Unix()-int64(window)*MonthSeconds, subscriberID))
	if errors.Is(err, sql.ErrNoRows) {
		return OrderSummary{SubscriberID: subscriberID}, nil
	}
	if err != nil {
		return OrderSummary{}, fmt.Errorf("events: order summary %d: %w", subscriberID, err)
	}
	return o, nil
}

// OrderSummaries pages through the subscribers with at least one order, by
// id after afterID: the daily pass of package retention.
func OrderSummaries(ctx context.Context, q Querier, afterID int64, limit int, now time.Time, window int) ([]OrderSummary, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+summaryCols+` FROM subscribers AS s
		WHERE s.id > ?3 AND s.order_count > 0 ORDER BY s.id LIMIT ?4`,
		now.Unix(), now.Unix()-int64(window)*MonthSeconds, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("events: order summaries: %w", err)
	}
	defer rows.Close()
	var out []OrderSummary
	for rows.Next() {
		o, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("events: order summaries: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: order summaries: %w", err)
	}
	return out, nil
}

// LastOrders returns, for each of the subscribers that has an order, when
// their latest order was placed: a flow checks a batch of runs for the
// order exit with one query.
func LastOrders(ctx context.Context, q Querier, ids []int64) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT subscriber_id, max(placed_at) FROM shop_orders
		WHERE subscriber_id IN (SELECT value FROM json_each(?)) GROUP BY subscriber_id`, store.JSONInts(ids))
	if err != nil {
		return nil, fmt.Errorf("events: last orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("events: last orders: %w", err)
		}
		out[id] = time.Unix(at, 0).UTC()
	}
	return out, rows.Err()
}
