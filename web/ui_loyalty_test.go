package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/loyalty"
)

// Both subscriber pages show the referral: the referrer's lists the friend
// (waiting, then credited at the friend's first order), the friend's names
// the referrer; and each shows points, the referral link and the legal basis.
func TestUISubscriberLoyalty(t *testing.T) {
	e := newRetentionEnv(t)
	l, err := loyalty.New(e.db, loyalty.Config{PointsPerEuro: 1, ReferralPoints: 10}, coupons.New(e.db, slog.New(slog.DiscardHandler)),
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	l.Links = loyalty.NewReferralLinks([]byte("secret"), "https://treu.example")
	e.srv.loyalty = l
	// The shop's orders earn points and credit referrers, as cmd/treu wires it.
	ev := events.New(e.db, slog.New(slog.DiscardHandler), events.Config{OnOrder: l.OnOrder})
	t.Cleanup(func() { ev.Close() })
	ev.OnOrder = e.ev.OnOrder
	e.ev = ev
	kim := enroll(t, e.subs, "kim@example.com", "Kim")
	lea := enroll(t, e.subs, "lea@example.com", "Lea")
	if _, err := l.Refer(t.Context(), lea.ID, kim.ID); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn()
	r := c.get(fmt.Sprintf("/ui/subscribers/%d", kim.ID))
	for _, want := range []string{`id="points">0<`, `id="referral-url">https://treu.example/r/`, `id="legal-basis">consent<`,
		fmt.Sprintf(`href="/ui/subscribers/%d">#%d</a>`, lea.ID, lea.ID), "waiting for the first order"} {
		if r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
			t.Errorf("kim's page lacks %q", want)
		}
	}
	e.order("lea@example.com", "o1", 25, e.now)
	r = c.get(fmt.Sprintf("/ui/subscribers/%d", kim.ID))
	for _, want := range []string{`id="points">10<`, "credited", "10 points"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("kim's page after lea's order lacks %q", want)
		}
	}
	r = c.get(fmt.Sprintf("/ui/subscribers/%d", lea.ID))
	for _, want := range []string{`id="points">25<`, fmt.Sprintf(`id="referred-by" href="/ui/subscribers/%d"`, kim.ID)} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("lea's page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.Body)
	}
}
