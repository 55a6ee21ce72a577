package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/treu-mail/treu/store"
)

// Config holds the retention settings; zero values take the defaults.
type Config struct {
	// UnlinkedRetention: how long events, carts and orders of an address that
	// is not a subscriber are kept, waiting for it to enroll. Default 30 days.
	UnlinkedRetention time.Duration
	// EventRetention: how long raw events are kept (and repeated ids
	// recognised). Default 90 days.
	EventRetention time.Duration
	// OnOrder, if set, runs in the ingesting transaction for each order
	// seen for the first time (package tracking credits it to a mail). Its
	// error fails the event.
	OnOrder func(ctx context.Context, tx *store.Tx, o PlacedOrder) error
	// OnRefund, if set, runs in the ingesting transaction for each
	// order.refunded event of an order of a subscriber (package loyalty
	// takes back its points). Its error fails the event.
	OnRefund func(ctx context.Context, tx *store.Tx, r RefundedOrder) error
}

// RefundedOrder is an order.refunded event as OnRefund sees it.
type RefundedOrder struct {
	OrderID      string
	SubscriberID int64
	Total        float64 // the order's total
	Refunded     float64 // the amount refunded: Total when the event names none
	At           time.Time
}

// Stored is a new event as OnEvent sees it.
type Stored struct {
	ID           string // the event id
	Type         string
	SubscriberID int64
	Payload      []byte // the event's JSON as stored
	OccurredAt   time.Time
}

// PlacedOrder is a new order as OnOrder sees it.
type PlacedOrder struct {
	OrderID      string
	SubscriberID int64 // 0: the address is no subscriber (yet)
	Currency     string
	Total        float64
	PlacedAt     time.Time
	CampaignID   int64 // from the event's "attribution"; 0 if none
}

// Service ingests shop events.
type Service struct {
	db  *store.DB
	log *slog.Logger
	cfg Config

	// group writes concurrent Ingest calls in shared transactions.
	group *store.GroupCommit[*ingestJob]

	// OnEvent, when set, runs for every event stored for the first time
	// whose address is a subscriber, in the transaction that stores it: the
	// flows start runs there, so an event starts a flow exactly once. Set it
	// before the first Ingest.
	OnEvent func(ctx context.Context, tx *store.Tx, ev Stored) error

	// OnOrder, when set, runs in the transaction that stores a new order of
	// a subscriber (not for a repeated order id), and in the one where
	// LinkAll attaches earlier orders: package retention moves the customer
	// on the ladder there. Set it before the first Ingest.
	OnOrder func(ctx context.Context, tx *store.Tx, subscriberID int64) error
}

