package subscribers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// The marketing rule, the one definition in Treu of who may get marketing mail
// for a set of lists:
//
//	the subscriber is active, has an active subscription to at least one of
//	the lists, their address (email_key) is not suppressed, and their legal
//	basis is consent, or existing_customer where the mailing allows that
//	basis (Mailing.ExistingCustomers: UWG § 7 (3), the shop's own similar
//	products only, with the objection notice in the footer).
//
// It exists in two forms that must agree, and a table test feeds the same
// fixtures through both and through every caller (marketing_test.go):
// MarketingWhere for set-based SQL (segment counts, the campaign snapshot, a
// flow's entry), and Recipients for a batch of known subscribers (the
// campaign engine before each batch, flow steps when due). Addresses typed
// by a person (test sends, transactional mail) are checked with Suppressed,
// which normalises them the way enrollment does.

// Why a subscriber may not get a marketing mail (Recipient.Skip).
const (
	SkipPending      = "pending"      // never confirmed
	SkipUnsubscribed = "unsubscribed" // not active, or on none of the lists
	SkipSuppressed   = "suppressed"   // the address is suppressed (Recipient.Suppression says why)
	SkipBasis        = "basis"        // an existing customer (no consent), and the mailing is not for them
)

// Legal bases of marketing mail (subscribers.legal_basis).
const (
	BasisConsent          = "consent"           // double opt-in, or imported proof of consent
	BasisExistingCustomer = "existing_customer" // UWG § 7 (3): the address came with a sale
)

// Mailing is what the marketing rule needs to know about a mail: the lists it
// is for (slugs) and whether it may reach existing customers, who gave no
// consent (only a mailing about the shop's own similar products may, and says
// so: a campaign's or flow's existing_customers setting).
type Mailing struct {
	Lists             []string
	ExistingCustomers bool
}

// MarketingWhere is the marketing rule as a boolean SQL expression over
// `subscribers AS s`, for lists (slugs; none means any list, which only a
// segment's own count wants). and, if not empty, is a further condition over
// s with its args (a segment rule): it is placed before the suppression test
// so the per-row hash runs only for rows that passed everything else.
// Subquery aliases start with mk_.
func MarketingWhere(lists []string, and string, andArgs ...any) (string, []any) {
	return MarketingWhereFor(Mailing{Lists: lists}, and, andArgs...)
}

// MarketingWhereFor is MarketingWhere for a mailing that may also reach
// existing customers (m.ExistingCustomers).
func MarketingWhereFor(m Mailing, and string, andArgs ...any) (string, []any) {
	lists := m.Lists
	var b strings.Builder
	var args []any
	// The unary + keeps SQLite from using the status index: without ANALYZE
	// statistics it would scan 90% of subscribers through it instead of
	// letting a selective rule (an attribute, a small list) drive by rowid.
	b.WriteString("+s.status = 'active' AND EXISTS (SELECT 1 FROM subscriptions AS mk_sub WHERE mk_sub.subscriber_id = s.id AND mk_sub.status = 'active'")
	if len(lists) > 0 {
		// Slugs resolve to ids first, so each subscriber costs one primary-key
		// probe per list instead of a join.
		b.WriteString(" AND mk_sub.list_id IN (SELECT mk_l.id FROM lists AS mk_l WHERE mk_l.slug IN (SELECT value FROM json_each(?)))")
		args = append(args, store.JSONStrings(lists))
	}
	b.WriteString(")")
	if !m.ExistingCustomers {
		b.WriteString(" AND s.legal_basis = 'consent'")
	}
	if and != "" {
		b.WriteString(" AND (" + and + ")")
		args = append(args, andArgs...)
	}
	// The first, uncorrelated test is evaluated once and skips hashing
	// altogether while nobody is suppressed.
	b.WriteString(" AND (NOT EXISTS (SELECT 1 FROM suppressions) OR NOT EXISTS (SELECT 1 FROM suppressions AS mk_x WHERE mk_x.email_hash = " + store.SHA256HexFunc + "(s.email_key)))")
	return b.String(), args
}

