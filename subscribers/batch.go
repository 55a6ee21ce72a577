package subscribers

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Bulk import of subscribers with proven consent (a CSV file). It follows
// Enroll's rules for double_optin false exactly (new: active at once with an
// "imported" consent row; existing: missing lists become active, pending
// becomes active, unsubscribed stays; suppressed: refused), but validates the
// lists and the consent once per import instead of per row, and writes a
// batch of rows in the caller's transaction with one look-up for the whole
// batch, so the caller can move its own checkpoint in the same commit.

// Importer writes rows of one import: its lists and consent are checked.
type Importer struct {
	s       *Service
	lists   []listRef
	consent ConsentInput
	meta    Meta
}

// NewImporter checks the lists (slugs; none means the default list) and the
// consent every row of the import is recorded with. consent.Text is
// required: imported subscribers get no confirmation mail.
func (s *Service) NewImporter(ctx context.Context, lists []string, consent ConsentInput, meta Meta) (*Importer, error) {
	c, err := validateConsent(consent)
	if err != nil {
		return nil, err
	}
	if c.Text == "" {
		return nil, errs.Invalidf("consent.text", "an import needs the consent text its subscribers agreed to")
	}
	ls, err := s.resolveLists(ctx, lists, true)
	if err != nil {
		return nil, err
	}
	meta = metaClean(meta)
	if c.IP == "" {
		c.IP = meta.IP
	}
	if c.UserAgent == "" {
		c.UserAgent = meta.UserAgent
	}
	// The full-size batch statements are parsed once on the writer, not per
	// batch: with the triggers compiled into each, parsing cost a fifth of an
	// import's CPU. A failure only means they are parsed per use.
	if err := s.db.Prepare(ctx, importInsertQ+tuples(insertRows, 10)+importReturning,
		memberQ+tuples(insertRows, 5), consentQ+tuples(insertRows, 10),
		existingQ+marks(existingRows)+")"); err != nil {
		s.log.WarnContext(ctx, "import: prepare statements", "err", err)
	}
	return &Importer{s: s, lists: ls, consent: c, meta: meta}, nil
}

// The import's batch statements (see insertNew, existingKeys).
const (
	importInsertQ = `INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at, confirmed_at, confirm_sent_at)
			VALUES `
	importReturning = ` RETURNING id, email_key`
	memberQ         = `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES `
	consentQ        = `INSERT INTO consents (subscriber_id, action, channel, source, consent_text, text_version, ip, user_agent, detail, created_at) VALUES `
	existingQ       = `SELECT email_key FROM subscribers WHERE email_key IN (`
	existingRows    = 500
)

// ImportRow is one person of an import as read from the file.
type ImportRow struct {
	Email, Name, Locale string
	// Attributes are top-level values (string, bool, json.Number); nil: none.
	Attributes map[string]any
}

// PreparedRow is an ImportRow that passed validation.
type PreparedRow struct{ e enrollment }

// Key is the address as uniqueness sees it (lower-cased), for finding
// repeated rows in a file.
func (p *PreparedRow) Key() string { return p.e.key }

// Prepare validates row as Enroll would; the error names the field at fault
// (email, name, locale, attributes).
func (im *Importer) Prepare(row ImportRow) (*PreparedRow, error) {
	e := enrollment{lists: im.lists, consent: im.consent, meta: im.meta}
	var err error
	if e.email, err = ValidateEmail(row.Email); err != nil {
		return nil, err
	}
	e.key = emailKey(e.email)
	if e.name, err = ValidateName(row.Name); err != nil {
		return nil, err
	}
	if e.locale, err = ValidateLocale(row.Locale); err != nil {
		return nil, err
	}
	e.attrs = "{}"
	if len(row.Attributes) > 0 {
		if len(row.Attributes) > maxAttrKeys {
			return nil, errs.Invalidf("attributes", "attributes have more than %d keys", maxAttrKeys)
		}
		for k, v := range row.Attributes {
			if !validAttrKey(k) {
				return nil, errs.Invalidf("attributes", "attribute key %q: use letters, digits, _ and - (at most %d)", k, maxAttrKey)
			}
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				return nil, errs.Invalidf("attributes", "attribute %q is not valid UTF-8", k)
			}
		}
		if e.attrs, err = encodeAttributes(row.Attributes); err != nil {
			return nil, err
		}
	}
	return &PreparedRow{e: e}, nil
}

// ImportOutcome is what became of one row.
type ImportOutcome struct {
	Created bool  // a new subscriber; false: the address was there
	Err     error // the row's own refusal (e.g. a suppressed address), or nil
}

// WriteTx imports rows inside tx. A refused row gets its error in its
// outcome and writes nothing; an error returned is the transaction's (the
// database), and the caller must roll back.
func (im *Importer) WriteTx(ctx context.Context, tx *store.Tx, rows []*PreparedRow) ([]ImportOutcome, error) {
	s := im.s
	out := make([]ImportOutcome, len(rows))
	existing, err := existingKeys(ctx, tx, rows)
	if err != nil {
		return nil, err
	}
	suppressed, err := suppressedKeys(ctx, tx, rows)
	if err != nil {
		return nil, err
	}
	// New addresses are written with multi-row statements; repeats of an
	// address within the batch, and addresses already there, one by one
	// after them (Enroll's path for an existing subscriber).
	var fresh []int
	later := make([]int, 0)
	seen := make(map[string]bool, len(rows))
	for i, p := range rows {
		k := p.e.key
		switch {
		case suppressed[k]:
			out[i].Err = errs.Conflictf("this address was erased or suppressed; enroll it with double opt-in")
		case existing[k] || seen[k]:
			later = append(later, i)
		default:
			seen[k] = true
			fresh = append(fresh, i)
		}
	}
	if err := im.insertNew(ctx, tx, rows, fresh); err != nil {
		return nil, err
	}
	for _, i := range fresh {
		out[i].Created = true
	}
	for _, i := range later {
		if _, err := s.reenroll(ctx, tx, &rows[i].e); err != nil {
			if errs.KindOf(err) != errs.Internal {
				out[i].Err = err
				continue
			}
			return nil, err
		}
	}
	return out, nil
}

