package subscribers

import (
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

// A private list is neither shown nor changed on the preference page, and
// the public lists are what PublicLists offers the sign-up form.
func TestPrivateLists(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateListPublic(e.ctx, "vip", "VIP", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateList(e.ctx, "offers", "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	s := e.enroll(EnrollInput{Email: "pia@example.com", Lists: []string{"newsletter", "vip"}})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	pub, err := e.svc.PublicLists(e.ctx)
	if err != nil || len(pub) != 2 || pub[0].Slug != "newsletter" || pub[1].Slug != "offers" {
		t.Fatalf("public lists = %+v %v", pub, err)
	}
	tok := e.svc.ManageToken(s.ID)
	p, err := e.svc.Preferences(e.ctx, tok)
	if err != nil || len(p.Lists) != 2 {
		t.Fatalf("prefs = %+v %v", p, err)
	}
	for _, l := range p.Lists {
		if l.Slug == "vip" {
			t.Fatal("the preference page shows a private list")
		}
	}
	// Switching newsletter for offers keeps the private membership.
	if _, err := e.svc.SavePreferences(e.ctx, tok, PrefsInput{Lists: []string{"offers"}}, Meta{}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.Get(e.ctx, "pia@example.com")
	status := map[string]string{}
	for _, m := range got.Lists {
		status[m.Slug] = m.Status
	}
	if status["vip"] != StatusActive || status["offers"] != StatusActive || status["newsletter"] != StatusUnsubscribed {
		t.Fatalf("memberships = %v", status)
	}
	_, err = e.svc.SavePreferences(e.ctx, tok, PrefsInput{Lists: []string{"offers", "vip"}}, Meta{})
	if ee, ok := errs.As(err); !ok || ee.Kind != errs.Invalid || ee.Field != "lists" {
		t.Fatalf("joining a private list on the page: %v", err)
	}
	if err := e.svc.SetListPublic(e.ctx, "vip", true); err != nil {
		t.Fatal(err)
	}
	if pub, _ := e.svc.PublicLists(e.ctx); len(pub) != 3 {
		t.Fatalf("after making vip public: %+v", pub)
	}
	if err := e.svc.SetListPublic(e.ctx, "nope", true); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown list: %v", err)
	}
}
