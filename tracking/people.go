package tracking

import (
	"context"
	"fmt"
)

// Person is what one tracked recipient did with a mail: people only (no
// proxies, no scanners), so only subscribers who allow tracking, plus
// unsubscribes and credited orders, which name their subscriber anyway.
type Person struct {
	SubscriberID int64
	Opened       bool
	Clicked      bool
	Unsubscribed bool
	Orders       int64
	Revenue      float64
}

// People lists the recipients of mail who opened, clicked, unsubscribed or
// ordered. Package campaigns groups them by the A/B variant each got; the
// anonymous clicks of people without tracking consent name nobody and so
// count for the mail (Stats) but for no variant.
func (s *Service) People(ctx context.Context, mail string) ([]Person, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id, max(opened), max(clicked), max(unsub), sum(orders), sum(revenue) FROM (
		SELECT subscriber_id, 1 AS opened, 0 AS clicked, 0 AS unsub, 0 AS orders, 0.0 AS revenue
			FROM opens WHERE mail = ?1 AND machine = 0 AND subscriber_id IS NOT NULL
		UNION ALL
		SELECT subscriber_id, 0, 1, 0, 0, 0.0 FROM clicks WHERE mail = ?1 AND machine = 0 AND subscriber_id IS NOT NULL
		UNION ALL
		SELECT subscriber_id, 0, 0, 1, 0, 0.0 FROM unsubscribes WHERE mail = ?1
		UNION ALL
		SELECT subscriber_id, 0, 0, 0, 1, total FROM conversions WHERE mail = ?1 AND subscriber_id IS NOT NULL
	) GROUP BY subscriber_id ORDER BY subscriber_id`, mail)
	if err != nil {
		return nil, fmt.Errorf("tracking: people of %s: %w", mail, err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.SubscriberID, &p.Opened, &p.Clicked, &p.Unsubscribed, &p.Orders, &p.Revenue); err != nil {
			return nil, fmt.Errorf("tracking: people of %s: %w", mail, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
