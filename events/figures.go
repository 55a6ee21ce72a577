package events

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PeriodFigures are the order figures of a period [From, To) that the
// retention report is made of. A customer is a subscriber with orders
// (orders of addresses that never subscribed are pruned after 30 days, so
// they cannot have a history).
type PeriodFigures struct {
	Customers int64   // customers with an order in the period
	Repeat    int64   // ... of them with 2+ orders placed before To
	Orders    int64   // orders in the period
	Revenue   float64 // their totals
	// LifetimeRevenue is what this period's customers spent in all their
	// orders before To: divided by Customers, the historic lifetime value.
	LifetimeRevenue float64
	// Previous is the customers with an order in the period of the same
	// length just before; Retained, those of them who ordered again in this one.
	Previous, Retained int64
}

// The period's customers from the placed_at index; per customer the
// lifetime figures from shop_orders_subscriber.
const periodFigures = `WITH p AS (
	SELECT subscriber_id AS id, count(*) AS n, sum(total) AS rev FROM shop_orders
	WHERE placed_at >= ?1 AND placed_at < ?2 AND subscriber_id IS NOT NULL
	GROUP BY subscriber_id
), life AS (
	SELECT p.id, p.n, p.rev, (SELECT count(*) FROM shop_orders AS o WHERE o.subscriber_id = p.id AND o.placed_at < ?2) AS ln,
		(SELECT sum(o.total) FROM shop_orders AS o WHERE o.subscriber_id = p.id AND o.placed_at < ?2) AS lrev
	FROM p
)
SELECT count(*), coalesce(sum(ln >= 2), 0), coalesce(sum(n), 0), coalesce(sum(rev), 0), coalesce(sum(lrev), 0) FROM life`

const previousFigures = `WITH prev AS (
	SELECT DISTINCT subscriber_id AS id FROM shop_orders
	WHERE placed_at >= ?1 AND placed_at < ?2 AND subscriber_id IS NOT NULL
)
SELECT count(*), coalesce(sum(EXISTS (SELECT 1 FROM shop_orders AS o WHERE o.subscriber_id = prev.id AND o.placed_at >= ?2 AND o.placed_at < ?3)), 0)
FROM prev`

// Figures computes the order figures of [from, to).
func Figures(ctx context.Context, q Querier, from, to time.Time) (PeriodFigures, error) {
	var f PeriodFigures
	err := q.QueryRowContext(ctx, periodFigures, from.Unix(), to.Unix()).
		Scan(&f.Customers, &f.Repeat, &f.Orders, &f.Revenue, &f.LifetimeRevenue)
	if err != nil {
		return PeriodFigures{}, fmt.Errorf("events: figures: %w", err)
	}
	prevFrom := from.Add(-to.Sub(from))
	if err := q.QueryRowContext(ctx, previousFigures, prevFrom.Unix(), from.Unix(), to.Unix()).Scan(&f.Previous, &f.Retained); err != nil {
		return PeriodFigures{}, fmt.Errorf("events: figures: %w", err)
	}
	return f, nil
}

// CohortCell is how many customers of a cohort (the month, UTC, of their
// first order) ordered in a month.
type CohortCell struct {
	Cohort    string // "2026-01"
	Month     string // the month of the orders; Month == Cohort gives the cohort's size
	Customers int64
}

// Cohorts counts, for the customers whose first order falls in [from, to),
// the customers of each first-order month who ordered in each month up to
// to. Months are calendar months in UTC.
func Cohorts(ctx context.Context, q Querier, from, to time.Time) ([]CohortCell, error) {
	rows, err := q.QueryContext(ctx, `WITH c AS (
		SELECT id, strftime('%Y-%m', first_order_at, 'unixepoch') AS cohort FROM subscribers
		WHERE first_order_at >= ?1 AND first_order_at < ?2
	)
	SELECT c.cohort, strftime('%Y-%m', o.placed_at, 'unixepoch') AS m, count(DISTINCT c.id)
	FROM c JOIN shop_orders AS o ON o.subscriber_id = c.id AND o.placed_at < ?2
	GROUP BY c.cohort, m ORDER BY c.cohort, m`, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("events: cohorts: %w", err)
	}
	defer rows.Close()
	var out []CohortCell
	for rows.Next() {
		var c CohortCell
		var m sql.NullString
		if err := rows.Scan(&c.Cohort, &m, &c.Customers); err != nil {
			return nil, fmt.Errorf("events: cohorts: %w", err)
		}
		c.Month = m.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: cohorts: %w", err)
	}
	return out, nil
}
