package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Feedback about a mail (package feedback) changes who gets the next one
// through these functions: the suppressions table and a subscriber's
// memberships stay this package's alone.

// Suppression reasons (suppressions.reason, Recipient.Suppression).
const (
	SuppressErased    = "erased"    // the person was erased (GDPR Art. 17)
	SuppressBounce    = "bounce"    // a hard bounce, or too many soft ones
	SuppressComplaint = "complaint" // the recipient marked a mail as spam
)

// Statuses the API shows for an active or unsubscribed subscriber whose
// address is suppressed because of a bounce or a complaint.
const (
	StatusBounced    = "bounced"
	StatusComplained = "complained"
)

// ChannelFeedback records a withdrawal that a complaint report (ARF, a
// provider's feedback loop) caused, in the consent log.
const ChannelFeedback = "feedback"

// Addressee is whom a bounce or complaint is about: the subscriber (ID 0 when
// the address belongs to none, e.g. a transactional mail) and the address.
type Addressee struct {
	ID    int64
	Email string
	Hash  string // the suppression key: hex sha256 of the lower-cased address
}

// FindAddressee resolves feedback to a person inside tx: by subscriber id
// when it is known (a signed VERP token) and still exists, else by address.
// An address that is not valid is an errs.Invalid naming "email"; an unknown
// id with no address is errs.NotFound.
func (s *Service) FindAddressee(ctx context.Context, tx *store.Tx, id int64, email string) (Addressee, error) {
	if id > 0 {
		rw, err := s.loadRowTx(ctx, tx, byID(id))
		if err == nil {
			return Addressee{ID: rw.id, Email: rw.email, Hash: emailHash(rw.key)}, nil
		}
		if !errs.Is(err, errs.NotFound) {
			return Addressee{}, err
		}
		if email == "" {
			return Addressee{}, err // erased: its address is suppressed already
		}
	}
	norm, err := ValidateEmail(email)
	if err != nil {
		return Addressee{}, err
	}
	key := emailKey(norm)
	a := Addressee{Email: norm, Hash: emailHash(key)}
	err = tx.QueryRowCached(ctx, selectIDByKey, key).Scan(&a.ID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Addressee{}, fmt.Errorf("subscribers: find %s: %w", a.Hash[:12], err)
	}
	return a, nil
}

// SuppressTx makes sure the address with hash is never mailed again for
// reason (SuppressBounce or SuppressComplaint), inside tx. A complaint
// outranks a bounce; an erasure's suppression stays as it is.
func (s *Service) SuppressTx(ctx context.Context, tx *store.Tx, hash, reason string) error {
	if reason != SuppressBounce && reason != SuppressComplaint {
		return errs.Invalidf("reason", "suppression reason must be %s or %s", SuppressBounce, SuppressComplaint)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, ?, ?)
		ON CONFLICT (email_hash) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at
		WHERE suppressions.reason = 'bounce' AND excluded.reason = 'complaint'`,
		hash, reason, tx.Now.Unix()); err != nil {
		return fmt.Errorf("subscribers: suppress %s: %w", hash[:min(12, len(hash))], err)
	}
	return nil
}

// Suppress suppresses email for reason in its own transaction; see SuppressTx.
func (s *Service) Suppress(ctx context.Context, email, reason string) error {
	norm, err := ValidateEmail(email)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		return s.SuppressTx(ctx, tx, emailHash(emailKey(norm)), reason)
	})
}

// UnsubscribeAllTx unsubscribes subscriber id from every list inside tx, as
// the unsubscribe link does (queued marketing mail is withdrawn, the consent
// log records meta.Channel, default ChannelFeedback). A subscriber who is gone
// or already unsubscribed is left as is.
func (s *Service) UnsubscribeAllTx(ctx context.Context, tx *store.Tx, id int64, meta Meta) error {
	rw, err := s.loadRowTx(ctx, tx, byID(id))
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	meta = metaClean(meta)
	if meta.Channel == "" {
		meta.Channel = ChannelFeedback
	}
	return s.unsubscribeAll(ctx, tx, rw, meta)
}

// UnsubscribeAll is UnsubscribeAllTx for an address, in its own transaction.
func (s *Service) UnsubscribeAll(ctx context.Context, email string, meta Meta) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		a, err := s.FindAddressee(ctx, tx, 0, email)
		if err != nil {
			return err
		}
		if a.ID == 0 {
			return errs.NotFoundf("no subscriber with this address")
		}
		return s.UnsubscribeAllTx(ctx, tx, a.ID, meta)
	})
}

// feedbackStatus is the status the API shows: a bounce or complaint
// suppression says more than active or unsubscribed.
func feedbackStatus(ctx context.Context, q querier, key, status string) (string, error) {
	if status == StatusPending {
		return status, nil
	}
	var reason string
	err := q.QueryRowContext(ctx, `SELECT reason FROM suppressions WHERE email_hash = ?`, emailHash(key)).Scan(&reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return status, nil
	case err != nil:
		return "", fmt.Errorf("subscribers: suppression of a subscriber: %w", err)
	case reason == SuppressBounce:
		return StatusBounced, nil
	case reason == SuppressComplaint:
		return StatusComplained, nil
	}
	return status, nil
}
