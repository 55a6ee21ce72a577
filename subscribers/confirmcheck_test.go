package subscribers

import (
	"errors"
	"testing"
	"time"
)

// CheckConfirm says what a link would confirm and changes nothing; it fails
// as Confirm would for a bad or expired link.
func TestCheckConfirmChangesNothing(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "lea@example.com", Locale: "en"})
	tok := e.confirmToken(s.ID)
	before := e.count(`SELECT count(*) FROM consents WHERE subscriber_id = ?`, s.ID)
	got, err := e.svc.CheckConfirm(e.ctx, tok)
	if err != nil || got.ID != s.ID || got.Status != StatusPending || got.Locale != "en" {
		t.Fatalf("CheckConfirm = %+v, %v", got, err)
	}
	if n := e.count(`SELECT count(*) FROM consents WHERE subscriber_id = ?`, s.ID); n != before {
		t.Fatalf("CheckConfirm wrote %d consent rows", n-before)
	}
	if _, err := e.svc.CheckConfirm(e.ctx, "AAAA"+tok[4:]); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("forged token: %v", err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	if _, err := e.svc.CheckConfirm(e.ctx, tok); !errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("expired token: %v", err)
	}
}