// Recipient is what a mail to a subscriber needs, and whether it may be sent.
type Recipient struct {
	ID                       int64
	Email, Name, Locale      string
	Attributes               string // JSON object
	Tracking                 bool   // consented to per-person tracking (TDDDG § 25)
	Skip                     string // "" when the marketing rule holds; else a Skip* constant
	Suppression              string // the suppression's reason when suppressed: SuppressErased, SuppressBounce, SuppressComplaint
	Status                   string // the subscriber's status
	Basis                    string // the legal basis: BasisConsent or BasisExistingCustomer
	ListedActive, Suppressed bool
}

// May reports whether the marketing rule holds.
func (r Recipient) May() bool { return r.Skip == "" }

// ExistingCustomer reports whether the subscriber is mailed as an existing
// customer: such a mail carries the objection notice (templates.Data.ExistingCustomer).
func (r Recipient) ExistingCustomer() bool { return r.Basis == BasisExistingCustomer }

// Undeliverable reports whether no mail at all, transactional included, should
// go to the address: it bounced permanently, and another try only harms the
// shop's sender reputation. Erasure and complaints end marketing, not the
// contract with the customer.
func (r Recipient) Undeliverable() bool { return r.Suppression == SuppressBounce }

// Recipients loads the subscribers ids and checks the marketing rule for each
// against lists (slugs, at least one). Ids that no longer exist (erased) are
// missing from the map. Two reads, none per subscriber: the addresses are
// hashed here rather than in SQL, and the suppressions looked up in one go.
func Recipients(ctx context.Context, q Querier, ids []int64, lists []string) (map[int64]Recipient, error) {
	return RecipientsFor(ctx, q, ids, Mailing{Lists: lists})
}

