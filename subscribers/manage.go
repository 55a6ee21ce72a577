package subscribers

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Get returns a subscriber with lists, attributes and the consent log.
// ref is the id or the address. Status is "bounced" or "complained" while
// the address is suppressed for that reason (suppress.go).
func (s *Service) Get(ctx context.Context, refText string) (Subscriber, error) {
	r, err := parseRef(refText)
	if err != nil {
		return Subscriber{}, err
	}
	sub, err := load(ctx, s.db, r)
	if err != nil {
		return Subscriber{}, err
	}
	if sub.Consents, err = loadConsents(ctx, s.db, sub.ID); err != nil {
		return Subscriber{}, err
	}
	if sub.Status, err = feedbackStatus(ctx, s.db, emailKey(sub.Email), sub.Status); err != nil {
		return Subscriber{}, err
	}
	return sub, nil
}

// UpdateInput is the body of PATCH /api/subscribers/{id|email}; left-out
// fields stay as they are.
type UpdateInput struct {
	Name   *string `json:"name"`
	Locale *string `json:"locale"`
	// Attributes are merged key by key: a key given replaces the stored
	// value (no deep merge), a key given as null is deleted, others stay.
	Attributes json.RawMessage `json:"attributes"`
	// Lists, when given, is the whole set the subscriber should be on. Lists
	// left out are unsubscribed; lists added follow double opt-in like a
	// re-enrollment (pending plus a confirmation mail).
	Lists *[]string `json:"lists"`
}

// Update changes name, locale, attributes and lists; see UpdateInput.
// List changes are logged as consent (action "preferences", channel meta.Channel).
func (s *Service) Update(ctx context.Context, refText string, in UpdateInput, meta Meta) (Subscriber, error) {
	r, err := parseRef(refText)
	if err != nil {
		return Subscriber{}, err
	}
	var name, locale string
	if in.Name != nil {
		if name, err = ValidateName(*in.Name); err != nil {
			return Subscriber{}, err
		}
	}
	if in.Locale != nil {
		if locale, err = ValidateLocale(*in.Locale); err != nil {
			return Subscriber{}, err
		}
	}
	patch, err := parseAttributes(in.Attributes)
	if err != nil {
		return Subscriber{}, err
	}
	var lists []listRef
	if in.Lists != nil {
		if lists, err = s.resolveLists(ctx, *in.Lists, false); err != nil {
			return Subscriber{}, err
		}
	}
	meta = metaClean(meta)
	if meta.Channel == "" {
		meta.Channel = ChannelAPI
	}
	var sub Subscriber
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		rw, err := s.loadRowTx(ctx, tx, r)
		if err != nil {
			return err
		}
		if in.Name != nil {
			rw.name = name
		}
		if in.Locale != nil {
			rw.locale = locale
		}
		if patch != nil {
			var cur map[string]any
			dec := json.NewDecoder(strings.NewReader(rw.attrs))
			dec.UseNumber()
			if err := dec.Decode(&cur); err != nil || cur == nil {
				cur = map[string]any{}
			}
			for k, v := range patch {
				cur[k] = v // nil deletes in encodeAttributes
			}
			if len(cur) > maxAttrKeys {
				return errs.Invalidf("attributes", "attributes have more than %d keys", maxAttrKeys)
			}
			if rw.attrs, err = encodeAttributes(cur); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET name = ?, locale = ?, attributes = ?, updated_at = ? WHERE id = ?`,
			rw.name, rw.locale, rw.attrs, tx.Now.Unix(), rw.id); err != nil {
			return fmt.Errorf("subscribers: update %d: %w", rw.id, err)
		}
		rw.updated = tx.Now.Unix()
		if in.Lists != nil {
			if err := s.replaceLists(ctx, tx, rw, lists, meta); err != nil {
				return err
			}
		}
		sub, err = load(ctx, tx, byID(rw.id))
		return err
	})
	if err != nil {
		return Subscriber{}, err
	}
	s.wakeQueue()
	return sub, nil
}

// replaceLists makes want the subscriber's set of lists: others are
// unsubscribed, new ones requested with double opt-in.
func (s *Service) replaceLists(ctx context.Context, tx *store.Tx, rw row, want []listRef, meta Meta) error {
	ms, err := loadMemberships(ctx, tx, rw.id)
	if err != nil {
		return err
	}
	var drop, add []listRef
	for _, m := range ms {
		if m.status == StatusUnsubscribed {
			continue
		}
		keep := false
		for _, l := range want {
			keep = keep || l.ID == m.listID
		}
		if !keep {
			drop = append(drop, listRef{m.listID, m.slug})
		}
	}
	for _, l := range want {
		if st := statusIn(ms, l.ID); st != StatusActive && st != StatusPending {
			add = append(add, l)
		}
	}
	if err := s.setMemberships(ctx, tx, rw.id, drop, StatusUnsubscribed); err != nil {
		return err
	}
	if len(drop) > 0 {
		if err := s.addConsents(ctx, tx, rw.id, consentRow{action: ActionPreferences, channel: meta.Channel,
			ip: meta.IP, ua: meta.UserAgent, detail: "unsubscribed lists=" + slugsOf(drop)}); err != nil {
			return err
		}
	}
	if len(add) == 0 || rw.status == StatusUnsubscribed {
		// An unsubscribed person is asked again only when they sign up again.
		return s.setMemberships(ctx, tx, rw.id, add, StatusPending)
	}
	return s.requestConfirmation(ctx, tx, rw, ms, add, consentRow{action: ActionSignup, channel: meta.Channel,
		ip: meta.IP, ua: meta.UserAgent, detail: "lists=" + slugsOf(add)})
}

// Erase deletes a subscriber and everything about them: subscriptions, the
// consent log, queued mails (Config.Erasers), and what other packages keep
// with ON DELETE CASCADE. Only hex sha256 of the lower-cased address stays,
// in suppressions with reason "erased", so the address is not mailed again by
// accident (GDPR Art. 17 with Art. 17(3)(b)/(e): keeping the minimum needed
// to honour the objection).
func (s *Service) Erase(ctx context.Context, refText string) error {
	r, err := parseRef(refText)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		rw, err := s.loadRowTx(ctx, tx, r)
		if err != nil {
			return err
		}
		for _, e := range s.cfg.Erasers {
			if ae, ok := e.(AddressEraser); ok {
				err = ae.EraseAddress(ctx, tx, rw.id, rw.key)
			} else {
				err = e.DeleteForSubscriber(ctx, tx, rw.id)
			}
			if err != nil {
				return fmt.Errorf("subscribers: erase %d: %w", rw.id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, rw.id); err != nil {
			return fmt.Errorf("subscribers: erase %d: %w", rw.id, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'erased', ?)
			ON CONFLICT (email_hash) DO UPDATE SET reason = 'erased', created_at = excluded.created_at`,
			emailHash(rw.key), tx.Now.Unix()); err != nil {
			return fmt.Errorf("subscribers: suppress %d: %w", rw.id, err)
		}
		s.log.Info("subscriber erased", slog.Int64("subscriber_id", rw.id))
		return nil
	})
	if err != nil {
		return err
	}
	// The rows are gone (and zeroed: secure_delete); fold the write-ahead log,
	// which still holds the old pages, into the file so no copy stays on disk.
	if err := s.db.Checkpoint(ctx); err != nil {
		s.log.Warn("erased, but the write-ahead log still holds old pages until the next checkpoint", "err", err)
	}
	return nil
}

