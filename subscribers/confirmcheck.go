package subscribers

import (
	"context"

	"github.com/treu-mail/treu/internal/errs"
)

// CheckConfirm reads what a confirmation link would confirm, changing
// nothing: the page behind GET /confirm/{token} shows a button, and only its
// POST confirms, because mail security scanners open every link in a mail.
// It fails as Confirm would (ErrTokenInvalid, ErrTokenExpired).
func (s *Service) CheckConfirm(ctx context.Context, token string) (Subscriber, error) {
	id, iat, err := s.links.Parse(token, PurposeConfirm)
	if err != nil {
		return Subscriber{}, err
	}
	expired := s.db.Now().Sub(iat) > s.cfg.PendingTTL
	r, err := loadRow(ctx, s.db, byID(id))
	if errs.Is(err, errs.NotFound) {
		if expired {
			return Subscriber{}, tokenExpired()
		}
		return Subscriber{}, tokenInvalid()
	}
	if err != nil {
		return Subscriber{}, err
	}
	switch {
	case expired && r.status != StatusActive:
		return Subscriber{}, tokenExpired()
	case r.status == StatusUnsubscribed && r.unsubscribedAt.Valid && iat.Unix() <= r.unsubscribedAt.Int64:
		return Subscriber{}, tokenExpired()
	}
	return load(ctx, s.db, byID(id))
}
