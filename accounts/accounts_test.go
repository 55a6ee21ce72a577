package accounts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store/storetest"
)

func TestTokensAreHashedAndRevocable(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	acc := accounts.New(db)
	tok, secret, err := acc.CreateToken(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	db.QueryRow(`SELECT hash FROM api_tokens WHERE id = ?`, tok.ID).Scan(&stored)
	if strings.Contains(stored, secret) || len(stored) != 64 {
		t.Fatalf("stored %q; want a sha256 hex, never the secret", stored)
	}
	if got, err := acc.Authenticate(ctx, secret); err != nil || got.ID != tok.ID {
		t.Fatalf("authenticate = %+v, %v", got, err)
	}
	for _, bad := range []string{"", secret + "x", secret[:len(secret)-1], "treu_" + strings.Repeat("A", 43)} {
		if _, err := acc.Authenticate(ctx, bad); !errs.Is(err, errs.Unauthorized) {
			t.Errorf("authenticate(%q) = %v; want Unauthorized", bad, err)
		}
	}
	if err := acc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Authenticate(ctx, secret); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("revoked token still works: %v", err)
	}
	if _, _, err := acc.CreateToken(ctx, "bad\nname"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("control character in name: %v", err)
	}
}

func TestSignInLocksAfterRepeatedFailures(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	acc := accounts.New(db)
	if _, err := acc.AddUser(ctx, "mia@shop.example", "short"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("short password: %v", err)
	}
	u, err := acc.AddUser(ctx, "mia@shop.example", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	db.QueryRow(`SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash)
	if !strings.HasPrefix(hash, "$2") {
		t.Fatalf("password stored as %q; want bcrypt", hash)
	}
	if _, err := acc.AddUser(ctx, "MIA@shop.example", "another password"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := acc.SignIn(ctx, "mia@shop.example", "wrong"); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery"); !errs.Is(err, errs.RateLimited) {
		t.Fatalf("after 5 failures the right password must wait: %v", err)
	}
	now = now.Add(16 * time.Minute)
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery"); err != nil {
		t.Fatalf("after the lock ends: %v", err)
	}
	if _, err := acc.SignIn(ctx, "nobody@shop.example", "whatever"); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("unknown user: %v", err)
	}
}
