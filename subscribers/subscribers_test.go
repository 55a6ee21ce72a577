package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
)

func errKindName(err error) string {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return "invalid422"
	case errs.NotFound:
		return "notfound"
	case errs.Conflict:
		return "conflict"
	case errs.Malformed:
		return "malformed"
	}
	return "internal"
}

func ptr[T any](v T) *T { return &v }

func TestEnrollDoubleOptInQueuesConfirmationInSameTx(t *testing.T) {
	e := newEnv(t)
	s, created, err := e.svc.Enroll(e.ctx, EnrollInput{
		Email: "Anna.Schmidt@Beispiel.DE", Name: "Anna Schmidt", Locale: "de-DE",
		Attributes: json.RawMessage(`{"city":"Köln","vip":true}`),
		Consent:    &ConsentInput{Text: "Ja, ich möchte den Newsletter.", IP: "2001:db8::1", UserAgent: "Firefox", Source: "checkout"},
	}, Meta{IP: "192.0.2.1", UserAgent: "shop/1.0", Channel: ChannelAPI})
	if err != nil {
		t.Fatal(err)
	}
	if !created || s.Status != StatusPending || s.Email != "Anna.Schmidt@beispiel.de" || s.Locale != "de" {
		t.Fatalf("got %+v created=%v", s, created)
	}
	if len(s.Lists) != 1 || s.Lists[0] != (Membership{"newsletter", StatusPending}) {
		t.Fatalf("lists = %+v", s.Lists)
	}
	ms := e.mails(s.ID, "confirm")
	if len(ms) != 1 {
		t.Fatalf("confirmation mails = %d", len(ms))
	}
	m := ms[0]
	if m.To != "Anna.Schmidt@beispiel.de" || m.ListID != "" || m.UnsubscribeURL != "" || !strings.Contains(m.Subject, "bestätigen") {
		t.Fatalf("confirmation mail: %+v", m)
	}
	if !strings.Contains(m.Text, "Hauptstr. 1") || !strings.Contains(m.HTML, "https://news.shop.example/confirm/") {
		t.Fatalf("confirmation mail lacks Impressum or link:\n%s\n%s", m.Text, m.HTML)
	}
	cs := e.consents(s.ID)
	if got := actions(cs); !slices.Equal(got, []string{"signup/api", "confirmation_sent/api"}) {
		t.Fatalf("consents = %v", got)
	}
	c := cs[0]
	if c.IP != "2001:db8::1" || c.UserAgent != "Firefox" || c.Source != "checkout" || c.Text == "" || len(c.TextVersion) != 16 || c.Detail != "lists=newsletter" {
		t.Fatalf("signup consent = %+v", c)
	}
	got, err := e.svc.Get(e.ctx, "anna.schmidt@beispiel.de")
	if err != nil || got.ID != s.ID || string(got.Attributes) != `{"city":"Köln","vip":true}` || len(got.Consents) != 2 {
		t.Fatalf("get = %+v, %v", got, err)
	}
}

func TestEnrollRollsBackWhenQueueFails(t *testing.T) {
	e := newEnv(t)
	e.q.fail = errors.New("queue down")
	if _, _, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "a@example.com"}, Meta{}); err == nil {
		t.Fatal("enroll succeeded with a failing queue")
	}
	if n := e.count(`SELECT count(*) FROM subscribers`) + e.count(`SELECT count(*) FROM consents`) + e.count(`SELECT count(*) FROM subscriptions`); n != 0 {
		t.Fatalf("%d rows left behind", n)
	}
}

