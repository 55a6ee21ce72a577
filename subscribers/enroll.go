package subscribers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// EnrollInput is the body of POST /api/subscribers (API.md).
type EnrollInput struct {
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	Locale      string          `json:"locale"`
	Attributes  json.RawMessage `json:"attributes"`
	Lists       []string        `json:"lists"`
	Consent     *ConsentInput   `json:"consent"`
	DoubleOptIn *bool           `json:"double_optin"` // nil means true
	// Tracking: the person also agreed to per-person opens and clicks
	// (tracking.go); TrackingText is the consent text they saw.
	Tracking     bool   `json:"tracking"`
	TrackingText string `json:"tracking_text"`
	// LegalBasis: "consent" (the default) or "existing_customer" (UWG § 7
	// (3): the address came with a sale). An existing customer is active at
	// once, without double opt-in, and needs OrderID or Notice: the sale,
	// or the notice the customer was given there; both go into the consent log.
	LegalBasis string `json:"legal_basis"`
	OrderID    string `json:"order_id"`
	Notice     string `json:"notice"`
}

// enrollment is an EnrollInput that passed validation.
type enrollment struct {
	email, key, name, locale, attrs string
	lists                           []listRef
	consent                         ConsentInput
	doi                             bool
	meta                            Meta
	tracking                        bool
	trackingText                    string
	basis, orderID                  string
}

func (s *Service) validateEnroll(ctx context.Context, in EnrollInput, meta Meta) (enrollment, error) {
	var e enrollment
	var err error
	if e.email, err = ValidateEmail(in.Email); err != nil {
		return e, err
	}
	e.key = emailKey(e.email)
	if e.name, err = ValidateName(in.Name); err != nil {
		return e, err
	}
	if e.locale, err = ValidateLocale(in.Locale); err != nil {
		return e, err
	}
	e.attrs = "{}"
	if len(in.Attributes) > 0 {
		m, err := parseAttributes(in.Attributes)
		if err != nil {
			return e, err
		}
		if e.attrs, err = encodeAttributes(m); err != nil {
			return e, err
		}
	}
	e.doi = in.DoubleOptIn == nil || *in.DoubleOptIn
	if in.Consent != nil {
		if e.consent, err = validateConsent(*in.Consent); err != nil {
			return e, err
		}
	}
	if e.basis, e.orderID, err = validateBasis(in, &e.consent); err != nil {
		return e, err
	}
	if e.basis == BasisExistingCustomer {
		e.doi = false // the sale is the ground; there is no consent to confirm
	}
	if !e.doi && e.basis == BasisConsent && (in.Consent == nil || e.consent.Text == "") {
		return e, errs.Invalidf("consent", "double_optin false needs the consent proof (consent.text at least)")
	}
	if e.trackingText, err = validateTracking(in); err != nil {
		return e, err
	}
	e.tracking = in.Tracking
	e.meta = metaClean(meta)
	if e.consent.IP == "" {
		e.consent.IP = e.meta.IP
	}
	if e.consent.UserAgent == "" {
		e.consent.UserAgent = e.meta.UserAgent
	}
	if e.lists, err = s.resolveLists(ctx, in.Lists, true); err != nil {
		return e, err
	}
	return e, nil
}

// validateBasis checks the legal basis fields. For an existing customer the
// notice becomes the consent text (what the customer was told at the sale).
func validateBasis(in EnrollInput, c *ConsentInput) (basis, orderID string, err error) {
	switch in.LegalBasis {
	case "", BasisConsent:
		if in.OrderID != "" || in.Notice != "" {
			return "", "", errs.Invalidf("legal_basis", "order_id and notice are for legal_basis existing_customer")
		}
		return BasisConsent, "", nil
	case BasisExistingCustomer:
	default:
		return "", "", errs.Invalidf("legal_basis", "legal_basis is consent or existing_customer")
	}
	if in.DoubleOptIn != nil && *in.DoubleOptIn {
		return "", "", errs.Invalidf("double_optin", "an existing customer is enrolled without double opt-in")
	}
	if orderID, err = cleanText("order_id", in.OrderID, maxSource, false); err != nil {
		return "", "", err
	}
	notice, err := cleanText("notice", in.Notice, maxConsentText, true)
	if err != nil {
		return "", "", err
	}
	if orderID == "" && notice == "" {
		return "", "", errs.Invalidf("order_id", "an existing customer needs the sale: order_id, or the notice the customer was given")
	}
	if notice != "" {
		c.Text = notice
	}
	return BasisExistingCustomer, orderID, nil
}

