package flows

// The cart-abandonment flow: an open cart with items whose wait (the first
// step's delay after its last update) is over enters a run keyed by the cart
// id, once per cart; each step checks again that the cart is still open, not
// cleared and not ordered (events.CartChecks) before it mails.

import (
	"context"
	"fmt"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// cartEntry is the statement that starts a cart run for one subscriber, and
// its trailing args: only subscribers who may get marketing mail for the
// flow's lists enter.
func cartEntry(m subscribers.Mailing) (string, []any) {
	where, args := subscribers.MarketingWhereFor(m, "")
	return `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, status, due_at, end_reason, created_at, updated_at)
	SELECT ?, s.id, ?, ?, ?, ?, ?, ? FROM subscribers AS s WHERE s.id = ? AND ` + where + `
	ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`, args
}

// enterCarts starts a cart-abandonment run (a flow with the cart trigger) for each open cart with items
// whose wait (the first step's delay after its last update) ended since the
// last tick. A cart that already has a run is left alone (one series per cart).
func (e *Engine) enterCarts(ctx context.Context, f *flowRow, now time.Time, res *TickResult) (int, error) {
	wait := time.Duration(f.Steps[0].Delay)
	to := now.Add(-wait)
	from := f.enabledAt
	if f.cursorAt.Valid && f.cursorAt.Int64 > from.Unix() {
		from = time.Unix(f.cursorAt.Int64, 0).UTC()
	}
	if to.Before(from) {
		return 0, nil
	}
	entered := 0
	var afterAt time.Time
	afterID := ""
	for {
		var batch []events.DueCart
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			var err error
			batch, err = events.DueCarts(ctx, tx, from, to, afterAt, afterID, 500)
			if err != nil {
				return err
			}
			w := tx
			for _, c := range batch {
				// Ordered without naming the cart: nothing to remind of.
				if c.Ordered {
					continue
				}
				due := c.UpdatedAt.Add(wait)
				status, dueAt, reason := "active", any(due.Unix()), ""
				if now.Sub(due) > e.cfg.MaxLate {
					status, dueAt, reason = "ended", nil, EndLate
				}
				stmt, margs := e.enterCart, e.enterCartArgs
				if f.ExistingCustomers {
					stmt, margs = cartEntry(subscribers.Mailing{Lists: e.cfg.Lists, ExistingCustomers: true})
				}
				args := append([]any{f.Slug, c.CartID, status, dueAt, reason, tx.Now.Unix(), tx.Now.Unix(), c.SubscriberID}, margs...)
				r, err := w.ExecCached(ctx, stmt, args...)
				if err != nil {
					return fmt.Errorf("flows: enter cart: %w", err)
				}
				if n, _ := r.RowsAffected(); n > 0 {
					entered++
					if reason == EndLate {
						res.Skipped++
					}
				}
			}
			if len(batch) < 500 {
				_, err = tx.ExecContext(ctx, `UPDATE flows SET cursor_at = ? WHERE slug = ?`, to.Unix(), f.Slug)
			}
			return err
		})
		if err != nil {
			return entered, err
		}
		if len(batch) < 500 {
			return entered, nil
		}
		afterAt, afterID = batch[len(batch)-1].UpdatedAt, batch[len(batch)-1].CartID
	}
}
