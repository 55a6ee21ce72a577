package flows

// Entering a flow: every trigger starts runs through enterWhere, which adds
// the flow's settings (once per person ever, the cool-down) to the unique
// (flow, subscriber, trigger key) that keeps a person in a flow at most once
// per trigger key.

import (
	"context"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// entryGuard is the SQL (over subscribers AS s) that keeps a person out of f
// per its settings, with its args; "" when f has none.
func entryGuard(f *Flow, now time.Time) (string, []any) {
	switch {
	case f.OncePerPerson:
		return `NOT EXISTS (SELECT 1 FROM flow_runs AS g WHERE g.flow = ? AND g.subscriber_id = s.id)`, []any{f.Slug}
	case f.Cooldown > 0:
		return `NOT EXISTS (SELECT 1 FROM flow_runs AS g WHERE g.flow = ? AND g.subscriber_id = s.id AND g.created_at > ?)`,
			[]any{f.Slug, now.Add(-time.Duration(f.Cooldown)).Unix()}
	}
	return "", nil
}

// enterWhere starts runs of f, keyed by key, for the subscribers where holds
// for (SQL over subscribers AS s); with marketing, only for those who may get
// marketing mail on Config.Lists. The first step is due as it says from
// tx.Now; event is the triggering event's JSON (nil: none). It returns how
// many runs it started.
func (e *Engine) enterWhere(ctx context.Context, tx *store.Tx, f *Flow, where string, args []any, marketing bool, key string, event []byte) (int64, error) {
	if marketing {
		where, args = subscribers.MarketingWhereFor(subscribers.Mailing{Lists: e.cfg.Lists, ExistingCustomers: f.ExistingCustomers}, where, args...)
	}
	if g, gargs := entryGuard(f, tx.Now); g != "" {
		where = "(" + where + ") AND " + g
		args = append(args, gargs...)
	}
	var ev any
	if len(event) > 0 {
		ev = string(event)
	}
	due := e.due(&f.Steps[0], tx.Now).Unix()
	q := `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, due_at, event, created_at, updated_at)
		SELECT ?, s.id, ?, ?, ?, ?, ? FROM subscribers AS s WHERE ` + where + `
		ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`
	res, err := tx.ExecContext(ctx, q, append([]any{f.Slug, key, due, ev, tx.Now.Unix(), tx.Now.Unix()}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("flows: enter %s: %w", f.Slug, err)
	}
	return res.RowsAffected()
}

// triggered loads the enabled flows of a trigger inside tx (the hooks run in
// the transaction of the change that triggers them).
func (e *Engine) triggered(ctx context.Context, tx *store.Tx, kind, arg string) ([]flowRow, error) {
	rows, err := tx.QueryContext(ctx, selectFlow+` WHERE enabled = 1 AND trigger_kind = ? AND trigger_arg = ?`, kind, arg)
	if err != nil {
		return nil, fmt.Errorf("flows: %s flows: %w", kind, err)
	}
	defer rows.Close()
	var out []flowRow
	for rows.Next() {
		f, err := scanFlow(rows)
		if err != nil {
			return nil, fmt.Errorf("flows: %s flows: %w", kind, err)
		}
		if len(f.Steps) > 0 {
			out = append(out, f)
		}
	}
	return out, rows.Err()
}

// enterOne starts runs for one subscriber in every enabled flow of a trigger.
func (e *Engine) enterOne(ctx context.Context, tx *store.Tx, kind, arg string, subscriberID int64, marketing bool, key string, event []byte) error {
	fs, err := e.triggered(ctx, tx, kind, arg)
	if err != nil {
		return err
	}
	for i := range fs {
		if _, err := e.enterWhere(ctx, tx, &fs[i].Flow, `s.id = ?`, []any{subscriberID}, marketing, key, event); err != nil {
			return err
		}
	}
	return nil
}