func (e *enrollment) consentRow(action, detail string) consentRow {
	if e.basis == BasisExistingCustomer && (action == ActionImported || action == ActionSignup) {
		action = ActionExistingCustomer
		if e.orderID != "" {
			detail += "; order_id=" + e.orderID
		}
	}
	return consentRow{action: action, channel: e.meta.Channel, source: e.consent.Source, text: e.consent.Text,
		ip: e.consent.IP, ua: e.consent.UserAgent, detail: detail}
}

const insertSubscriber = `INSERT INTO subscribers
	(email, email_key, name, locale, attributes, status, created_at, updated_at, confirmed_at, confirm_sent_at, legal_basis)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const selectIDByKey = `SELECT id FROM subscribers WHERE email_key = ?`

// Enroll adds a subscriber, or finds the one with that address (created false).
//
// With double opt-in (the default) a new subscriber is pending, their lists
// are pending and the confirmation mail is queued in the same transaction.
// Without (an import of proven consent) they are active at once; no welcome
// mail goes out, since an import is not a fresh sign-up.
//
// Re-enrolling an existing address changes neither name nor attributes (PATCH
// does that) and is answered with the stored subscriber:
//   - double opt-in: lists not yet active become pending and need the click;
//     a pending or unsubscribed subscriber, or one asking for new lists, gets a
//     new confirmation mail unless the last one is younger than ConfirmResend.
//     Adding lists to an active subscriber without a confirmation would let
//     anyone who knows an address sign it up for more.
//   - import: lists become active, a pending subscriber active; an
//     unsubscribed one stays unsubscribed (a withdrawal outranks an import).
//
// An erased (suppressed) address may enroll again with double opt-in: a new,
// confirmed request is new consent, and the suppression goes at the click.
// An import of a suppressed address is refused (409): that is the accident
// suppression exists for.
func (s *Service) Enroll(ctx context.Context, in EnrollInput, meta Meta) (Subscriber, bool, error) {
	e, err := s.validateEnroll(ctx, in, meta)
	if err != nil {
		return Subscriber{}, false, err
	}
	j := &enrollJob{e: &e}
	if err := s.group.Do(ctx, j); err != nil {
		return Subscriber{}, false, err
	}
	return j.sub, j.created, nil
}

// enrollJob is one validated enrollment on its way into a group commit:
// concurrent enrollments share a transaction, and each caller still returns
// only after the commit that made its subscriber and confirmation mail durable.
type enrollJob struct {
	e       *enrollment
	sub     Subscriber
	created bool
}

func (s *Service) enrollJob(ctx context.Context, tx *store.Tx, j *enrollJob) (err error) {
	j.sub, j.created, err = s.enrollTx(ctx, tx, j.e)
	if err != nil {
		return err
	}
	return s.enrollTracking(ctx, tx, j)
}

// enrollTx is one enrollment inside tx.
func (s *Service) enrollTx(ctx context.Context, tx *store.Tx, e *enrollment) (sub Subscriber, created bool, err error) {
	now := tx.Now.Unix()
	if !e.doi {
		var one int
		err := tx.QueryRowCached(ctx, selectSuppressed, emailHash(e.key)).Scan(&one)
		if err == nil {
			return sub, false, errs.Conflictf("this address was erased or suppressed; enroll it with double opt-in")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return sub, false, fmt.Errorf("subscribers: suppression check: %w", err)
		}
	}
	status, listStatus := StatusPending, StatusPending
	var confirmedAt, sentAt any = nil, now
	if !e.doi {
		status, listStatus, confirmedAt, sentAt = StatusActive, StatusActive, now, nil
	}
	// Look first, then a plain INSERT: the transaction holds the write lock,
	// so nobody can insert in between, and a plain INSERT (unlike an upsert)
	// needs no statement journal.
	var id int64
	err = tx.QueryRowCached(ctx, selectIDByKey, e.key).Scan(&id)
	if err == nil {
		sub, err = s.reenroll(ctx, tx, e)
		return sub, false, err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return sub, false, fmt.Errorf("subscribers: look up: %w", err)
	}
	res, err := tx.ExecCached(ctx, insertSubscriber, e.email, e.key, e.name, e.locale, e.attrs,
		status, now, now, confirmedAt, sentAt, e.basis)
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		return sub, false, fmt.Errorf("subscribers: insert: %w", err)
	}
	if err := s.addMemberships(ctx, tx, id, e.lists, listStatus); err != nil {
		return sub, false, err
	}
	lists := "lists=" + slugsOf(e.lists)
	if e.doi {
		err = s.addConsents(ctx, tx, id, e.consentRow(ActionSignup, lists), consentRow{action: ActionConfirmationSent, channel: e.meta.Channel})
	} else {
		err = s.addConsents(ctx, tx, id, e.consentRow(ActionImported, lists))
	}
	if err != nil {
		return sub, false, err
	}
	if e.doi {
		if err := s.queueConfirm(ctx, tx, id, e.email, e.name, e.locale); err != nil {
			return sub, false, err
		}
	}
	sub = Subscriber{ID: id, Email: e.email, Name: e.name, Locale: e.locale, Status: status,
		Attributes: json.RawMessage(e.attrs), CreatedAt: unixTime(now), UpdatedAt: unixTime(now),
		Lists: make([]Membership, len(e.lists)), LegalBasis: e.basis}
	if !e.doi {
		sub.ConfirmedAt = &sub.CreatedAt
	}
	for i, l := range e.lists {
		sub.Lists[i] = Membership{Slug: l.Slug, Status: listStatus}
	}
	return sub, true, nil
}

// reenroll handles Enroll for an address that exists (see Enroll).
func (s *Service) reenroll(ctx context.Context, tx *store.Tx, e *enrollment) (Subscriber, error) {
	r, err := s.loadRowTx(ctx, tx, ref{"email_key = ?", e.key, e.email})
	if err != nil {
		return Subscriber{}, err
	}
	ms, err := loadMemberships(ctx, tx, r.id)
	if err != nil {
		return Subscriber{}, err
	}
	var missing []listRef // requested and not active
	for _, l := range e.lists {
		if statusIn(ms, l.ID) != StatusActive {
			missing = append(missing, l)
		}
	}
	now := tx.Now.Unix()
	if !e.doi {
		if e.basis == BasisConsent && r.basis == BasisExistingCustomer && r.status != StatusUnsubscribed {
			// Proof of consent (an import) turns an existing customer into a
			// consenting subscriber.
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET legal_basis = 'consent', updated_at = ? WHERE id = ?`, now, r.id); err != nil {
				return Subscriber{}, fmt.Errorf("subscribers: basis of %d: %w", r.id, err)
			}
			if len(missing) == 0 && r.status == StatusActive {
				if err := s.addConsents(ctx, tx, r.id, e.consentRow(ActionImported, "legal_basis=consent")); err != nil {
					return Subscriber{}, err
				}
				return load(ctx, tx, byID(r.id))
			}
		}
		if r.status == StatusUnsubscribed || (r.status == StatusActive && len(missing) == 0) {
			return load(ctx, tx, byID(r.id))
		}
		// A sale adds no lists to someone who consented: their consent
		// covers what they chose, and the basis never moves down.
		if e.basis == BasisExistingCustomer && r.status == StatusActive && r.basis == BasisConsent {
			return load(ctx, tx, byID(r.id))
		}
		if r.status == StatusPending {
			// Proof of consent (an import) makes an existing customer a consenting subscriber.
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'active', confirmed_at = ?, updated_at = ?, legal_basis = ? WHERE id = ?`,
				now, now, e.basis, r.id); err != nil {
				return Subscriber{}, fmt.Errorf("subscribers: activate %d: %w", r.id, err)
			}
		}
		if err := s.setMemberships(ctx, tx, r.id, missing, StatusActive); err != nil {
			return Subscriber{}, err
		}
		if err := s.addConsents(ctx, tx, r.id, e.consentRow(ActionImported, "lists="+slugsOf(missing))); err != nil {
			return Subscriber{}, err
		}
		return load(ctx, tx, byID(r.id))
	}
	if r.status == StatusActive && len(missing) == 0 {
		return load(ctx, tx, byID(r.id)) // nothing to confirm
	}
	if err := s.requestConfirmation(ctx, tx, r, ms, missing, e.consentRow(ActionSignup, "lists="+slugsOf(e.lists))); err != nil {
		return Subscriber{}, err
	}
	return load(ctx, tx, byID(r.id))
}

// requestConfirmation makes the lists pending that are neither active nor
// pending yet, and queues a confirmation mail if it did so or the last mail
// is older than ConfirmResend. The request is logged (signup) when it changed
// something or a mail went out, so repeated calls do not flood the log.
func (s *Service) requestConfirmation(ctx context.Context, tx *store.Tx, r row, ms []membership, lists []listRef, request consentRow) error {
	var fresh []listRef
	for _, l := range lists {
		if st := statusIn(ms, l.ID); st != StatusActive && st != StatusPending {
			fresh = append(fresh, l)
		}
	}
	if err := s.setMemberships(ctx, tx, r.id, fresh, StatusPending); err != nil {
		return err
	}
	now := tx.Now.Unix()
	// New lists always get a mail: the links already sent do not cover them
	// (see Confirm), and each list can become pending only once per request.
	send := len(fresh) > 0 || !r.confirmSent.Valid || now-r.confirmSent.Int64 >= int64(s.cfg.ConfirmResend.Seconds())
	var log []consentRow
	if send || len(fresh) > 0 {
		log = append(log, request)
	}
	if send {
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET confirm_sent_at = ?, updated_at = ? WHERE id = ?`, now, now, r.id); err != nil {
			return fmt.Errorf("subscribers: mark confirmation of %d: %w", r.id, err)
		}
		if err := s.queueConfirm(ctx, tx, r.id, r.email, r.name, r.locale); err != nil {
			return err
		}
		log = append(log, consentRow{action: ActionConfirmationSent, channel: request.channel})
	}
	return s.addConsents(ctx, tx, r.id, log...)
}