func TestConfirmActivatesAndQueuesWelcome(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "bob@example.com", Name: "Bob"})
	tok := e.confirmToken(s.ID)
	e.clock.Add(time.Hour)
	got, err := e.svc.Confirm(e.ctx, tok, Meta{IP: "198.51.100.7", UserAgent: "Mail app"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusActive || got.ConfirmedAt == nil || got.Lists[0].Status != StatusActive {
		t.Fatalf("after confirm: %+v", got)
	}
	cs := e.consents(s.ID)
	last := cs[len(cs)-1]
	if last.Action != ActionConfirmed || last.Channel != ChannelLink || last.IP != "198.51.100.7" || !last.At.Equal(e.clock.Now()) {
		t.Fatalf("confirm consent = %+v", last)
	}
	w := e.mails(s.ID, "welcome")
	if len(w) != 1 || w[0].ListID != "newsletter.news.shop.example" || !strings.HasPrefix(w[0].UnsubscribeURL, "https://news.shop.example/unsubscribe/") {
		t.Fatalf("welcome = %+v", w)
	}
	// Confirming twice is fine and changes nothing.
	if _, err := e.svc.Confirm(e.ctx, tok, Meta{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.mails(s.ID, "welcome")); n != 1 {
		t.Fatalf("welcome mails after second click = %d", n)
	}
	if n := len(e.consents(s.ID)); n != len(cs) {
		t.Fatalf("second click logged consent")
	}
}

func TestOnActivatedHookRunsInTx(t *testing.T) {
	e := newEnv(t)
	e.svc.OnActivated = func(ctx context.Context, tx *store.Tx, s Subscriber) error { return errors.New("flow broken") }
	s := e.enroll(EnrollInput{Email: "hook@example.com"})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{}); err == nil {
		t.Fatal("confirm succeeded though the hook failed")
	}
	if got, _ := e.svc.Get(e.ctx, "hook@example.com"); got.Status != StatusPending {
		t.Fatalf("status %s after failed hook; want pending (rolled back)", got.Status)
	}
}

func TestReenrollIsIdempotentAndRateLimited(t *testing.T) {
	e := newEnv(t)
	in := EnrollInput{Email: "carla@example.com", Name: "Carla"}
	first := e.enroll(in)
	again, created, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "CARLA@example.com", Name: "Other"}, Meta{Channel: ChannelAPI})
	if err != nil || created || again.ID != first.ID || again.Name != "Carla" {
		t.Fatalf("re-enroll = %+v created=%v err=%v", again, created, err)
	}
	if n := len(e.mails(first.ID, "confirm")); n != 1 {
		t.Fatalf("mails within the interval = %d; want 1", n)
	}
	e.clock.Add(11 * time.Minute)
	e.enroll(in)
	if n := len(e.mails(first.ID, "confirm")); n != 2 {
		t.Fatalf("mails after the interval = %d; want 2", n)
	}
	// The first link still works.
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(first.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	// Active and enrolling again: nothing happens.
	e.clock.Add(time.Hour)
	e.enroll(in)
	if n := len(e.mails(first.ID, "confirm")); n != 2 {
		t.Fatalf("active re-enroll sent a mail")
	}
	// A new list for an active subscriber needs its own confirmation.
	if _, err := e.svc.CreateList(e.ctx, "offers", "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	s := e.enroll(EnrollInput{Email: "carla@example.com", Lists: []string{"offers"}})
	if s.Status != StatusActive || !slices.Contains(s.Lists, Membership{"offers", StatusPending}) {
		t.Fatalf("after new list: %+v", s)
	}
	if n := len(e.mails(first.ID, "confirm")); n != 3 {
		t.Fatalf("new list did not send a confirmation (mails=%d)", n)
	}
	got, err := e.svc.Confirm(e.ctx, e.confirmToken(first.ID), Meta{})
	if err != nil || !slices.Contains(got.Lists, Membership{"offers", StatusActive}) {
		t.Fatalf("confirm new list: %+v %v", got, err)
	}
	if n := len(e.mails(first.ID, "welcome")); n != 1 {
		t.Fatalf("welcome mails = %d; want 1", n)
	}
}

func TestOldConfirmLinkDoesNotCoverLaterList(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "dora@example.com"})
	old := e.confirmToken(s.ID)
	if _, err := e.svc.CreateList(e.ctx, "vip", "VIP", ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	e.enroll(EnrollInput{Email: "dora@example.com", Lists: []string{"vip"}})
	got, err := e.svc.Confirm(e.ctx, old, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Lists, []Membership{{"newsletter", StatusActive}, {"vip", StatusPending}}) {
		t.Fatalf("lists = %+v", got.Lists)
	}
}

