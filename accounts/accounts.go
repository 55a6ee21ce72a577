package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// tokenPrefix marks Treu tokens so secret scanners and people recognise them.
const tokenPrefix = "treu_"

// Service manages API tokens and users.
type Service struct {
	db *store.DB

	mu       sync.Mutex
	lastSeen map[int64]time.Time    // token id -> last time we wrote last_used_at
	verified map[string]cachedToken // token hash -> token, for authCacheTTL
}

// authCacheTTL: a verified token is trusted this long without a query. Every
// shop request needs it, and a revocation on this instance clears the cache at
// once; on another instance sharing the database it takes effect within this.
const authCacheTTL = 10 * time.Second

type cachedToken struct {
	tok     Token
	expires time.Time
}

// New returns a Service on db.
func New(db *store.DB) *Service {
	return &Service{db: db, lastSeen: map[int64]time.Time{}, verified: map[string]cachedToken{}}
}

// Token is an API token as listed; the secret itself is shown only once.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new token and returns it with its secret, which is not stored.
func (s *Service) CreateToken(ctx context.Context, name string) (Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, isControl) {
		return Token{}, "", errs.Invalidf("name", "name must be 1 to 100 printable characters")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Token{}, "", fmt.Errorf("accounts: random token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := Token{Name: name, Prefix: secret[:len(tokenPrefix)+6]}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		t.CreatedAt = tx.Now
		return tx.QueryRowContext(ctx,
			`INSERT INTO api_tokens (name, prefix, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			t.Name, t.Prefix, hashToken(secret), tx.Now.Unix()).Scan(&t.ID)
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("accounts: create token: %w", err)
	}
	return t, secret, nil
}

// Authenticate returns the token a secret belongs to, or an Unauthorized error.
func (s *Service) Authenticate(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return Token{}, errs.Unauthorizedf("invalid API token")
	}
	hash := hashToken(secret)
	now := s.db.Now()
	s.mu.Lock()
	c, ok := s.verified[hash]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		s.touch(ctx, c.tok.ID)
		return c.tok, nil
	}
	var t Token
	var created int64
	err := s.db.QueryRowContext(ctx,
		`SELECT id, name, prefix, created_at FROM api_tokens WHERE hash = ? AND revoked_at IS NULL`,
		hash).Scan(&t.ID, &t.Name, &t.Prefix, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, errs.Unauthorizedf("invalid API token")
	}
	if err != nil {
		return Token{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	t.CreatedAt = time.Unix(created, 0).UTC()
	s.mu.Lock()
	if len(s.verified) > 1000 { // tokens are few; this only bounds a flood of distinct valid ones
		clear(s.verified)
	}
	s.verified[hash] = cachedToken{tok: t, expires: now.Add(authCacheTTL)}
	s.mu.Unlock()
	s.touch(ctx, t.ID)
	return t, nil
}

// touch records last use at most once a minute per token: a write per API
// request would halve enrollment throughput for a figure shown to the minute.
func (s *Service) touch(ctx context.Context, id int64) {
	now := s.db.Now()
	s.mu.Lock()
	last := s.lastSeen[id]
	fresh := now.Sub(last) < time.Minute
	if !fresh {
		s.lastSeen[id] = now
	}
	s.mu.Unlock()
	if fresh {
		return
	}
	_ = s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, tx.Now.Unix(), id)
		return err
	})
}

// Tokens lists all tokens, newest first.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &t.Prefix, &created, &used, &revoked); err != nil {
			return nil, fmt.Errorf("accounts: list tokens: %w", err)
		}
		t.CreatedAt = time.Unix(created, 0).UTC()
		t.LastUsedAt = unixPtr(used)
		t.RevokedAt = unixPtr(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken stops a token from working.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	// The cache is cleared after the commit: cleared before, a concurrent
	// Authenticate could still read the old row and cache it again.
	defer func() {
		s.mu.Lock()
		clear(s.verified)
		s.mu.Unlock()
	}()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, tx.Now.Unix(), id)
		if err != nil {
			return fmt.Errorf("accounts: revoke token %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("no active token %d", id)
		}
		return nil
	})
}

func unixPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(v.Int64, 0).UTC()
	return &t
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// User is a marketer who signs in to the UI.
type User struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

// Lockout: after maxFailures wrong passwords the account waits lockFor.
const (
	maxFailures = 5
	lockFor     = 15 * time.Minute
	minPassword = 10
)

// AddUser creates a UI user with a bcrypt hash of password.
func (s *Service) AddUser(ctx context.Context, email, password string) (User, error) {
	email = strings.TrimSpace(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return User{}, errs.Invalidf("email", "%q is not a valid email address", email)
	}
	if utf8.RuneCountInString(password) < minPassword || len(password) > 72 {
		return User{}, errs.Invalidf("password", "password must be %d to 72 bytes long", minPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return User{}, fmt.Errorf("accounts: hash password: %w", err)
	}
	u := User{Email: email}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx,
			`INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?) RETURNING id`,
			email, string(hash), tx.Now.Unix()).Scan(&u.ID)
	})
	if store.IsUniqueViolation(err) {
		return User{}, errs.Conflictf("user %s exists already", email)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: add user: %w", err)
	}
	return u, nil
}

// dummyHash keeps sign-in time the same for unknown users, so timing does not
// tell which addresses have accounts.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("treu-dummy-password"), bcrypt.DefaultCost)

// SignIn checks a password. Repeated failures lock the account for a while.
func (s *Service) SignIn(ctx context.Context, email, password string) (User, error) {
	var u User
	var hash string
	var failed int
	var locked sql.NullInt64
	err := s.db.QueryRowContext(ctx,
		`SELECT id, email, password_hash, failed_logins, locked_until FROM users WHERE email = ?`, strings.TrimSpace(email)).
		Scan(&u.ID, &u.Email, &hash, &failed, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, errs.Unauthorizedf("wrong email or password")
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: sign in: %w", err)
	}
	now := s.db.Now()
	if locked.Valid && now.Unix() < locked.Int64 {
		return User{}, errs.RateLimitedf("too many failed sign-ins; try again later")
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		// Counted and locked in one statement: parallel guesses each add one,
		// so a burst of them cannot all see the old count and slip past.
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET
				locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END,
				failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END
				WHERE id = ?`,
				maxFailures, tx.Now.Add(lockFor).Unix(), maxFailures, u.ID)
			return err
		})
		if err != nil {
			return User{}, fmt.Errorf("accounts: record failed sign-in: %w", err)
		}
		return User{}, errs.Unauthorizedf("wrong email or password")
	}
	if failed > 0 || locked.Valid {
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?`, u.ID)
			return err
		})
		if err != nil {
			return User{}, fmt.Errorf("accounts: reset failed sign-ins: %w", err)
		}
	}
	return u, nil
}

// UserByID loads a user for a session.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT id, email FROM users WHERE id = ?`, id).Scan(&u.ID, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errs.NotFoundf("no user %d", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: load user %d: %w", id, err)
	}
	return u, nil
}