// prepare prepares the statements on the writer (store's statement cache):
// at thousands of events a second, parsing the SQL again for every event
// costs a third of the time. It must run outside a transaction: the writer
// has one connection, which the transaction holds. A failure is not
// remembered: the next event tries again, so a passing problem (a busy disk
// at start) does not stop ingestion until a restart.
func (s *Service) prepare(ctx context.Context) error {
	if err := s.db.Prepare(ctx, insertEvent, upsertCart, clearCart, insertOrder, cartOrdered, addOrderFigures); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// Close is kept for callers; the store owns the prepared statements.
func (s *Service) Close() error { return nil }

// New returns a Service writing to db.
func New(db *store.DB, log *slog.Logger, cfg Config) *Service {
	if cfg.UnlinkedRetention <= 0 {
		cfg.UnlinkedRetention = 30 * 24 * time.Hour
	}
	if cfg.EventRetention <= 0 {
		cfg.EventRetention = 90 * 24 * time.Hour
	}
	s := &Service{db: db, log: log, cfg: cfg}
	s.group = store.NewGroupCommit(db, 64, s.applyJob, func() {})
	return s
}

// ingestJob is one validated event on its way into a batch.
type ingestJob struct {
	ev      *Event
	key     string
	items   []byte
	payload []byte
}

// Ingest parses, validates, stores and applies one event (the body of POST
// /api/events) and returns its id. The same id twice is accepted once: the
// second call returns the id and changes nothing.
func (s *Service) Ingest(ctx context.Context, raw []byte) (id string, err error) {
	ev, err := Parse(raw)
	if err != nil {
		return "", err
	}
	return s.apply(ctx, &ev, raw)
}

// IngestEvent is Ingest for an event built in Go.
func (s *Service) IngestEvent(ctx context.Context, ev Event) (id string, err error) {
	if err := ev.Validate(); err != nil {
		return "", err
	}
	return s.apply(ctx, &ev, nil)
}

const insertEvent = `INSERT INTO shop_events (event_id, type, email_key, subscriber_id, payload, occurred_at, received_at)
VALUES (?, ?, ?, (SELECT id FROM subscribers WHERE email_key = ?), ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
RETURNING subscriber_id`

// upsertCart applies a cart.updated unless a later state of the cart is
// already known (events may arrive out of order). A cart that was cleared or
// ordered opens again only with an update strictly after that. The owner of a
// cart id is the address of its first event; the indexed owner columns are
// left out of the SET so an update rewrites no index but carts_open.
const upsertCart = `INSERT INTO carts (cart_id, email_key, subscriber_id, status, url, currency, total, items, item_count, created_at, updated_at)
VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (cart_id) DO UPDATE SET status = 'open',
	url = excluded.url, currency = excluded.currency, total = excluded.total,
	items = excluded.items, item_count = excluded.item_count, updated_at = excluded.updated_at
WHERE excluded.updated_at > carts.updated_at
   OR (carts.status = 'open' AND excluded.updated_at = carts.updated_at)`

// clearCart empties an open cart; an ordered cart stays ordered (shops clear
// the cart after checkout), and a clear older than the last update is stale.
const clearCart = `INSERT INTO carts (cart_id, email_key, subscriber_id, status, created_at, updated_at)
VALUES (?, ?, ?, 'cleared', ?, ?)
ON CONFLICT (cart_id) DO UPDATE SET status = 'cleared', items = '[]', item_count = 0, total = 0,
	updated_at = excluded.updated_at
WHERE carts.status = 'open' AND excluded.updated_at >= carts.updated_at`

const insertOrder = `INSERT INTO shop_orders (order_id, email_key, subscriber_id, cart_id, currency, total, items, placed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_id) DO NOTHING`

// cartOrdered moves updated_at to the order's time, so a cart.updated from
// before the order that arrives late does not reopen the cart.
const cartOrdered = `UPDATE carts SET status = 'ordered', updated_at = max(updated_at, ?) WHERE cart_id = ?`

const addOrderFigures = `UPDATE subscribers SET
	order_count = order_count + 1,
	order_total = order_total + ?,
	first_order_at = min(coalesce(first_order_at, ?), ?),
	last_order_at = max(coalesce(last_order_at, ?), ?)
WHERE id = ?`

// apply stores and applies a valid event. raw is the body as the shop sent
// it, stored as the payload when the shop gave an id (saves encoding it again).
func (s *Service) apply(ctx context.Context, ev *Event, raw []byte) (string, error) {
	key, _ := EmailKey(ev.Email) // validated
	if ev.ID == "" {
		ev.ID = newID()
		raw = nil
	}
	var items []byte
	var err error
	switch {
	case ev.Cart != nil && ev.Type == CartUpdated:
		items, err = marshalItems(ev.Cart.Items)
	case ev.Order != nil:
		items, err = marshalItems(ev.Order.Items)
	}
	if err != nil {
		return "", fmt.Errorf("events: encode items: %w", err)
	}
	payload := raw
	if payload == nil {
		if payload, err = json.Marshal(ev); err != nil {
			return "", fmt.Errorf("events: encode: %w", err)
		}
	}
	if err := s.prepare(ctx); err != nil {
		return "", err
	}
	if err := s.group.Do(ctx, &ingestJob{ev: ev, key: key, items: items, payload: payload}); err != nil {
		return "", err
	}
	return ev.ID, nil
}

// applyJob writes one event inside the batch's transaction; the store binds
// each prepared statement once per transaction, not once per event.
func (s *Service) applyJob(ctx context.Context, tx *store.Tx, j *ingestJob) error {
	ev, key, items := j.ev, j.key, j.items
	now := tx.Now.Unix()
	at := now
	// A time in the future is the shop's clock running ahead: use ours.
	if !ev.OccurredAt.IsZero() && ev.OccurredAt.Unix() < now {
		at = ev.OccurredAt.Unix()
	}
	var sub sql.NullInt64
	err := tx.QueryRowCached(ctx, insertEvent, ev.ID, ev.Type, key, key, string(j.payload), at, now).Scan(&sub)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // seen before: accepted once
	}
	if err != nil {
		return fmt.Errorf("events: store %s: %w", ev.Type, err)
	}
	exec := func(q string, args ...any) (sql.Result, error) { return tx.ExecCached(ctx, q, args...) }
	switch ev.Type {
	case CartUpdated:
		c := ev.Cart
		_, err = exec(upsertCart, c.ID, key, sub, c.URL, c.Currency, c.Total, items, len(c.Items), now, at)
	case CartCleared:
		_, err = exec(clearCart, ev.Cart.ID, key, sub, now, at)
	case OrderPlaced:
		var fresh bool
		fresh, err = applyOrder(exec, key, sub, ev.Order, items, at)
		if err == nil && fresh && s.cfg.OnOrder != nil {
			o := PlacedOrder{OrderID: ev.Order.ID, SubscriberID: sub.Int64, Currency: ev.Order.Currency,
				Total: ev.Order.Total, PlacedAt: time.Unix(at, 0).UTC()}
			if ev.Order.Attribution != nil {
				o.CampaignID = ev.Order.Attribution.CampaignID
			}
			err = s.cfg.OnOrder(ctx, tx, o)
		}
		if err == nil && fresh && sub.Valid && s.OnOrder != nil {
			err = s.OnOrder(ctx, tx, sub.Int64)
		}
	case OrderRefunded:
		err = s.refund(ctx, tx, ev.Order, at)
	}
	if err == nil && sub.Valid && s.OnEvent != nil {
		err = s.OnEvent(ctx, tx, Stored{ID: ev.ID, Type: ev.Type, SubscriberID: sub.Int64, Payload: j.payload,
			OccurredAt: time.Unix(at, 0).UTC()})
	}
	if err != nil {
		return fmt.Errorf("events: apply %s: %w", ev.Type, err)
	}
	return nil
}