// Export is everything stored about one person (GDPR Art. 15 and 20).
type Export struct {
	Subscriber
	Orders     Orders    `json:"orders"`
	ExportedAt time.Time `json:"exported_at"`
	// Related holds the rows of other packages' tables that have a
	// subscriber_id column (queued mails, deliveries, events, flow runs...),
	// by table name, column by column. Found at run time, so a table added
	// later is exported without a change here.
	Related map[string][]map[string]any `json:"related"`
}

// Orders are the shop figures kept with the subscriber.
type Orders struct {
	Count   int64      `json:"count"`
	Total   float64    `json:"total"`
	FirstAt *time.Time `json:"first_at,omitempty"`
	LastAt  *time.Time `json:"last_at,omitempty"`
}

// Export returns everything stored about a subscriber, read in one snapshot.
func (s *Service) Export(ctx context.Context, refText string) (Export, error) {
	r, err := parseRef(refText)
	if err != nil {
		return Export{}, err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Export{}, fmt.Errorf("subscribers: export: %w", err)
	}
	defer tx.Rollback()
	var ex Export
	if ex.Subscriber, err = load(ctx, tx, r); err != nil {
		return Export{}, err
	}
	if ex.Consents, err = loadConsents(ctx, tx, ex.ID); err != nil {
		return Export{}, err
	}
	var first, last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT order_count, order_total, first_order_at, last_order_at FROM subscribers WHERE id = ?`,
		ex.ID).Scan(&ex.Orders.Count, &ex.Orders.Total, &first, &last); err != nil {
		return Export{}, fmt.Errorf("subscribers: export %d: %w", ex.ID, err)
	}
	ex.Orders.FirstAt, ex.Orders.LastAt = nullTime(first), nullTime(last)
	ex.ExportedAt = unixTime(s.db.Now().Unix())
	if ex.Related, err = exportRelated(ctx, tx, ex.ID); err != nil {
		return Export{}, err
	}
	return ex, nil
}

// exportRelated reads every row of every table (but ours) with a
// subscriber_id column. SQLite-specific discovery; a PostgreSQL store would
// ask information_schema.
func exportRelated(ctx context.Context, tx *sql.Tx, id int64) (map[string][]map[string]any, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name = 'subscriber_id' AND m.name NOT IN ('subscriptions', 'consents')
		ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("subscribers: export tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("subscribers: export tables: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscribers: export tables: %w", err)
	}
	out := map[string][]map[string]any{}
	for _, t := range tables {
		recs, err := exportTable(ctx, tx, t, id)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			out[t] = recs
		}
	}
	return out, nil
}

func exportTable(ctx context.Context, tx *sql.Tx, table string, id int64) ([]map[string]any, error) {
	q := `SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `" WHERE subscriber_id = ?`
	rows, err := tx.QueryContext(ctx, q, id)
	if err != nil {
		return nil, fmt.Errorf("subscribers: export %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("subscribers: export %s: %w", table, err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("subscribers: export %s: %w", table, err)
		}
		rec := make(map[string]any, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			rec[c] = vals[i]
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}
