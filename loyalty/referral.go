package loyalty

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// ReferralLinks signs recommend-a-friend links: BASE/r/TOKEN, where the
// token names the referrer and cannot be made up for another subscriber.
type ReferralLinks struct {
	key  []byte
	base string
}

// NewReferralLinks derives its own key from the installation's secret, so
// a referral token never stands in for another kind of link.
func NewReferralLinks(secret []byte, baseURL string) *ReferralLinks {
	d := hmac.New(sha256.New, secret)
	d.Write([]byte("treu referral links v1"))
	return &ReferralLinks{key: d.Sum(nil), base: strings.TrimRight(baseURL, "/")}
}

const refMAC = 10

func (l *ReferralLinks) mac(body []byte) []byte {
	h := hmac.New(sha256.New, l.key)
	h.Write(body)
	return h.Sum(nil)[:refMAC]
}

// Token signs the referrer's id.
func (l *ReferralLinks) Token(subscriberID int64) string {
	body := binary.BigEndian.AppendUint64(nil, uint64(subscriberID))
	return base64.RawURLEncoding.EncodeToString(append(body, l.mac(body)...))
}

// URL is the referrer's link.
func (l *ReferralLinks) URL(subscriberID int64) string {
	return l.base + "/r/" + l.Token(subscriberID)
}

// Parse returns the referrer a token names; a bad token is errs.Invalid
// naming field.
func (l *ReferralLinks) Parse(field, tok string) (int64, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) != 8+refMAC || !hmac.Equal(raw[8:], l.mac(raw[:8])) {
		return 0, errs.Invalidf(field, "%s is not a valid referral link", field)
	}
	id := int64(binary.BigEndian.Uint64(raw))
	if id <= 0 {
		return 0, errs.Invalidf(field, "%s is not a valid referral link", field)
	}
	return id, nil
}

// Refer records that friendID enrolled through the link of referrer (from
// Parse). A friend is referred once (the first link wins), never by
// themselves, and only as a newcomer: someone who has ordered before
// brings the referrer nothing. It reports whether it recorded anything.
func (s *Service) Refer(ctx context.Context, friendID, referrer int64) (bool, error) {
	if friendID == referrer {
		return false, nil
	}
	var done bool
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO referrals (friend_id, referrer_id, created_at)
			SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM subscribers WHERE id = ?2)
			AND NOT EXISTS (SELECT 1 FROM subscribers WHERE id = ?1 AND order_count > 0)
			ON CONFLICT (friend_id) DO NOTHING`, friendID, referrer, tx.Now.Unix())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("loyalty: refer %d by %d: %w", friendID, referrer, err)
	}
	return done, nil
}

// creditReferrer credits the referrer of friend at the friend's first order
// (in that order's transaction): ReferralPoints and, with ReferralPool, a
// coupon code. It returns the referrer credited, or 0.
func (s *Service) creditReferrer(ctx context.Context, tx *store.Tx, friend int64) (int64, error) {
	var referrer int64
	err := tx.QueryRowContext(ctx, `SELECT referrer_id FROM referrals WHERE friend_id = ? AND credited_at IS NULL`, friend).Scan(&referrer)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("loyalty: referrer of %d: %w", friend, err)
	}
	var credit []string
	if s.cfg.ReferralPoints > 0 {
		if _, err := add(ctx, tx, referrer, KindReferral, itoa(friend), s.cfg.ReferralPoints); err != nil {
			return 0, err
		}
		credit = append(credit, itoa(s.cfg.ReferralPoints)+" points")
	}
	if s.cfg.ReferralPool != "" {
		code, err := s.assign(ctx, tx, s.cfg.ReferralPool, referrer)
		if err != nil {
			return 0, err
		}
		if code != "" {
			credit = append(credit, code)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE referrals SET credited_at = ?, credit = ? WHERE friend_id = ?`,
		tx.Now.Unix(), strings.Join(credit, ", "), friend); err != nil {
		return 0, fmt.Errorf("loyalty: credit referral of %d: %w", friend, err)
	}
	return referrer, nil
}
