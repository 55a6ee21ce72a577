package accounts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Session is a signed-in browser. Secret goes into the cookie; only its hash
// is stored, and deleting the row ends every copy of the cookie.
type Session struct {
	Secret  string
	UserID  int64
	Expires time.Time
}

// StartSession signs user id in for ttl and returns the new session.
func (s *Service) StartSession(ctx context.Context, id int64, ttl time.Duration) (Session, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Session{}, fmt.Errorf("accounts: random session: %w", err)
	}
	ss := Session{Secret: base64.RawURLEncoding.EncodeToString(raw[:]), UserID: id}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ss.Expires = tx.Now.Add(ttl)
		// Expired sessions are swept here: sign-ins are rare, and so the
		// table holds little more than the live sessions.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, tx.Now.Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashToken(ss.Secret), id, tx.Now.Unix(), ss.Expires.Unix())
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("accounts: start session for %d: %w", id, err)
	}
	return ss, nil
}

// SessionUser returns the user a live session belongs to, or Unauthorized
// when the session was ended, expired, or its user removed.
func (s *Service) SessionUser(ctx context.Context, secret string) (User, error) {
	if secret == "" || len(secret) > 100 {
		return User{}, errs.Unauthorizedf("no session")
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT u.id, u.email, u.role, u.password_hash = '', u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND s.expires_at > ?`, hashToken(secret), s.db.Now().Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errs.Unauthorizedf("no session")
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: load session: %w", err)
	}
	return u, nil
}

// EndSession signs one session out; ending one that is gone is no error.
func (s *Service) EndSession(ctx context.Context, secret string) error {
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashToken(secret))
		return err
	})
	if err != nil {
		return fmt.Errorf("accounts: end session: %w", err)
	}
	return nil
}