func TestImportNeedsConsent(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "imp@example.com", DoubleOptIn: ptr(false)}, Meta{})
	if se, ok := errs.As(err); !ok || se.Kind != errs.Invalid || se.Field != "consent" {
		t.Fatalf("err = %v; want 422 consent", err)
	}
	if n := e.count(`SELECT count(*) FROM subscribers`); n != 0 {
		t.Fatalf("stored %d", n)
	}
	s, created, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "imp@example.com", DoubleOptIn: ptr(false),
		Consent: &ConsentInput{Text: "Newsletter-Einwilligung 2024", IP: "203.0.113.9", Source: "old system"}}, Meta{Channel: ChannelAPI})
	if err != nil || !created || s.Status != StatusActive || s.ConfirmedAt == nil {
		t.Fatalf("import: %+v %v", s, err)
	}
	if n := e.count(`SELECT count(*) FROM test_queue`); n != 0 {
		t.Fatalf("import queued %d mails", n)
	}
	if got := actions(e.consents(s.ID)); !slices.Equal(got, []string{"imported/api"}) {
		t.Fatalf("consents = %v", got)
	}
}

func TestEraseKeepsOnlySuppressionHash(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "eva@example.com", Name: "Eva", Attributes: json.RawMessage(`{"x":1}`)})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{IP: "192.0.2.8"}); err != nil {
		t.Fatal(err)
	}
	ex, err := e.svc.Export(e.ctx, fmt.Sprint(s.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Consents) != 3 || len(ex.Related["test_queue"]) != 2 || ex.Email != "eva@example.com" {
		t.Fatalf("export = %+v", ex)
	}
	if _, err := json.Marshal(ex); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Erase(e.ctx, "EVA@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"subscribers", "consents", "subscriptions", "test_queue"} {
		if n := e.count(`SELECT count(*) FROM ` + tbl); n != 0 {
			t.Errorf("%s has %d rows after erase", tbl, n)
		}
	}
	var hash, reason string
	if err := e.db.QueryRowContext(e.ctx, `SELECT email_hash, reason FROM suppressions`).Scan(&hash, &reason); err != nil {
		t.Fatal(err)
	}
	if hash != emailHash("eva@example.com") || reason != "erased" || strings.Contains(hash, "eva") {
		t.Fatalf("suppression %s %s", hash, reason)
	}
	wantKind(t, func() error { _, err := e.svc.Get(e.ctx, "eva@example.com"); return err }(), "notfound")
	wantKind(t, e.svc.Erase(e.ctx, "eva@example.com"), "notfound")

	// An import must not bring the address back by accident...
	_, _, err = e.svc.Enroll(e.ctx, EnrollInput{Email: "eva@example.com", DoubleOptIn: ptr(false), Consent: &ConsentInput{Text: "x"}}, Meta{})
	wantKind(t, err, "conflict")
	// ...but a new double opt-in may, and the click lifts the suppression.
	s2 := e.enroll(EnrollInput{Email: "eva@example.com"})
	if s2.ID == s.ID {
		t.Fatal("id reused")
	}
	if n := e.count(`SELECT count(*) FROM suppressions`); n != 1 {
		t.Fatal("suppression lifted before the click")
	}
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s2.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM suppressions`); n != 0 {
		t.Fatal("suppression kept after confirmation")
	}
}

func TestTokensRejectForgeryAlterationExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "tok@example.com"})
	tok := e.confirmToken(s.ID)
	if len(tok) != TokenLen {
		t.Fatalf("token length %d", len(tok))
	}
	other := newLinkSigner([]byte("another secret, 32 bytes long!!!"))
	flip := []byte(tok)
	flip[5] ^= 1
	if flip[5] == '-' || flip[5] == '_' {
		flip[5] = 'A'
	}
	cases := map[string]string{
		"empty":         "",
		"garbage":       "not-a-token",
		"altered":       string(flip),
		"truncated":     tok[:len(tok)-1],
		"extended":      tok + "A",
		"other secret":  other.Sign(PurposeConfirm, s.ID, e.clock.Now()),
		"wrong purpose": e.svc.ManageToken(s.ID),
		"padding":       tok[:len(tok)-2] + "==",
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.Confirm(e.ctx, bad, Meta{})
			wantKind(t, err, "invalid")
			if errs.KindOf(err) != errs.NotFound {
				t.Fatalf("kind %v", errs.KindOf(err))
			}
		})
	}
	// Unsubscribe links are not confirm links either.
	_, err := e.svc.Unsubscribe(e.ctx, tok, Meta{})
	wantKind(t, err, "invalid")

	e.clock.Add(DefaultPendingTTL + time.Second)
	_, err = e.svc.Confirm(e.ctx, tok, Meta{})
	wantKind(t, err, "expired")
	if got, _ := e.svc.Get(e.ctx, "tok@example.com"); got.Status != StatusPending {
		t.Fatal("expired link confirmed")
	}
}

func TestUnsubscribeOneClick(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "ulf@example.com"})
	confirm := e.confirmToken(s.ID)
	if _, err := e.svc.Confirm(e.ctx, confirm, Meta{}); err != nil {
		t.Fatal(err)
	}
	unsub := strings.TrimPrefix(e.mails(s.ID, "welcome")[0].UnsubscribeURL, "https://news.shop.example/unsubscribe/")
	e.clock.Add(time.Hour)
	for range 2 {
		got, err := e.svc.Unsubscribe(e.ctx, unsub, Meta{IP: "192.0.2.50", Channel: ChannelOneClick})
		if err != nil || got.Status != StatusUnsubscribed || got.Lists[0].Status != StatusUnsubscribed {
			t.Fatalf("unsubscribe: %+v %v", got, err)
		}
	}
	cs := e.consents(s.ID)
	if got := actions(cs); !slices.Equal(got[len(got)-1:], []string{"unsubscribed/one_click"}) || slices.Index(got, "unsubscribed/one_click") != len(got)-1 {
		t.Fatalf("consents = %v", got)
	}
	// The old confirmation link must not undo the withdrawal.
	_, err := e.svc.Confirm(e.ctx, confirm, Meta{})
	wantKind(t, err, "expired")
	// A new sign-up and its own click may.
	e.clock.Add(time.Minute)
	re, created, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "ulf@example.com"}, Meta{Channel: ChannelForm})
	if err != nil || created || re.Status != StatusUnsubscribed {
		t.Fatalf("re-enroll: %+v %v", re, err)
	}
	got, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{})
	if err != nil || got.Status != StatusActive || got.Lists[0].Status != StatusActive {
		t.Fatalf("re-confirm: %+v %v", got, err)
	}
	// A link of an erased subscriber still "works": they get no mail.
	if err := e.svc.Erase(e.ctx, "ulf@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Unsubscribe(e.ctx, unsub, Meta{}); err != nil || got.Status != StatusUnsubscribed {
		t.Fatalf("unsubscribe after erase: %+v %v", got, err)
	}
}

func TestPreferences(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateList(e.ctx, "offers", "Angebote", "Rabatte"); err != nil {
		t.Fatal(err)
	}
	s := e.enroll(EnrollInput{Email: "pia@example.com", Name: "Pia"})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	tok := e.svc.ManageToken(s.ID)
	p, err := e.svc.Preferences(e.ctx, tok)
	if err != nil || len(p.Lists) != 2 || p.Lists[0].Slug != "offers" || p.Lists[0].Subscribed || !p.Lists[1].Subscribed {
		t.Fatalf("prefs = %+v %v", p, err)
	}
	meta := Meta{IP: "192.0.2.77", Channel: ChannelPreferences}
	p, err = e.svc.SavePreferences(e.ctx, tok, PrefsInput{Name: "Pia M.", Locale: "de", Lists: []string{"offers"}}, meta)
	if err != nil || !p.Lists[0].Subscribed || p.Lists[1].Subscribed || p.Subscriber.Name != "Pia M." || p.Subscriber.Locale != "de" {
		t.Fatalf("saved = %+v %v", p, err)
	}
	last := e.consents(s.ID)[len(e.consents(s.ID))-1]
	if last.Action != ActionPreferences || last.Detail != "name locale=de lists=offers" || last.IP != "192.0.2.77" {
		t.Fatalf("consent = %+v", last)
	}
	// Bad input changes nothing.
	_, err = e.svc.SavePreferences(e.ctx, tok, PrefsInput{Name: "x\ny", Lists: []string{"newsletter"}}, meta)
	wantKind(t, err, "invalid422")
	// No list ticked: unsubscribed from everything; ticking again resubscribes.
	if p, err = e.svc.SavePreferences(e.ctx, tok, PrefsInput{Name: "Pia M.", Locale: "de"}, meta); err != nil || p.Subscriber.Status != StatusUnsubscribed {
		t.Fatalf("unsubscribe all: %+v %v", p.Subscriber, err)
	}
	if p, err = e.svc.SavePreferences(e.ctx, tok, PrefsInput{Name: "Pia M.", Locale: "de", Lists: []string{"newsletter"}}, meta); err != nil ||
		p.Subscriber.Status != StatusActive || !p.Lists[1].Subscribed || p.Lists[0].Subscribed {
		t.Fatalf("resubscribe: %+v %v", p, err)
	}
	got := actions(e.consents(s.ID))
	if !slices.Equal(got[len(got)-2:], []string{"unsubscribed/preferences", "resubscribed/preferences"}) {
		t.Fatalf("consents = %v", got)
	}
}

func TestPurgePending(t *testing.T) {
	e := newEnv(t)
	old := e.enroll(EnrollInput{Email: "old@example.com"})
	tok := e.confirmToken(old.ID)
	e.clock.Add(6 * 24 * time.Hour)
	fresh := e.enroll(EnrollInput{Email: "fresh@example.com"})
	active := e.enroll(EnrollInput{Email: "active@example.com"})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(active.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(24*time.Hour + time.Second)
	n, err := e.svc.PurgePending(e.ctx)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	wantKind(t, func() error { _, err := e.svc.Get(e.ctx, "old@example.com"); return err }(), "notfound")
	for _, s := range []Subscriber{fresh, active} {
		if _, err := e.svc.Get(e.ctx, s.Email); err != nil {
			t.Fatalf("%s purged: %v", s.Email, err)
		}
	}
	if n := e.count(`SELECT count(*) FROM test_queue WHERE subscriber_id = ?`, old.ID); n != 0 {
		t.Fatalf("purged subscriber's mails left: %d", n)
	}
	_, err = e.svc.Confirm(e.ctx, tok, Meta{})
	wantKind(t, err, "expired")
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	s := e.enroll(EnrollInput{Email: "upd@example.com", Attributes: json.RawMessage(`{"a":1,"b":{"c":2},"d":"x"}`)})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(s.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateList(e.ctx, "offers", "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	got, err := e.svc.Update(e.ctx, fmt.Sprint(s.ID), UpdateInput{
		Name: ptr("Udo"), Locale: ptr("de"),
		Attributes: json.RawMessage(`{"a":null,"b":{"e":3},"f":true}`),
		Lists:      &[]string{"offers"},
	}, Meta{Channel: ChannelAPI})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Udo" || got.Locale != "de" || string(got.Attributes) != `{"b":{"e":3},"d":"x","f":true}` {
		t.Fatalf("updated = %+v (%s)", got, got.Attributes)
	}
	if !slices.Equal(got.Lists, []Membership{{"newsletter", StatusUnsubscribed}, {"offers", StatusPending}}) {
		t.Fatalf("lists = %+v", got.Lists)
	}
	if n := len(e.mails(s.ID, "confirm")); n != 2 {
		t.Fatalf("confirm mails = %d; want 2 (one for the new list)", n)
	}
	for _, bad := range []UpdateInput{
		{Name: ptr("a\r\nBcc: x@y.z")},
		{Locale: ptr("fr")},
		{Attributes: json.RawMessage(`[1]`)},
		{Attributes: json.RawMessage(`{"bad key":1}`)},
		{Lists: &[]string{"nope"}},
	} {
		_, err := e.svc.Update(e.ctx, fmt.Sprint(s.ID), bad, Meta{})
		wantKind(t, err, "invalid422")
	}
	_, err = e.svc.Update(e.ctx, "999", UpdateInput{Name: ptr("x")}, Meta{})
	wantKind(t, err, "notfound")
}

func TestValidationStoresNothing(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".de"
	for _, tc := range []struct {
		name  string
		in    EnrollInput
		field string
	}{
		{"empty email", EnrollInput{}, "email"},
		{"display name", EnrollInput{Email: "Anna <anna@example.com>"}, "email"},
		{"header injection", EnrollInput{Email: "anna@example.com\r\nBcc: x@example.com"}, "email"},
		{"oversized", EnrollInput{Email: long}, "email"},
		{"CR LF in name", EnrollInput{Email: "n@example.com", Name: "Anna\r\nBcc: x@example.com"}, "name"},
		{"NUL in name", EnrollInput{Email: "n@example.com", Name: "An\x00na"}, "name"},
		{"long name", EnrollInput{Email: "n@example.com", Name: strings.Repeat("x", 201)}, "name"},
		{"locale", EnrollInput{Email: "n@example.com", Locale: "fr"}, "locale"},
		{"attributes array", EnrollInput{Email: "n@example.com", Attributes: json.RawMessage(`[]`)}, "attributes"},
		{"attributes too big", EnrollInput{Email: "n@example.com", Attributes: json.RawMessage(`{"a":"` + strings.Repeat("x", 17<<10) + `"}`)}, "attributes"},
		{"unknown list", EnrollInput{Email: "n@example.com", Lists: []string{"newsletter", "nope"}}, "lists"},
		{"bad consent ip", EnrollInput{Email: "n@example.com", Consent: &ConsentInput{IP: "1.2.3"}}, "consent.ip"},
		{"control in consent", EnrollInput{Email: "n@example.com", Consent: &ConsentInput{Source: "a\x1bb"}}, "consent.source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.Enroll(e.ctx, tc.in, Meta{})
			se, ok := errs.As(err)
			if !ok || se.Kind != errs.Invalid || se.Field != tc.field {
				t.Fatalf("err = %v; want 422 on %s", err, tc.field)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM subscribers`) + e.count(`SELECT count(*) FROM test_queue`); n != 0 {
		t.Fatalf("%d rows stored by invalid input", n)
	}
	// IDN: stored and mailed as ASCII.
	s := e.enroll(EnrollInput{Email: "Info@München.de"})
	if s.Email != "Info@xn--mnchen-3ya.de" || e.mails(s.ID, "confirm")[0].To != s.Email {
		t.Fatalf("IDN stored as %q", s.Email)
	}
}

func TestValidateEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"anna@example.com", "anna@example.com"},
		{"Anna.B+tag@Example.COM", "Anna.B+tag@example.com"},
		{"info@münchen.de", "info@xn--mnchen-3ya.de"},
		{"info@BÜCHER.example", "info@xn--bcher-kva.example"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"a@b.co.", "a@b.co"},
		{"jörg@example.com", ""},
		{"a@localhost", ""},
		{"a@[127.0.0.1]", ""},
		{"a@1.2.3.4", ""},
		{`"a b"@example.com`, ""},
		{"a@@example.com", ""},
		{"a@b@example.com", ""},
		{".a@example.com", ""},
		{"a..b@example.com", ""},
		{"a@-example.com", ""},
		{"a@exa_mple.com", ""},
		{"a@example..com", ""},
		{"a(comment)@example.com", ""},
		{"a@example.com\n", ""},
		{"a\x00@example.com", ""},
		{"a @example.com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"Anna <a@example.com>", ""},
		{"a@example.com, b@example.com", ""},
	} {
		got, err := ValidateEmail(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ValidateEmail(%q) = %q; want error", tc.in, got)
			} else if se, ok := errs.As(err); !ok || se.Field != "email" || se.Kind != errs.Invalid {
				t.Errorf("ValidateEmail(%q) error %v not a 422 on email", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLists(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateList(e.ctx, "vip", "VIP-Kunden", "Nur für Stammkunden"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateList(e.ctx, "vip", "again", "")
	wantKind(t, err, "conflict")
	_, err = e.svc.CreateList(e.ctx, "Bad Slug", "x", "")
	wantKind(t, err, "invalid422")
	_, err = e.svc.CreateList(e.ctx, "ok", "", "")
	wantKind(t, err, "invalid422")
	a := e.enroll(EnrollInput{Email: "l1@example.com", Lists: []string{"vip", "newsletter", "vip"}})
	e.enroll(EnrollInput{Email: "l2@example.com", Lists: []string{"vip"}})
	if _, err := e.svc.Confirm(e.ctx, e.confirmToken(a.ID), Meta{}); err != nil {
		t.Fatal(err)
	}
	ls, err := e.svc.Lists(e.ctx)
	if err != nil || len(ls) != 2 {
		t.Fatalf("lists %+v %v", ls, err)
	}
	if ls[0].Slug != "newsletter" || ls[0].Subscribers != 1 || ls[1].Slug != "vip" || ls[1].Subscribers != 1 || ls[1].Pending != 1 {
		t.Fatalf("counts = %+v", ls)
	}
}

func TestConcurrentEnrollStoresEachOnce(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errc := make(chan error, 200)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				// Every address is enrolled by two goroutines at once.
				addr := fmt.Sprintf("c%d-%d@example.com", g/2, i)
				_, _, err := e.svc.Enroll(e.ctx, EnrollInput{Email: addr}, Meta{Channel: ChannelAPI})
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT count(*) FROM subscribers`); n != 100 {
		t.Fatalf("subscribers = %d; want 100", n)
	}
	if n := e.count(`SELECT count(*) FROM test_queue`); n != 100 {
		t.Fatalf("confirmation mails = %d; want 100", n)
	}
}

func TestConfigChecks(t *testing.T) {
	e := newEnv(t)
	for name, cfg := range map[string]Config{
		"short secret": {BaseURL: "https://x.example", From: "a@x.example", Secret: []byte("short")},
		"no base":      {From: "a@x.example", Secret: testSecret},
		"long ttl":     {BaseURL: "https://x.example", From: "a@x.example", Secret: testSecret, PendingTTL: 15 * 24 * time.Hour},
	} {
		if _, err := New(e.db, e.q, cfg, e.svc.log); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// The real mailer queue: the confirmation is a mail_queue row of the same
// transaction, and erasure leaves no queued mail.
func TestWithMailerQueue(t *testing.T) {
	e := newEnv(t)
	q := mailer.NewQueue(e.db, nil, e.svc.log, mailer.QueueConfig{})
	svc, err := New(e.db, q, Config{BaseURL: "https://news.shop.example", From: "news@shop.example", ShopName: "Shop",
		Secret: testSecret, Erasers: []Eraser{q}}, e.svc.log)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := svc.Enroll(e.ctx, EnrollInput{Email: "real@example.com", Locale: "en"}, Meta{Channel: ChannelAPI})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM mail_queue WHERE subscriber_id = ? AND kind = 'confirm' AND status = 'queued'`, s.ID); n != 1 {
		t.Fatalf("queued confirmations = %d", n)
	}
	ex, err := svc.Export(e.ctx, "real@example.com")
	if err != nil || len(ex.Related["mail_queue"]) != 1 {
		t.Fatalf("export related = %v, %v", ex.Related, err)
	}
	if err := svc.Erase(e.ctx, "real@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM mail_queue WHERE status = 'queued' OR recipient <> ''`); n != 0 {
		t.Fatalf("mail rows with personal data after erase: %d", n)
	}
}