// Confirm acts on a confirmation link: the subscriber and the lists they
// asked for before the link was issued become active, the click's time and
// IP go into the consent log, a suppression of the address is lifted, and
// OnActivated runs (the welcome mail). Confirming again changes nothing and
// succeeds, so the page can say thank you twice. A link issued before the
// subscriber's last unsubscribe cannot undo it.
func (s *Service) Confirm(ctx context.Context, token string, meta Meta) (Subscriber, error) {
	id, iat, err := s.links.Parse(token, PurposeConfirm)
	if err != nil {
		return Subscriber{}, err
	}
	meta = metaClean(meta)
	if meta.Channel == "" {
		meta.Channel = ChannelLink
	}
	expired := s.db.Now().Sub(iat) > s.cfg.PendingTTL
	var sub Subscriber
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		r, err := s.loadRowTx(ctx, tx, byID(id))
		if errs.Is(err, errs.NotFound) {
			if expired {
				return tokenExpired()
			}
			return tokenInvalid() // erased, or purged a moment ago
		}
		if err != nil {
			return err
		}
		switch {
		case expired && r.status != StatusActive:
			return tokenExpired()
		case r.status == StatusUnsubscribed && r.unsubscribedAt.Valid && iat.Unix() <= r.unsubscribedAt.Int64:
			return tokenExpired()
		}
		now := tx.Now.Unix()
		var activated bool
		if r.status != StatusActive {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'active', confirmed_at = ?, updated_at = ? WHERE id = ?`,
				now, now, id); err != nil {
				return fmt.Errorf("subscribers: confirm %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email_hash = ?`, emailHash(r.key)); err != nil {
				return fmt.Errorf("subscribers: lift suppression of %d: %w", id, err)
			}
			activated = true
		}
		// Only the lists asked for up to the link's issue: a list requested
		// later needs a link of its own.
		var detail string
		if !expired {
			rows, err := tx.QueryContext(ctx, `UPDATE subscriptions SET status = 'active', updated_at = ?
				WHERE subscriber_id = ? AND status = 'pending' AND updated_at <= ?
				RETURNING (SELECT slug FROM lists WHERE lists.id = list_id)`, now, id, iat.Unix())
			if err != nil {
				return fmt.Errorf("subscribers: confirm lists of %d: %w", id, err)
			}
			var slugs []listRef
			for rows.Next() {
				var l listRef
				if err := rows.Scan(&l.Slug); err != nil {
					rows.Close()
					return fmt.Errorf("subscribers: confirm lists of %d: %w", id, err)
				}
				slugs = append(slugs, l)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("subscribers: confirm lists of %d: %w", id, err)
			}
			if len(slugs) > 0 {
				detail = "lists=" + slugsOf(slugs)
			}
		}
		if (activated || detail != "") && r.basis != BasisConsent {
			// A confirmed opt-in is consent: the customer is mailed as a
			// subscriber from now on, not as an existing customer.
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET legal_basis = 'consent' WHERE id = ?`, id); err != nil {
				return fmt.Errorf("subscribers: basis of %d: %w", id, err)
			}
		}
		if activated || detail != "" {
			if err := s.addConsents(ctx, tx, id, consentRow{action: ActionConfirmed, channel: meta.Channel,
				ip: meta.IP, ua: meta.UserAgent, detail: detail}); err != nil {
				return err
			}
		}
		if sub, err = load(ctx, tx, byID(id)); err != nil {
			return err
		}
		if activated && s.OnActivated != nil {
			return s.OnActivated(ctx, tx, sub)
		}
		return nil
	})
	if err != nil {
		return Subscriber{}, err
	}
	s.wakeQueue()
	return sub, nil
}

// PurgePending deletes subscribers who did not confirm within PendingTTL of
// their last confirmation mail (their links have expired too), and list
// requests of others left unconfirmed as long. It returns how many
// subscribers went. The scheduler calls it; it works in batches so the writer
// is never held long.
func (s *Service) PurgePending(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			cutoff := tx.Now.Add(-s.cfg.PendingTTL).Unix()
			rows, err := tx.QueryContext(ctx, `SELECT id FROM subscribers
				WHERE status = 'pending' AND confirm_sent_at < ? ORDER BY confirm_sent_at LIMIT 500`, cutoff)
			if err != nil {
				return fmt.Errorf("subscribers: purge: %w", err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("subscribers: purge: %w", err)
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("subscribers: purge: %w", err)
			}
			for _, id := range ids {
				for _, e := range s.cfg.Erasers {
					if err := e.DeleteForSubscriber(ctx, tx, id); err != nil {
						return fmt.Errorf("subscribers: purge %d: %w", id, err)
					}
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, id); err != nil {
					return fmt.Errorf("subscribers: purge %d: %w", id, err)
				}
			}
			n = len(ids)
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < 500 {
			break
		}
	}
	if total > 0 {
		s.log.Info("purged unconfirmed subscribers", slog.Int("count", total))
	}
	return total, s.purgeListRequests(ctx)
}

// noLiveLink: no confirmation link of subscriber s is still valid.
const noLiveLink = `(s.confirm_sent_at IS NULL OR s.confirm_sent_at < ?)`

// purgeListRequests drops unconfirmed list requests of subscribers who stay
// (active ones asking for another list). They are found on the read pool so
// the scan never holds the writer.
func (s *Service) purgeListRequests(ctx context.Context) error {
	cutoff := s.db.Now().Add(-s.cfg.PendingTTL).Unix()
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT su.subscriber_id, su.list_id FROM subscriptions su
			JOIN subscribers s ON s.id = su.subscriber_id
			WHERE su.status = 'pending' AND s.status <> 'pending' AND `+noLiveLink+` LIMIT 500`, cutoff)
		if err != nil {
			return fmt.Errorf("subscribers: purge list requests: %w", err)
		}
		var pairs [][2]int64
		for rows.Next() {
			var p [2]int64
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return fmt.Errorf("subscribers: purge list requests: %w", err)
			}
			pairs = append(pairs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("subscribers: purge list requests: %w", err)
		}
		if len(pairs) == 0 {
			return nil
		}
		err = s.db.Tx(ctx, func(tx *store.Tx) error {
			for _, p := range pairs {
				if _, err := tx.ExecContext(ctx, `DELETE FROM subscriptions
					WHERE subscriber_id = ? AND list_id = ? AND status = 'pending' AND EXISTS
					(SELECT 1 FROM subscribers s WHERE s.id = subscriber_id AND `+noLiveLink+`)`, p[0], p[1], cutoff); err != nil {
					return fmt.Errorf("subscribers: purge list requests: %w", err)
				}
			}
			return nil
		})
		if err != nil || len(pairs) < 500 {
			return err
		}
	}
}