// Rows per multi-row INSERT: SQLite takes up to 32,766 parameters, and a
// statement of a few hundred rows already spends its time on the rows.
const insertRows = 100

// insertNew writes the subscribers rows[idx] (new, distinct addresses), their
// memberships and their "imported" consent records with one statement per
// insertRows rows of each table, instead of one per row: with the pure-Go
// SQLite, binding and stepping a statement costs about as much as the
// row's own write.
func (im *Importer) insertNew(ctx context.Context, tx *store.Tx, rows []*PreparedRow, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	now := tx.Now.Unix()
	ids := make(map[string]int64, len(idx))
	for start := 0; start < len(idx); start += insertRows {
		part := idx[start:min(start+insertRows, len(idx))]
		args := make([]any, 0, 10*len(part))
		for _, i := range part {
			e := &rows[i].e
			args = append(args, e.email, e.key, e.name, e.locale, e.attrs, StatusActive, now, now, now, nil)
		}
		rs, err := tx.QueryCached(ctx, importInsertQ+tuples(len(part), 10)+importReturning, args...)
		if err != nil {
			return fmt.Errorf("subscribers: import: %w", err)
		}
		for rs.Next() {
			var id int64
			var key string
			if err := rs.Scan(&id, &key); err != nil {
				rs.Close()
				return fmt.Errorf("subscribers: import: %w", err)
			}
			ids[key] = id
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("subscribers: import: %w", err)
		}
	}
	var members, consents []any
	flush := func(q string, args *[]any, width int) error {
		if len(*args) == 0 {
			return nil
		}
		if _, err := tx.ExecCached(ctx, q+tuples(len(*args)/width, width), *args...); err != nil {
			return fmt.Errorf("subscribers: import: %w", err)
		}
		*args = (*args)[:0]
		return nil
	}
	detail := "lists=" + slugsOf(im.lists)
	version := textVersion(im.consent.Text)
	for _, i := range idx {
		e := &rows[i].e
		id, ok := ids[e.key]
		if !ok {
			return fmt.Errorf("subscribers: import: no id came back for row %d", i)
		}
		for _, l := range e.lists {
			members = append(members, id, l.ID, StatusActive, now, now)
		}
		c := e.consentRow(ActionImported, detail)
		consents = append(consents, id, c.action, c.channel, c.source, c.text, version, c.ip, c.ua, c.detail, now)
		if len(members) >= 5*insertRows {
			if err := flush(memberQ, &members, 5); err != nil {
				return err
			}
		}
		if len(consents) >= 10*insertRows {
			if err := flush(consentQ, &consents, 10); err != nil {
				return err
			}
		}
	}
	if err := flush(memberQ, &members, 5); err != nil {
		return err
	}
	return flush(consentQ, &consents, 10)
}

// tuples is "(?,?,...),(...)": n rows of width parameters.
func tuples(n, width int) string {
	one := "(" + marks(width) + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", n), ",")
}

// existingKeys finds which of rows' addresses have a subscriber, with one
// query per 500 rows instead of one per row.
func existingKeys(ctx context.Context, tx *store.Tx, rows []*PreparedRow) (map[string]bool, error) {
	out := make(map[string]bool)
	for start := 0; start < len(rows); start += existingRows {
		part := rows[start:min(start+existingRows, len(rows))]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p.e.key
		}
		if err := collect(ctx, tx, existingQ+marks(len(part))+`)`, args, func(k string) {
			out[k] = true
		}); err != nil {
			return nil, fmt.Errorf("subscribers: import look-up: %w", err)
		}
	}
	return out, nil
}

// suppressedKeys finds which of rows' addresses are suppressed; while nobody
// is, one cheap query answers for the whole batch and nothing is hashed.
func suppressedKeys(ctx context.Context, tx *store.Tx, rows []*PreparedRow) (map[string]bool, error) {
	var some int
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions)`).Scan(&some); err != nil {
		return nil, fmt.Errorf("subscribers: import suppressions: %w", err)
	}
	out := make(map[string]bool)
	if some == 0 {
		return out, nil
	}
	byHash := make(map[string]string, len(rows))
	for start := 0; start < len(rows); start += existingRows {
		part := rows[start:min(start+existingRows, len(rows))]
		args := make([]any, len(part))
		for i, p := range part {
			h := emailHash(p.e.key)
			byHash[h] = p.e.key
			args[i] = h
		}
		if err := collect(ctx, tx, `SELECT email_hash FROM suppressions WHERE email_hash IN (`+marks(len(part))+`)`, args, func(h string) {
			out[byHash[h]] = true
		}); err != nil {
			return nil, fmt.Errorf("subscribers: import suppressions: %w", err)
		}
	}
	return out, nil
}

func collect(ctx context.Context, tx *store.Tx, q string, args []any, fn func(string)) error {
	rs, err := tx.QueryCached(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var v string
		if err := rs.Scan(&v); err != nil {
			return err
		}
		fn(v)
	}
	return rs.Err()
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
