package subscribers

// What an automation (a flow step, package flows) may change about a
// subscriber, inside the caller's transaction: a private list membership and
// an attribute. Every list change is in the consent log with channel
// ChannelFlow and the flow named in its detail.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// ChannelFlow records a change made by a flow step.
const ChannelFlow = "flow"

// ListInfo reports whether the list slug exists and whether it is public.
func ListInfo(ctx context.Context, q Querier, slug string) (found, public bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT public FROM lists WHERE slug = ?`, slug).Scan(&public)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("subscribers: list %q: %w", slug, err)
	}
	return true, public, nil
}

// AutomationList adds the subscriber to a private list (add) or takes them
// off any list (!add), logged as a preference change by flow. Adding needs
// an active subscriber and a private list: a public list means a consent the
// person gives themselves (double opt-in), never an automation. A change
// that is no change writes nothing.
func AutomationList(ctx context.Context, tx *store.Tx, id int64, slug string, add bool, flow string) error {
	var listID int64
	var public bool
	err := tx.QueryRowContext(ctx, `SELECT id, public FROM lists WHERE slug = ?`, slug).Scan(&listID, &public)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFoundf("list %q", slug)
	}
	if err != nil {
		return fmt.Errorf("subscribers: list %q: %w", slug, err)
	}
	now := tx.Now.Unix()
	var res sql.Result
	detail := "unsubscribed lists=" + slug
	if add {
		if public {
			return errs.Invalidf("list", "list %q is public: people join it themselves", slug)
		}
		detail = "lists=" + slug
		res, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT id, ?, 'active', ?, ? FROM subscribers WHERE id = ? AND status = 'active'
			ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at
			WHERE status <> 'active'`, listID, now, now, id)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE subscriptions SET status = 'unsubscribed', updated_at = ?
			WHERE subscriber_id = ? AND list_id = ? AND status <> 'unsubscribed'`, now, id, listID)
	}
	if err != nil {
		return fmt.Errorf("subscribers: list %q of %d: %w", slug, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecCached(ctx, insertConsent, id, ActionPreferences, ChannelFlow, "", "", textVersion(""),
		"", "", detail+" flow="+flow, now)
	if err != nil {
		return fmt.Errorf("subscribers: consent log of %d: %w", id, err)
	}
	return nil
}

// CheckAttribute validates one attribute as Update would take it; a nil or
// "null" value removes the key.
func CheckAttribute(key string, value json.RawMessage) error {
	_, err := attributePatch(key, value)
	return err
}

func attributePatch(key string, value json.RawMessage) (map[string]any, error) {
	if !validAttrKey(key) {
		return nil, errs.Invalidf("key", "attribute key %q: use letters, digits, _ and - (at most %d)", key, maxAttrKey)
	}
	v := strings.TrimSpace(string(value))
	if v == "" {
		v = "null"
	}
	k, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	m, err := parseAttributes(json.RawMessage(`{` + string(k) + `:` + v + `}`))
	if err != nil {
		if ee, ok := errs.As(err); ok {
			return nil, errs.Invalidf("value", "%s", ee.Msg)
		}
		return nil, errs.Invalidf("value", "value must be JSON")
	}
	return m, nil
}

// SetAttribute sets the subscriber's attribute key to value (JSON; nil or
// null removes it) inside tx, under Update's limits.
func SetAttribute(ctx context.Context, tx *store.Tx, id int64, key string, value json.RawMessage) error {
	patch, err := attributePatch(key, value)
	if err != nil {
		return err
	}
	var attrs string
	err = tx.QueryRowContext(ctx, `SELECT attributes FROM subscribers WHERE id = ?`, id).Scan(&attrs)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFoundf("subscriber %d", id)
	}
	if err != nil {
		return fmt.Errorf("subscribers: attributes of %d: %w", id, err)
	}
	var cur map[string]any
	dec := json.NewDecoder(strings.NewReader(attrs))
	dec.UseNumber()
	if err := dec.Decode(&cur); err != nil || cur == nil {
		cur = map[string]any{}
	}
	for k, v := range patch {
		cur[k] = v
	}
	if len(cur) > maxAttrKeys {
		return errs.Invalidf("attributes", "attributes have more than %d keys", maxAttrKeys)
	}
	out, err := encodeAttributes(cur)
	if err != nil {
		return err
	}
	if out == attrs {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET attributes = ?, updated_at = ? WHERE id = ?`, out, tx.Now.Unix(), id); err != nil {
		return fmt.Errorf("subscribers: attributes of %d: %w", id, err)
	}
	return nil
}
