package accounts_test

import (
	"context"
	"testing"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store/storetest"
)

// FuzzInviteToken: an invitation link from outside never panics and never
// works unless signed; every broken one is the same NotFound.
func FuzzInviteToken(f *testing.F) {
	db := storetest.Open(f)
	acc := accounts.New(db, accounts.WithInvitations(accounts.InviteConfig{Secret: []byte("0123456789abcdef0123456789abcdef")}))
	for _, s := range []string{"", "1.2.3", "1.99999999999.AAAA", "-1.-1.", "1..", "..", "9223372036854775807.9223372036854775807.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := acc.InvitedUser(context.Background(), token)
		if !errs.Is(err, errs.NotFound) {
			t.Fatalf("InvitedUser(%q) = %v; want NotFound", token, err)
		}
	})
}

// FuzzSessionSecret: any cookie value is refused without a panic.
func FuzzSessionSecret(f *testing.F) {
	db := storetest.Open(f)
	acc := accounts.New(db)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, secret string) {
		if _, err := acc.SessionUser(context.Background(), secret); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("SessionUser(%q) = %v", secret, err)
		}
	})
}
