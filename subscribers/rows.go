package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// querier is what reads need: the read pool (*store.DB) or a write transaction (*store.Tx).
type querier = Querier

// Querier is what the exported reads take: the read pool (*store.DB) or a
// write transaction (*store.Tx).
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// row is a subscribers row.
type row struct {
	id                                     int64
	email, key, name, locale, status       string
	attrs                                  string
	created, updated                       int64
	confirmed, confirmSent, unsubscribedAt sql.NullInt64
	tracking                               bool
	basis                                  string
}

const rowColumns = `id, email, email_key, name, locale, status, attributes, created_at, updated_at,
	confirmed_at, confirm_sent_at, unsubscribed_at, tracking, legal_basis`

func scanRow(sc interface{ Scan(...any) error }) (row, error) {
	var r row
	err := sc.Scan(&r.id, &r.email, &r.key, &r.name, &r.locale, &r.status, &r.attrs, &r.created, &r.updated,
		&r.confirmed, &r.confirmSent, &r.unsubscribedAt, &r.tracking, &r.basis)
	return r, err
}

// ref is how the API names a subscriber: its id or its address.
type ref struct {
	where string
	arg   any
	text  string
}

func parseRef(s string) (ref, error) {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
		return ref{"id = ?", id, s}, nil
	}
	if strings.Contains(s, "@") {
		if e, err := ValidateEmail(s); err == nil {
			return ref{"email_key = ?", emailKey(e), s}, nil
		}
	}
	return ref{}, errs.NotFoundf("no subscriber %q", truncate(s, 100))
}

func byID(id int64) ref { return ref{"id = ?", id, strconv.FormatInt(id, 10)} }

