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

// CartRef names a cart and the subscriber asking about it.
type CartRef struct {
	CartID       string
	SubscriberID int64
}

// CartCheck is a stored cart with what OrderedSince(SubscriberID of its
// CartRef, its id, its UpdatedAt) says: Ordered means no reminder is due.
type CartCheck struct {
	CartState
	Ordered bool
}

const cartChecks = `SELECT r.value ->> 0, r.value ->> 1, c.subscriber_id, c.status, c.url, c.currency, c.total, c.items, c.updated_at,
	EXISTS (SELECT 1 FROM shop_orders AS o WHERE o.cart_id = c.cart_id AND o.cart_id <> '')
	OR EXISTS (SELECT 1 FROM shop_orders AS o WHERE o.subscriber_id = r.value ->> 1 AND o.placed_at >= c.updated_at)
	FROM json_each(?) AS r JOIN carts AS c ON c.cart_id = r.value ->> 0`

// CartChecks is CartByID and OrderedSince for many carts in one query (the
// cart flow checks a whole batch of runs at once). A cart that is not stored
// is missing from the map.
func CartChecks(ctx context.Context, q Querier, refs []CartRef) (map[CartRef]CartCheck, error) {
	out := make(map[CartRef]CartCheck, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	arg := make([][2]any, len(refs))
	for i, r := range refs {
		arg[i] = [2]any{r.CartID, r.SubscriberID}
	}
	js, err := json.Marshal(arg)
	if err != nil {
		return nil, fmt.Errorf("events: cart checks: %w", err)
	}
	rows, err := q.QueryContext(ctx, cartChecks, string(js))
	if err != nil {
		return nil, fmt.Errorf("events: cart checks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref CartRef
		var c CartCheck
		var sub sql.NullInt64
		var items string
		var at int64
		if err := rows.Scan(&ref.CartID, &ref.SubscriberID, &sub, &c.Status, &c.URL, &c.Currency, &c.Total, &items, &at, &c.Ordered); err != nil {
			return nil, fmt.Errorf("events: cart checks: %w", err)
		}
		if err := json.Unmarshal([]byte(items), &c.Items); err != nil {
			return nil, fmt.Errorf("events: cart %q items: %w", ref.CartID, err)
		}
		c.ID = ref.CartID
		c.SubscriberID = sub.Int64
		c.UpdatedAt = time.Unix(at, 0).UTC()
		out[ref] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: cart checks: %w", err)
	}
	return out, nil
}

// DueCart is an open cart with items whose owner is a subscriber.
type DueCart struct {
	CartID       string
	SubscriberID int64
	UpdatedAt    time.Time
	// Ordered is OrderedSince(SubscriberID, CartID, UpdatedAt): an order for
	// the cart, or any order of its owner since its last update.
	Ordered bool
}

// DueCarts lists open carts with items, of subscribers, last updated in
// [from, to], in (updated_at, cart_id) order after the key (afterAt,
// afterID); pass the last row's values to page on.
func DueCarts(ctx context.Context, q Querier, from, to time.Time, afterAt time.Time, afterID string, limit int) ([]DueCart, error) {
	// One lower bound on the key (updated_at, cart_id), so that the index
	// carts_open (updated_at, cart_id) seeks straight to the page: after the
	// key (afterAt, afterID), and at or after from (("", from) is before every
	// cart id at from; a cart id is never empty).
	lowAt, lowID := afterAt.Unix(), afterID
	if lowAt < from.Unix() {
		lowAt, lowID = from.Unix(), ""
	}
	rows, err := q.QueryContext(ctx, `SELECT c.cart_id, c.subscriber_id, c.updated_at,
		  EXISTS (SELECT 1 FROM shop_orders AS o WHERE o.cart_id = c.cart_id AND o.cart_id <> '')
		  OR EXISTS (SELECT 1 FROM shop_orders AS o WHERE o.subscriber_id = c.subscriber_id AND o.placed_at >= c.updated_at)
		FROM carts AS c
		WHERE c.status = 'open' AND (c.updated_at, c.cart_id) > (?, ?) AND c.updated_at <= ?
		  AND c.item_count > 0 AND c.subscriber_id IS NOT NULL
		ORDER BY c.updated_at, c.cart_id LIMIT ?`,
		lowAt, lowID, to.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("events: due carts: %w", err)
	}
	defer rows.Close()
	var out []DueCart
	for rows.Next() {
		var d DueCart
		var at int64
		if err := rows.Scan(&d.CartID, &d.SubscriberID, &at, &d.Ordered); err != nil {
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