// refund hands an order.refunded event to OnRefund when the order is known
// and belongs to a subscriber; a refund of an unknown order (placed before
// Treu knew the shop, or a guest's) changes nothing. The order and its
// figures stay: the retention report counts what was ordered.
func (s *Service) refund(ctx context.Context, tx *store.Tx, o *Order, at int64) error {
	if s.cfg.OnRefund == nil {
		return nil
	}
	var sub sql.NullInt64
	var total float64
	err := tx.QueryRowContext(ctx, `SELECT subscriber_id, total FROM shop_orders WHERE order_id = ?`, o.ID).Scan(&sub, &total)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sub.Valid) {
		return nil
	}
	if err != nil {
		return err
	}
	r := RefundedOrder{OrderID: o.ID, SubscriberID: sub.Int64, Total: total, Refunded: o.Total, At: time.Unix(at, 0).UTC()}
	if r.Refunded <= 0 || r.Refunded > total {
		r.Refunded = total
	}
	return s.cfg.OnRefund(ctx, tx, r)
}

// applyOrder stores an order; fresh is false for an order seen before.
func applyOrder(exec func(string, ...any) (sql.Result, error), key string, sub sql.NullInt64, o *Order, items []byte, at int64) (fresh bool, err error) {
	res, err := exec(insertOrder, o.ID, key, sub, o.CartID, o.Currency, o.Total, items, at)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // the same order under another event id: counted once
	}
	if o.CartID != "" {
		if _, err := exec(cartOrdered, at, o.CartID); err != nil {
			return false, err
		}
	}
	if sub.Valid {
		if _, err := exec(addOrderFigures, o.Total, at, at, at, at, sub.Int64); err != nil {
			return false, err
		}
	}
	return true, nil
}

func marshalItems(items []Item) ([]byte, error) {
	if len(items) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal(items)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return "ev_" + hex.EncodeToString(b[:])
}