func loadRow(ctx context.Context, q querier, r ref) (row, error) {
	rw, err := scanRow(q.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM subscribers WHERE `+r.where, r.arg))
	return rowResult(rw, err, r)
}

// loadRowTx is loadRow on the writer with the prepared statements.
func (s *Service) loadRowTx(ctx context.Context, tx *store.Tx, r ref) (row, error) {
	rw, err := scanRow(tx.QueryRowCached(ctx, `SELECT `+rowColumns+` FROM subscribers WHERE `+r.where, r.arg))
	return rowResult(rw, err, r)
}

func rowResult(rw row, err error, r ref) (row, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, errs.NotFoundf("no subscriber %q", truncate(r.text, 100))
	}
	if err != nil {
		return row{}, fmt.Errorf("subscribers: load %s: %w", r.text, err)
	}
	return rw, nil
}

// membership is one subscriptions row with its list.
type membership struct {
	listID int64
	slug   string
	status string
}

func loadMemberships(ctx context.Context, q querier, id int64) ([]membership, error) {
	rows, err := q.QueryContext(ctx, `SELECT l.id, l.slug, su.status FROM subscriptions su
		JOIN lists l ON l.id = su.list_id WHERE su.subscriber_id = ? ORDER BY l.slug`, id)
	if err != nil {
		return nil, fmt.Errorf("subscribers: memberships of %d: %w", id, err)
	}
	defer rows.Close()
	var out []membership
	for rows.Next() {
		var m membership
		if err := rows.Scan(&m.listID, &m.slug, &m.status); err != nil {
			return nil, fmt.Errorf("subscribers: memberships of %d: %w", id, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func statusIn(ms []membership, listID int64) string {
	for _, m := range ms {
		if m.listID == listID {
			return m.status
		}
	}
	return ""
}

func loadConsents(ctx context.Context, q querier, id int64) ([]Consent, error) {
	rows, err := q.QueryContext(ctx, `SELECT action, channel, source, consent_text, text_version, ip, user_agent, detail, created_at
		FROM consents WHERE subscriber_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("subscribers: consents of %d: %w", id, err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		var c Consent
		var at int64
		if err := rows.Scan(&c.Action, &c.Channel, &c.Source, &c.Text, &c.TextVersion, &c.IP, &c.UserAgent, &c.Detail, &at); err != nil {
			return nil, fmt.Errorf("subscribers: consents of %d: %w", id, err)
		}
		c.At = unixTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// subscriber makes the API shape from a row and its memberships.
func (r row) subscriber(ms []membership) Subscriber {
	s := Subscriber{
		ID: r.id, Email: r.email, Name: r.name, Locale: r.locale, Status: r.status,
		Tracking:    r.tracking,
		LegalBasis:  r.basis,
		Attributes:  []byte(r.attrs),
		Lists:       make([]Membership, 0, len(ms)),
		CreatedAt:   unixTime(r.created),
		UpdatedAt:   unixTime(r.updated),
		ConfirmedAt: nullTime(r.confirmed),
	}
	for _, m := range ms {
		s.Lists = append(s.Lists, Membership{Slug: m.slug, Status: m.status})
	}
	return s
}

// load reads a whole subscriber (with memberships, without consents).
func load(ctx context.Context, q querier, r ref) (Subscriber, error) {
	rw, err := loadRow(ctx, q, r)
	if err != nil {
		return Subscriber{}, err
	}
	ms, err := loadMemberships(ctx, q, rw.id)
	if err != nil {
		return Subscriber{}, err
	}
	return rw.subscriber(ms), nil
}

// consentRow is one entry for the consent log.
type consentRow struct {
	action, channel, source, text, ip, ua, detail string
}

const insertConsent = `INSERT INTO consents
	(subscriber_id, action, channel, source, consent_text, text_version, ip, user_agent, detail, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// addConsents appends rows to the consent log. One single-row statement per
// entry: unlike a multi-row INSERT it needs no statement journal.
func (s *Service) addConsents(ctx context.Context, tx *store.Tx, id int64, rows ...consentRow) error {
	now := tx.Now.Unix()
	for _, c := range rows {
		if _, err := tx.ExecCached(ctx, insertConsent, id, c.action, c.channel, c.source, c.text, textVersion(c.text),
			c.ip, c.ua, c.detail, now); err != nil {
			return fmt.Errorf("subscribers: consent log of %d: %w", id, err)
		}
	}
	return nil
}

const insertMembership = `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`

// addMemberships adds the lists of a new subscriber (no rows exist yet).
func (s *Service) addMemberships(ctx context.Context, tx *store.Tx, id int64, lists []listRef, status string) error {
	now := tx.Now.Unix()
	for _, l := range lists {
		if _, err := tx.ExecCached(ctx, insertMembership, id, l.ID, status, now, now); err != nil {
			return fmt.Errorf("subscribers: subscriptions of %d: %w", id, err)
		}
	}
	return nil
}

// membershipsQuery upserts n subscriptions to a status.
func membershipsQuery(n int) string {
	return `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES ` +
		strings.Repeat(`(?,?,?,?,?),`, n-1) + `(?,?,?,?,?)
		ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
		WHERE status <> excluded.status`
}

// setMemberships upserts the subscriptions of id to lists with status.
func (s *Service) setMemberships(ctx context.Context, tx *store.Tx, id int64, lists []listRef, status string) error {
	if len(lists) == 0 {
		return nil
	}
	now := tx.Now.Unix()
	args := make([]any, 0, 5*len(lists))
	for _, l := range lists {
		args = append(args, id, l.ID, status, now, now)
	}
	if _, err := tx.ExecCached(ctx, membershipsQuery(len(lists)), args...); err != nil {
		return fmt.Errorf("subscribers: subscriptions of %d: %w", id, err)
	}
	return nil
}

// Statements of the hot paths are prepared once on the writer connection
// (store's statement cache): with the pure-Go SQLite, parsing costs as much
// as running them.
func (s *Service) prepare(ctx context.Context) error {
	return s.db.Prepare(ctx, insertSubscriber, selectIDByKey, selectSuppressed, selectByKey, selectByID,
		insertConsent, insertMembership, membershipsQuery(1))
}

// Close is kept for callers; the store owns the prepared statements.
func (s *Service) Close() error { return nil }

const (
	selectSuppressed = `SELECT 1 FROM suppressions WHERE email_hash = ?`
	selectByKey      = `SELECT ` + rowColumns + ` FROM subscribers WHERE email_key = ?`
	selectByID       = `SELECT ` + rowColumns + ` FROM subscribers WHERE id = ?`
)
