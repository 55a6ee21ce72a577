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
	return &Importer{s: s, lists: ls, consent: c, meta: meta}, nil
}

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
	now := tx.Now.Unix()
	detail := "lists=" + slugsOf(im.lists)
	for i, p := range rows {
		e := &p.e
		switch {
		case suppressed[e.key]:
			out[i].Err = errs.Conflictf("this address was erased or suppressed; enroll it with double opt-in")
		case existing[e.key]:
			if _, err := s.reenroll(ctx, tx, e); err != nil {
				if k := errs.KindOf(err); k != errs.Internal {
					out[i].Err = err
					continue
				}
				return nil, err
			}
		default:
			res, err := tx.ExecCached(ctx, insertSubscriber, e.email, e.key, e.name, e.locale, e.attrs,
				StatusActive, now, now, now, nil)
			var id int64
			if err == nil {
				id, err = res.LastInsertId()
			}
			if err != nil {
				return nil, fmt.Errorf("subscribers: import %d: %w", i, err)
			}
			if err := s.addMemberships(ctx, tx, id, e.lists, StatusActive); err != nil {
				return nil, err
			}
			if err := s.addConsents(ctx, tx, id, e.consentRow(ActionImported, detail)); err != nil {
				return nil, err
			}
			existing[e.key] = true // a repeat later in the batch is an existing one
			out[i].Created = true
		}
	}
	return out, nil
}

// existingKeys finds which of rows' addresses have a subscriber, with one
// query per 500 rows instead of one per row.
func existingKeys(ctx context.Context, tx *store.Tx, rows []*PreparedRow) (map[string]bool, error) {
	out := make(map[string]bool)
	for start := 0; start < len(rows); start += 500 {
		part := rows[start:min(start+500, len(rows))]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p.e.key
		}
		if err := collect(ctx, tx, `SELECT email_key FROM subscribers WHERE email_key IN (`+marks(len(part))+`)`, args, func(k string) {
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
	for start := 0; start < len(rows); start += 500 {
		part := rows[start:min(start+500, len(rows))]
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
	rs, err := tx.QueryContext(ctx, q, args...)
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
