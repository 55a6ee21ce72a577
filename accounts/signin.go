package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Lockout: after maxFailures wrong passwords within failWindow from one
// client address for one account, that address waits lockFor for that account.
// Other addresses are not affected, so a guesser elsewhere cannot lock the
// real user out.
const (
	maxFailures = 5
	failWindow  = 15 * time.Minute
	lockFor     = 15 * time.Minute
)

// dummyHash keeps sign-in time the same for unknown users, so timing does not
// tell which addresses have accounts. Same cost as real hashes.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("treu-dummy-password"), bcrypt.DefaultCost)

// failureKey is what failures are counted under: the address as typed,
// lower-cased and bounded, whether or not it has an account.
func failureKey(email string) string {
	k := strings.ToLower(strings.TrimSpace(email))
	if len(k) > 254 {
		k = k[:254]
	}
	return k
}

// SignIn checks a password for a sign-in from ip. Unknown addresses, invited
// users without a password and wrong passwords get the same answer after the
// same bcrypt work; repeated failures from one ip for one address answer
// RateLimited for a while, for known and unknown addresses alike.
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (User, error) {
	key := failureKey(email)
	now := s.db.Now()
	var locked sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT locked_until FROM signin_failures WHERE email = ? AND ip = ?`, key, ip).Scan(&locked)
	hadFailures := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("accounts: sign in: %w", err)
	}
	if locked.Valid && now.Unix() < locked.Int64 {
		return User{}, errs.RateLimitedf("too many failed sign-ins; try again later")
	}

	var hash string
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ?`, strings.TrimSpace(email))
	var u User
	var created int64
	err = row.Scan(&u.ID, &u.Email, &u.Role, &u.Invited, &created, &hash)
	u.CreatedAt = time.Unix(created, 0).UTC()
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && hash == ""):
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, s.failed(ctx, key, ip)
	case err != nil:
		return User{}, fmt.Errorf("accounts: sign in: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, s.failed(ctx, key, ip)
	}
	if hadFailures {
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE email = ? AND ip = ?`, key, ip)
			return err
		})
		if err != nil {
			return User{}, fmt.Errorf("accounts: reset failed sign-ins: %w", err)
		}
	}
	return u, nil
}

// failed counts one failure and answers Unauthorized. Counting and locking
// is one statement: parallel guesses each add one, so a burst of them cannot
// all read the old count and slip past the limit. The row's columns are
// named f.x: PostgreSQL would not know a bare first_at from excluded's.
func (s *Service) failed(ctx context.Context, key, ip string) error {
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		now := tx.Now.Unix()
		windowStart := tx.Now.Add(-failWindow).Unix()
		// Forget what has passed, so the table holds only live counts.
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures
			WHERE first_at < ? AND (locked_until IS NULL OR locked_until <= ?)`, windowStart, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signin_failures AS f (email, ip, failures, first_at) VALUES (?1, ?2, 1, ?3)
			ON CONFLICT (email, ip) DO UPDATE SET
				locked_until = CASE WHEN f.first_at >= ?4 AND f.failures + 1 >= ?5 THEN ?6 ELSE f.locked_until END,
				failures     = CASE WHEN f.first_at < ?4 THEN 1 WHEN f.failures + 1 >= ?5 THEN 0 ELSE f.failures + 1 END,
				first_at     = CASE WHEN f.first_at < ?4 THEN ?3 ELSE f.first_at END`,
			key, ip, now, windowStart, maxFailures, tx.Now.Add(lockFor).Unix())
		return err
	})
	if err != nil {
		return fmt.Errorf("accounts: record failed sign-in: %w", err)
	}
	return errs.Unauthorizedf("wrong email or password")
}
