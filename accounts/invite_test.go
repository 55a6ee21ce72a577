package accounts_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// SQLite only until package mailer, which the invitation goes through, is
// ported to PostgreSQL (issue 13): then storetest.Each.
func TestInvitationSetsPasswordOnce(t *testing.T) {
	testInvitationSetsPasswordOnce(t, storetest.Open(t))
}

func testInvitationSetsPasswordOnce(t *testing.T, db *store.DB) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	outbox := mailer.NewOutbox(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	q := mailer.NewQueue(db, outbox, slog.New(slog.NewTextHandler(io.Discard, nil)), mailer.QueueConfig{})
	acc := accounts.New(db, accounts.WithInvitations(accounts.InviteConfig{
		Secret: []byte("0123456789abcdef0123456789abcdef"), Mail: q, From: "treu@shop.example", BaseURL: "https://treu.shop.example/",
	}))
	owner, _ := acc.AddUser(ctx, "owner@shop.example", "correct horse battery", accounts.RoleOwner)
	viewer, _ := acc.AddUser(ctx, "vic@shop.example", "correct horse battery", accounts.RoleViewer)

	if _, err := acc.Invite(ctx, viewer, "new@shop.example", accounts.RoleEditor, "en"); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a viewer invites: %v", err)
	}
	if _, err := acc.Invite(ctx, owner, "owner@shop.example", accounts.RoleEditor, "en"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("inviting an existing account: %v", err)
	}
	link := func() string {
		t.Helper()
		if _, err := q.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		ms, err := outbox.List(ctx, 1, 0)
		if err != nil || len(ms) == 0 {
			t.Fatal(ms, err)
		}
		got, err := outbox.Get(ctx, ms[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`https://treu\.shop\.example/ui/invite/([0-9]+\.[0-9]+\.[A-Za-z0-9_-]+)`).FindStringSubmatch(got.Parsed.Text)
		if m == nil {
			t.Fatalf("no invitation link in\n%s", got.Parsed.Text)
		}
		return m[1]
	}
	u, err := acc.Invite(ctx, owner, "new@shop.example", accounts.RoleEditor, "de")
	if err != nil || !u.Invited {
		t.Fatal(u, err)
	}
	first := link()
	if _, err := acc.SignIn(ctx, "new@shop.example", "", "192.0.2.1"); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("an invited user without password signs in: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := acc.Invite(ctx, owner, "new@shop.example", accounts.RoleViewer, "en"); err != nil {
		t.Fatal(err)
	}
	second := link()
	if first == second {
		t.Fatal("a new invitation must make a new link")
	}
	if _, err := acc.InvitedUser(ctx, first); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the replaced link still works: %v", err)
	}
	for _, bad := range []string{"", "1.2", second + "x", strings.Replace(second, ".", ".9", 1)} {
		if _, err := acc.AcceptInvite(ctx, bad, "my very own password"); !errs.Is(err, errs.NotFound) {
			t.Errorf("accept %q: %v", bad, err)
		}
	}
	if got, err := acc.InvitedUser(ctx, second); err != nil || got.Email != "new@shop.example" || got.Role != accounts.RoleViewer {
		t.Fatal(got, err)
	}
	if _, err := acc.AcceptInvite(ctx, second, "short"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := acc.AcceptInvite(ctx, second, "my very own password"); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AcceptInvite(ctx, second, "another password!"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a link used twice: %v", err)
	}
	if _, err := acc.SignIn(ctx, "new@shop.example", "my very own password", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	// Expiry.
	if _, err := acc.Invite(ctx, owner, "late@shop.example", accounts.RoleViewer, "en"); err != nil {
		t.Fatal(err)
	}
	late := link()
	now = now.Add(73 * time.Hour)
	if _, err := acc.AcceptInvite(ctx, late, "my very own password"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("an expired link: %v", err)
	}
}
