package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestTokensAreHashedScopedAndRevocable(t *testing.T) {
	storetest.Each(t, testTokensAreHashedScopedAndRevocable)
}

func testTokensAreHashedScopedAndRevocable(t *testing.T, db *store.DB) {
	ctx := context.Background()
	acc := accounts.New(db)
	tok, secret, err := acc.CreateToken(ctx, "shop", accounts.ScopeShop)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	db.QueryRow(`SELECT hash FROM api_tokens WHERE id = ?`, tok.ID).Scan(&stored)
	if strings.Contains(stored, secret) || len(stored) != 64 {
		t.Fatalf("stored %q; want a sha256 hex, never the secret", stored)
	}
	if got, err := acc.Authenticate(ctx, secret); err != nil || got.ID != tok.ID || got.Scope != accounts.ScopeShop {
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
	if _, _, err := acc.CreateToken(ctx, "bad\nname", accounts.ScopeShop); !errs.Is(err, errs.Invalid) {
		t.Fatalf("control character in name: %v", err)
	}
	for _, sc := range []accounts.Scope{"", "root", "Admin"} {
		if _, _, err := acc.CreateToken(ctx, "x", sc); !errs.Is(err, errs.Invalid) || err.(*errs.Error).Field != "scope" {
			t.Errorf("scope %q: %v; want Invalid naming scope", sc, err)
		}
	}
	adm, _, err := acc.CreateToken(ctx, "ops", accounts.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := acc.Tokens(ctx)
	if err != nil || len(ts) != 2 || ts[0].ID != adm.ID || ts[0].Scope != accounts.ScopeAdmin || ts[1].Scope != accounts.ScopeShop {
		t.Fatalf("tokens = %+v, %v", ts, err)
	}
}

// A token made before scopes existed did everything; the migration keeps it so.
func TestOldTokensAreAdmin(t *testing.T) { storetest.Each(t, testOldTokensAreAdmin) }

func testOldTokensAreAdmin(t *testing.T, db *store.DB) {
	if _, err := db.Writer().Exec(`INSERT INTO api_tokens (name, prefix, hash, created_at) VALUES ('old', 'treu_x', 'h', 0)`); err != nil {
		t.Fatal(err)
	}
	ts, err := accounts.New(db).Tokens(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Scope != accounts.ScopeAdmin {
		t.Fatalf("tokens = %+v, %v", ts, err)
	}
}

func TestSignInLocksPerAccountAndAddress(t *testing.T) {
	storetest.Each(t, testSignInLocksPerAccountAndAddress)
}

func testSignInLocksPerAccountAndAddress(t *testing.T, db *store.DB) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	acc := accounts.New(db)
	if _, err := acc.AddUser(ctx, "mia@shop.example", "short", accounts.RoleOwner); !errs.Is(err, errs.Invalid) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := acc.AddUser(ctx, "mia@shop.example", "long enough", "root"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("unknown role: %v", err)
	}
	u, err := acc.AddUser(ctx, "mia@shop.example", "correct horse battery", accounts.RoleEditor)
	if err != nil || u.Role != accounts.RoleEditor {
		t.Fatal(u, err)
	}
	var hash string
	db.QueryRow(`SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash)
	if !strings.HasPrefix(hash, "$2") {
		t.Fatalf("password stored as %q; want bcrypt", hash)
	}
	if _, err := acc.AddUser(ctx, "MIA@shop.example", "another password", accounts.RoleViewer); !errs.Is(err, errs.Conflict) {
		t.Fatalf("duplicate user: %v", err)
	}
	const attacker, office = "198.51.100.9", "203.0.113.7"
	if got, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery", office); err != nil || got.Role != accounts.RoleEditor {
		t.Fatal(got, err)
	}
	for range 5 {
		if _, err := acc.SignIn(ctx, "mia@shop.example", "wrong", attacker); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery", attacker); !errs.Is(err, errs.RateLimited) {
		t.Fatalf("after 5 failures the right password must wait at that address: %v", err)
	}
	// The real user, elsewhere, is not locked out by the guesser.
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery", office); err != nil {
		t.Fatalf("another address must still sign in: %v", err)
	}
	// Unknown addresses lock the same way, so the answers tell nothing.
	for range 5 {
		if _, err := acc.SignIn(ctx, "nobody@shop.example", "whatever", attacker); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("unknown user: %v", err)
		}
	}
	if _, err := acc.SignIn(ctx, "nobody@shop.example", "whatever", attacker); !errs.Is(err, errs.RateLimited) {
		t.Fatalf("unknown user after 5 failures: %v; want the same lock as a known one", err)
	}
	now = now.Add(16 * time.Minute)
	if _, err := acc.SignIn(ctx, "mia@shop.example", "correct horse battery", attacker); err != nil {
		t.Fatalf("after the lock ends: %v", err)
	}
	var rows int
	db.QueryRow(`SELECT count(*) FROM signin_failures WHERE email = 'mia@shop.example'`).Scan(&rows)
	if rows != 0 {
		t.Fatalf("%d failure rows left after a successful sign-in", rows)
	}
}

// Known and unknown addresses cost the same bcrypt work, so response time
// does not tell which addresses have accounts.
func TestSignInTimingSameForUnknownAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("measures bcrypt")
	}
	db := storetest.Open(t)
	ctx := context.Background()
	acc := accounts.New(db)
	if _, err := acc.AddUser(ctx, "mia@shop.example", "correct horse battery", accounts.RoleOwner); err != nil {
		t.Fatal(err)
	}
	// Alternate the two, so a busy machine slows both alike.
	once := func(email, ip string) time.Duration {
		start := time.Now()
		if _, err := acc.SignIn(ctx, email, "wrong password", ip); !errs.Is(err, errs.Unauthorized) {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	once("warm@up.example", "192.0.2.99")
	var known, unknown time.Duration
	for i := range 4 { // under the lockout's 5
		ip := "192.0.2." + string(rune('1'+i))
		known += once("mia@shop.example", ip)
		unknown += once("nobody@shop.example", ip)
	}
	t.Logf("4 wrong sign-ins: known address %v, unknown address %v", known, unknown)
	if r := float64(known) / float64(unknown); r < 0.5 || r > 2 {
		t.Fatalf("known %v, unknown %v: timing tells them apart", known, unknown)
	}
}

func TestSessionsEndEveryCopy(t *testing.T) { storetest.Each(t, testSessionsEndEveryCopy) }

func testSessionsEndEveryCopy(t *testing.T, db *store.DB) {
	ctx := context.Background()
	acc := accounts.New(db)
	u, err := acc.AddUser(ctx, "mia@shop.example", "correct horse battery", accounts.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	a, err := acc.StartSession(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := acc.StartSession(ctx, u.ID, time.Hour)
	var stored int
	db.QueryRow(`SELECT count(*) FROM sessions WHERE id_hash = ?`, a.Secret).Scan(&stored)
	if stored != 0 {
		t.Fatal("session secret stored in clear")
	}
	if got, err := acc.SessionUser(ctx, a.Secret); err != nil || got.ID != u.ID {
		t.Fatal(got, err)
	}
	if err := acc.EndSession(ctx, a.Secret); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SessionUser(ctx, a.Secret); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("ended session: %v", err)
	}
	if _, err := acc.SessionUser(ctx, b.Secret); err != nil {
		t.Fatalf("the other session must live on: %v", err)
	}
	if err := acc.ChangePassword(ctx, u.ID, "wrong", "a new long password"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := acc.ChangePassword(ctx, u.ID, "correct horse battery", "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SessionUser(ctx, b.Secret); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("a password change must end every session: %v", err)
	}
	if _, err := acc.SignIn(ctx, "mia@shop.example", "a new long password", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	// Expired sessions do not sign anyone in.
	now := time.Now().Add(2 * time.Hour)
	c, _ := acc.StartSession(ctx, u.ID, time.Hour)
	db.Now = func() time.Time { return now }
	if _, err := acc.SessionUser(ctx, c.Secret); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("expired session: %v", err)
	}
}

func TestRolesAndTheLastOwner(t *testing.T) { storetest.Each(t, testRolesAndTheLastOwner) }

func testRolesAndTheLastOwner(t *testing.T, db *store.DB) {
	ctx := context.Background()
	acc := accounts.New(db)
	owner, _ := acc.AddUser(ctx, "owner@shop.example", "correct horse battery", accounts.RoleOwner)
	admin, _ := acc.AddUser(ctx, "admin@shop.example", "correct horse battery", accounts.RoleAdmin)
	ed, _ := acc.AddUser(ctx, "ed@shop.example", "correct horse battery", accounts.RoleEditor)

	if !accounts.RoleOwner.AtLeast(accounts.RoleAdmin) || accounts.RoleViewer.AtLeast(accounts.RoleEditor) || accounts.Role("x").AtLeast(accounts.RoleViewer) {
		t.Fatal("role order")
	}
	if _, err := acc.SetRole(ctx, ed, admin.ID, accounts.RoleViewer); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("an editor manages users: %v", err)
	}
	if _, err := acc.SetRole(ctx, admin, ed.ID, accounts.RoleOwner); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("an admin makes an owner: %v", err)
	}
	if _, err := acc.RemoveUser(ctx, admin, owner.ID); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("an admin removes an owner: %v", err)
	}
	if _, err := acc.SetRole(ctx, admin, ed.ID, accounts.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetRole(ctx, owner, owner.ID, accounts.RoleAdmin); !errs.Is(err, errs.Conflict) {
		t.Fatalf("the last owner steps down: %v", err)
	}
	if _, err := acc.RemoveUser(ctx, owner, owner.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("the last owner removed: %v", err)
	}
	if _, err := acc.SetRole(ctx, owner, admin.ID, accounts.RoleOwner); err != nil {
		t.Fatal(err)
	}
	s, _ := acc.StartSession(ctx, owner.ID, time.Hour)
	if _, err := acc.RemoveUser(ctx, accounts.User{ID: admin.ID, Role: accounts.RoleOwner}, owner.ID); err != nil {
		t.Fatalf("one of two owners removed: %v", err)
	}
	if _, err := acc.SessionUser(ctx, s.Secret); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("a removed user's session lives on: %v", err)
	}
	us, err := acc.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Email != "admin@shop.example" || us[0].Role != accounts.RoleOwner || us[1].Role != accounts.RoleViewer {
		t.Fatalf("users = %+v, %v", us, err)
	}
}

// Two owners demoting each other at once (two instances on PostgreSQL): one
// wins, the other is told it would leave no owner; never none left.
func TestOwnersDemotingEachOtherAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		acc := accounts.New(db)
		// Owners made in SQL: bcrypt (AddUser) would cost more than the race.
		owner := func(email string) accounts.User {
			var id int64
			err := db.Tx(ctx, func(tx *store.Tx) error {
				return tx.QueryRowContext(ctx, `INSERT INTO users (email, password_hash, role, created_at) VALUES (?, 'x', 'owner', 0) RETURNING id`, email).Scan(&id)
			})
			if err != nil {
				t.Fatal(err)
			}
			return accounts.User{ID: id, Email: email, Role: accounts.RoleOwner}
		}
		for round := range 5 {
			a, b := owner(fmt.Sprintf("a%d@shop.example", round)), owner(fmt.Sprintf("b%d@shop.example", round))
			errc := make(chan error, 2)
			go func() { _, err := acc.SetRole(ctx, a, b.ID, accounts.RoleAdmin); errc <- err }()
			go func() { _, err := acc.SetRole(ctx, b, a.ID, accounts.RoleAdmin); errc <- err }()
			e1, e2 := <-errc, <-errc
			if (e1 == nil) == (e2 == nil) || !errs.Is(errors.Join(e1, e2), errs.Conflict) {
				t.Fatalf("round %d: %v, %v; want one success and one conflict", round, e1, e2)
			}
			var owners int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'owner'`).Scan(&owners); err != nil || owners != 1 {
				t.Fatalf("round %d: %d owners, %v", round, owners, err)
			}
			// The one left steps down for the next round's pair.
			for _, u := range []accounts.User{a, b} {
				if _, err := db.Writer().ExecContext(ctx, db.Rebind(`DELETE FROM users WHERE id = ?`), u.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
