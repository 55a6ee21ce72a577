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
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// tokenPrefix marks Treu tokens so secret scanners and people recognise them.
const tokenPrefix = "treu_"

// Service manages API tokens, users and their sessions.
type Service struct {
	db     *store.DB
	invite InviteConfig

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

// Option configures a Service.
type Option func(*Service)

// New returns a Service on db. Without WithInvitations it can do everything
// but invite users by mail (the admin commands need no mail).
func New(db *store.DB, opts ...Option) *Service {
	s := &Service{db: db, lastSeen: map[int64]time.Time{}, verified: map[string]cachedToken{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Scope is what an API token may do.
type Scope string

const (
	// ScopeShop is for the shop's software: enroll, events, transactional
	// mail and reading a subscriber. A leaked shop token cannot export,
	// erase or mail everyone.
	ScopeShop Scope = "shop"
	// ScopeAdmin may call every API route. Tokens made before scopes existed
	// are admin tokens, and so is `treu token create` without --scope, so
	// scripts written against the old behaviour keep working.
	ScopeAdmin Scope = "admin"
)

// ParseScope accepts "shop" or "admin".
func ParseScope(v string) (Scope, error) {
	switch sc := Scope(strings.TrimSpace(v)); sc {
	case ScopeShop, ScopeAdmin:
		return sc, nil
	}
	return "", errs.Invalidf("scope", "scope must be shop or admin, not %q", v)
}

// Token is an API token as listed; the secret itself is shown only once.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      Scope      `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new token with a scope and returns it with its secret,
// which is not stored.
func (s *Service) CreateToken(ctx context.Context, name string, scope Scope) (Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, isControl) {
		return Token{}, "", errs.Invalidf("name", "name must be 1 to 100 printable characters")
	}
	if _, err := ParseScope(string(scope)); err != nil {
		return Token{}, "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Token{}, "", fmt.Errorf("accounts: random token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := Token{Name: name, Prefix: secret[:len(tokenPrefix)+6], Scope: scope}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		t.CreatedAt = tx.Now
		return tx.QueryRowContext(ctx,
			`INSERT INTO api_tokens (name, prefix, scope, hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			t.Name, t.Prefix, t.Scope, hashToken(secret), tx.Now.Unix()).Scan(&t.ID)
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
		`SELECT id, name, prefix, scope, created_at FROM api_tokens WHERE hash = ? AND revoked_at IS NULL`,
		hash).Scan(&t.ID, &t.Name, &t.Prefix, &t.Scope, &created)
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
		`SELECT id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &t.Prefix, &t.Scope, &created, &used, &revoked); err != nil {
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
