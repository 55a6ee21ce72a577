package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

// Querier is what the read helpers need: a *store.Tx (to read inside the
// transaction that acts on the answer) or the *store.DB read pool.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Cart statuses.
const (
	StatusOpen    = "open"
	StatusCleared = "cleared"
	StatusOrdered = "ordered"
)

// CartState is a stored cart.
type CartState struct {
	Cart
	SubscriberID int64 // 0 while the address is not a subscriber
	Status       string
	UpdatedAt    time.Time // the last cart event's time
}

// CartByID returns the stored cart, or an errs.NotFound error.
func CartByID(ctx context.Context, q Querier, cartID string) (CartState, error) {
	var c CartState
	var sub sql.NullInt64
	var items string
	var at int64
	err := q.QueryRowContext(ctx, `SELECT cart_id, subscriber_id, status, url, currency, total, items, updated_at
		FROM carts WHERE cart_id = ?`, cartID).Scan(&c.ID, &sub, &c.Status, &c.URL, &c.Currency, &c.Total, &items, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return CartState{}, errs.NotFoundf("cart %q", cartID)
	}
	if err != nil {
		return CartState{}, fmt.Errorf("events: cart %q: %w", cartID, err)
	}
	if err := json.Unmarshal([]byte(items), &c.Items); err != nil {
		return CartState{}, fmt.Errorf("events: cart %q items: %w", cartID, err)
	}
	c.SubscriberID = sub.Int64
	c.UpdatedAt = time.Unix(at, 0).UTC()
	return c, nil
}

// OrderedSince reports whether an order for the cart, or any order of the
// subscriber at or after since, is stored: the cart then needs no reminder.
func OrderedSince(ctx context.Context, q Querier, subscriberID int64, cartID string, since time.Time) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 WHERE
		EXISTS (SELECT 1 FROM shop_orders WHERE cart_id = ? AND cart_id <> '')
		OR EXISTS (SELECT 1 FROM shop_orders WHERE subscriber_id = ? AND placed_at >= ?)`,
		cartID, subscriberID, since.Unix()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("events: orders since: %w", err)
	}
	return true, nil
}

// DueCart is an open cart with items whose owner is a subscriber.
type DueCart struct {
	CartID       string
	SubscriberID int64
	UpdatedAt    time.Time
}

// DueCarts lists open carts with items, of subscribers, last updated in
// [from, to], in (updated_at, cart_id) order after the key (afterAt,
// afterID); pass the last row's values to page on.
func DueCarts(ctx context.Context, q Querier, from, to time.Time, afterAt time.Time, afterID string, limit int) ([]DueCart, error) {
	rows, err := q.QueryContext(ctx, `SELECT cart_id, subscriber_id, updated_at FROM carts
		WHERE status = 'open' AND updated_at >= ? AND updated_at <= ?
		  AND (updated_at > ? OR (updated_at = ? AND cart_id > ?))
		  AND item_count > 0 AND subscriber_id IS NOT NULL
		ORDER BY updated_at, cart_id LIMIT ?`,
		from.Unix(), to.Unix(), afterAt.Unix(), afterAt.Unix(), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("events: due carts: %w", err)
	}
	defer rows.Close()
	var out []DueCart
	for rows.Next() {
		var d DueCart
		var at int64
		if err := rows.Scan(&d.CartID, &d.SubscriberID, &at); err != nil {
			return nil, fmt.Errorf("events: due carts: %w", err)
		}
		d.UpdatedAt = time.Unix(at, 0).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: due carts: %w", err)
	}
	return out, nil
}