// Link attaches the events, carts and orders stored for the subscriber's
// address before it enrolled, and recomputes the order figures from all the
// subscriber's orders. Call it in the transaction that activates the
// subscriber (the subscribers OnActivated hook). Idempotent.
func Link(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	var key string
	if err := tx.QueryRowContext(ctx, `SELECT email_key FROM subscribers WHERE id = ?`, subscriberID).Scan(&key); err != nil {
		return fmt.Errorf("events: link %d: %w", subscriberID, err)
	}
	for _, q := range []string{
		`UPDATE shop_events SET subscriber_id = ? WHERE email_key = ? AND subscriber_id IS NULL`,
		`UPDATE carts SET subscriber_id = ? WHERE email_key = ? AND subscriber_id IS NULL`,
		`UPDATE shop_orders SET subscriber_id = ? WHERE email_key = ? AND subscriber_id IS NULL`,
	} {
		if _, err := tx.ExecContext(ctx, q, subscriberID, key); err != nil {
			return fmt.Errorf("events: link %d: %w", subscriberID, err)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE subscribers SET (order_count, order_total, first_order_at, last_order_at) =
	(SELECT count(*), coalesce(sum(total), 0), min(placed_at), max(placed_at) FROM shop_orders WHERE subscriber_id = ?)
	WHERE id = ?`, subscriberID, subscriberID)
	if err != nil {
		return fmt.Errorf("events: figures %d: %w", subscriberID, err)
	}
	return nil
}

// Link is the method form of the package function, for wiring as a hook.
func (s *Service) Link(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	return Link(ctx, tx, subscriberID)
}

// Prune deletes unlinked events, carts and orders older than
// UnlinkedRetention and raw events older than EventRetention, in short
// transactions so the writer is never held long. The scheduler calls it, say,
// hourly. It returns the number of rows deleted.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.db.Now()
	unlinked := now.Add(-s.cfg.UnlinkedRetention).Unix()
	old := now.Add(-s.cfg.EventRetention).Unix()
	var total int64
	for _, st := range []struct {
		q   string
		arg int64
	}{
		// The oldest events by id; stops at the first batch with none old enough.
		{`DELETE FROM shop_events WHERE id IN (SELECT id FROM shop_events ORDER BY id LIMIT 2000) AND received_at < ?`, old},
		{`DELETE FROM shop_events WHERE id IN (SELECT id FROM shop_events WHERE subscriber_id IS NULL AND received_at < ? LIMIT 2000)`, unlinked},
		{`DELETE FROM carts WHERE cart_id IN (SELECT cart_id FROM carts WHERE subscriber_id IS NULL AND updated_at < ? LIMIT 2000)`, unlinked},
		{`DELETE FROM shop_orders WHERE order_id IN (SELECT order_id FROM shop_orders WHERE subscriber_id IS NULL AND placed_at < ? LIMIT 2000)`, unlinked},
	} {
		for {
			var n int64
			err := s.db.Tx(ctx, func(tx *store.Tx) error {
				res, err := tx.ExecContext(ctx, st.q, st.arg)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("events: prune: %w", err)
			}
			total += n
			if n < 2000 {
				break
			}
		}
	}
	if total > 0 {
		s.log.InfoContext(ctx, "events pruned", "rows", total)
	}
	return total, nil
}

// LinkAll links what Link would for every subscriber whose address has
// unlinked events, carts or orders: subscribers activated by import or by the
// API without double opt-in do not pass through the OnActivated hook. The
// scheduler calls it with Prune; the partial indexes on unlinked rows keep it
// cheap. It returns how many subscribers it linked.
func (s *Service) LinkAll(ctx context.Context) (int, error) {
	n := 0
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT s.id FROM subscribers AS s WHERE s.email_key IN (
			SELECT email_key FROM shop_events WHERE subscriber_id IS NULL
			UNION SELECT email_key FROM carts WHERE subscriber_id IS NULL
			UNION SELECT email_key FROM shop_orders WHERE subscriber_id IS NULL) LIMIT 500`)
		if err != nil {
			return n, fmt.Errorf("events: link all: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, fmt.Errorf("events: link all: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("events: link all: %w", err)
		}
		for _, id := range ids {
			err := s.db.Tx(ctx, func(tx *store.Tx) error {
				if err := Link(ctx, tx, id); err != nil || s.OnOrder == nil {
					return err
				}
				return s.OnOrder(ctx, tx, id)
			})
			if err != nil {
				return n, err
			}
			n++
		}
		if len(ids) < 500 {
			return n, nil
		}
	}
}