// RecipientsFor is Recipients for a mailing that may also reach existing
// customers (m.ExistingCustomers).
func RecipientsFor(ctx context.Context, q Querier, ids []int64, m Mailing) (map[int64]Recipient, error) {
	out := make(map[int64]Recipient, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	byHash, err := loadRecipients(ctx, q, out, `s.id IN (SELECT value FROM json_each(?))`, store.JSONInts(ids), m)
	if err != nil {
		return nil, err
	}
	return out, markSuppressed(ctx, q, out, byHash)
}

// Lookup checks one address typed by a person (a test send, a transactional
// mail): the subscriber with that address, if any (found), and the marketing
// rule for lists (none: any list; an existing customer is skipped with
// SkipBasis, since a typed address is no mailing that chose them). An address without a subscriber (never
// enrolled, or erased) comes back with ID 0, Skip SkipUnsubscribed, and its
// suppression. An invalid address is an errs.Invalid naming field.
func Lookup(ctx context.Context, q Querier, field, addr string, lists []string) (r Recipient, found bool, err error) {
	norm, err := ValidateEmail(addr)
	if err != nil {
		if ee, ok := errs.As(err); ok {
			return Recipient{}, false, errs.Invalidf(field, "%s: %s", addr, ee.Msg)
		}
		return Recipient{}, false, err
	}
	key := emailKey(norm)
	out := make(map[int64]Recipient, 1)
	if _, err := loadRecipients(ctx, q, out, `s.email_key = ?`, key, Mailing{Lists: lists}); err != nil {
		return Recipient{}, false, err
	}
	for _, r = range out {
		found = true
	}
	if !found {
		r = Recipient{Email: norm, Skip: SkipUnsubscribed, Attributes: "{}", Basis: BasisConsent}
	}
	sup, err := suppressedHashes(ctx, q, []string{emailHash(key)})
	if err != nil {
		return Recipient{}, false, err
	}
	for _, reason := range sup {
		r.Suppressed, r.Suppression = true, reason
		if r.Skip == "" {
			r.Skip = SkipSuppressed
		}
	}
	return r, found, nil
}

// loadRecipients reads the subscribers matching where (over s, one arg) into
// out with the list and basis parts of the rule decided, and returns their
// email hashes.
func loadRecipients(ctx context.Context, q querier, out map[int64]Recipient, where string, arg any, m Mailing) (map[string]int64, error) {
	lists := m.Lists
	listed := `EXISTS (SELECT 1 FROM subscriptions AS mk_sub WHERE mk_sub.subscriber_id = s.id AND mk_sub.status = 'active')`
	args := []any{arg}
	if len(lists) > 0 {
		listed = `EXISTS (SELECT 1 FROM subscriptions AS mk_sub WHERE mk_sub.subscriber_id = s.id AND mk_sub.status = 'active'
			AND mk_sub.list_id IN (SELECT mk_l.id FROM lists AS mk_l WHERE mk_l.slug IN (SELECT value FROM json_each(?))))`
		args = []any{store.JSONStrings(lists), arg}
	}
	rows, err := q.QueryContext(ctx, `SELECT s.id, s.email, s.email_key, s.name, s.locale, s.attributes, s.tracking, s.status, s.legal_basis, `+listed+`
		FROM subscribers AS s WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("subscribers: load recipients: %w", err)
	}
	defer rows.Close()
	byHash := make(map[string]int64)
	for rows.Next() {
		var (
			r   Recipient
			key string
		)
		if err := rows.Scan(&r.ID, &r.Email, &key, &r.Name, &r.Locale, &r.Attributes, &r.Tracking, &r.Status, &r.Basis, &r.ListedActive); err != nil {
			return nil, fmt.Errorf("subscribers: load recipients: %w", err)
		}
		switch {
		case r.Status == "pending":
			r.Skip = SkipPending
		case r.Status != "active" || !r.ListedActive:
			r.Skip = SkipUnsubscribed
		case r.Basis != BasisConsent && !m.ExistingCustomers:
			r.Skip = SkipBasis
		}
		byHash[emailHash(key)] = r.ID
		out[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscribers: load recipients: %w", err)
	}
	return byHash, nil
}

// markSuppressed looks up the hashes in one read and marks their recipients.
func markSuppressed(ctx context.Context, q querier, out map[int64]Recipient, byHash map[string]int64) error {
	hashes := make([]string, 0, len(byHash))
	for h := range byHash {
		hashes = append(hashes, h)
	}
	sup, err := suppressedHashes(ctx, q, hashes)
	if err != nil {
		return err
	}
	for h, reason := range sup {
		r := out[byHash[h]]
		r.Suppressed, r.Suppression = true, reason
		if r.Skip == "" {
			r.Skip = SkipSuppressed
		}
		out[r.ID] = r
	}
	return nil
}

// Suppressed returns, for each of addrs that is suppressed, the reason
// ("erased", "bounce", "complaint"), keyed by the address as given.
// Addresses are normalised as enrollment does (IDN domains to ASCII, case),
// so a suppression matches however the address is typed; an invalid address
// cannot be suppressed and is left out.
func Suppressed(ctx context.Context, q Querier, addrs ...string) (map[string]string, error) {
	byHash := make(map[string][]string, len(addrs))
	hashes := make([]string, 0, len(addrs))
	for _, a := range addrs {
		norm, err := ValidateEmail(a)
		if err != nil {
			continue
		}
		h := emailHash(emailKey(norm))
		if _, ok := byHash[h]; !ok {
			hashes = append(hashes, h)
		}
		byHash[h] = append(byHash[h], a)
	}
	sup, err := suppressedHashes(ctx, q, hashes)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sup))
	for h, reason := range sup {
		for _, a := range byHash[h] {
			out[a] = reason
		}
	}
	return out, nil
}

// suppressedHashes returns the reason of each suppressed hash.
func suppressedHashes(ctx context.Context, q querier, hashes []string) (map[string]string, error) {
	out := map[string]string{}
	if len(hashes) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT email_hash, reason FROM suppressions WHERE email_hash IN (SELECT value FROM json_each(?))`, store.JSONStrings(hashes))
	if err != nil {
		return nil, fmt.Errorf("subscribers: check suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, reason string
		if err := rows.Scan(&h, &reason); err != nil {
			return nil, fmt.Errorf("subscribers: check suppressions: %w", err)
		}
		out[h] = reason
	}
	return out, rows.Err()
}

// emailHash is the suppression key: hex sha256 of the email_key.
func emailHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
