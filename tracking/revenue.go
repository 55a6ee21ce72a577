package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
)

// Order is a new order, as package events reports it.
type Order struct {
	ID           string
	SubscriberID int64 // 0: not a subscriber
	Currency     string
	Total        float64
	PlacedAt     time.Time
	CampaignID   int64 // the shop's own attribution; 0 if none
}

// lastTouch finds the mail a subscriber last clicked in (or, without a
// click, last opened) within the window before the order; people only, no
// scanners or proxies.
const lastTouch = `SELECT mail, via FROM (
	SELECT mail, 'click' AS via, at, 1 AS rank FROM clicks
	WHERE subscriber_id = ? AND machine = 0 AND at BETWEEN ? AND ?
	UNION ALL
	SELECT mail, 'open', at, 2 FROM opens
	WHERE subscriber_id = ? AND machine = 0 AND at BETWEEN ? AND ?
) ORDER BY rank, at DESC LIMIT 1`

// OrderPlaced credits an order to the mail that earned it, once per order,
// in the transaction that stores the order (events.Config.OnOrder): the
// campaign the shop names, else the last campaign or flow mail the person
// clicked in (or opened) within AttributionWindow before it.
func (s *Service) OrderPlaced(ctx context.Context, tx *store.Tx, o Order) error {
	var mail, via string
	switch {
	case o.CampaignID > 0:
		mail, via = CampaignKey(o.CampaignID), "attribution"
	case o.SubscriberID > 0:
		from, to := o.PlacedAt.Add(-s.cfg.AttributionWindow).Unix(), o.PlacedAt.Unix()
		err := tx.QueryRowContext(ctx, lastTouch, o.SubscriberID, from, to, o.SubscriberID, from, to).Scan(&mail, &via)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no mail earned it
		}
		if err != nil {
			return fmt.Errorf("tracking: attribute order %s: %w", o.ID, err)
		}
	default:
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO conversions (order_id, mail, subscriber_id, via, currency, total, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
		o.ID, mail, nullID(o.SubscriberID), via, o.Currency, o.Total, o.PlacedAt.Unix()); err != nil {
		return fmt.Errorf("tracking: credit order %s: %w", o.ID, err)
	}
	return nil
}
