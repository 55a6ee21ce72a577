package events

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
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

// periodFigures reads the orders of the period and of the equally long one
// before it in one range of the shop_orders_placed index (covering: no row
// lookups), grouped by customer; then, for each customer, their figures on
// subscribers by primary key instead of their whole order history:
// first_order_at before the period means an earlier order, and when their
// last order is before To their order_total is their revenue up to To.
// ?1 is the start of the previous period, ?2 From, ?3 To.
const periodFigures = `WITH g AS (
	SELECT subscriber_id AS id,
		sum(placed_at >= ?2) AS n,
		sum(CASE WHEN placed_at >= ?2 THEN total ELSE 0 END) AS rev,
		max(placed_at < ?2) AS prev
	FROM shop_orders
	WHERE placed_at >= ?1 AND placed_at < ?3 AND subscriber_id IS NOT NULL
	GROUP BY subscriber_id
)
SELECT
	coalesce(sum(g.n > 0), 0),
	coalesce(sum(g.n > 0 AND (g.n >= 2 OR s.first_order_at < ?2)), 0),
	coalesce(sum(g.n), 0),
	coalesce(sum(g.rev), 0),
	coalesce(sum(CASE WHEN g.n = 0 THEN 0
		WHEN s.last_order_at < ?3 THEN s.order_total
		ELSE (SELECT sum(o.total) FROM shop_orders AS o WHERE o.subscriber_id = g.id AND o.placed_at < ?3) END), 0),
	coalesce(sum(g.prev), 0),
	coalesce(sum(g.prev AND g.n > 0), 0)
FROM g JOIN subscribers AS s ON s.id = g.id`

// Figures computes the order figures of [from, to).
func Figures(ctx context.Context, q Querier, from, to time.Time) (PeriodFigures, error) {
	var f PeriodFigures
	prevFrom := from.Add(-to.Sub(from))
	err := q.QueryRowContext(ctx, periodFigures, prevFrom.Unix(), from.Unix(), to.Unix()).
		Scan(&f.Customers, &f.Repeat, &f.Orders, &f.Revenue, &f.LifetimeRevenue, &f.Previous, &f.Retained)
	if err != nil {
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
// to. Months are calendar months in loc, the shop's zone (nil: UTC).
func Cohorts(ctx context.Context, q Querier, from, to time.Time, loc *time.Location) ([]CohortCell, error) {
	rows, err := q.QueryContext(ctx, `WITH c AS (
		SELECT id, `+store.LocalMonth("first_order_at", loc, from, to)+` AS cohort FROM subscribers
		WHERE first_order_at >= ?1 AND first_order_at < ?2
	)
	SELECT c.cohort, `+store.LocalMonth("o.placed_at", loc, from, to)+` AS m, count(DISTINCT c.id)
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
