package feedback

import (
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

func TestHardBounceSuppresses(t *testing.T) {
	e := newEnv(t)
	sub := e.active("kim@example.com")
	out := e.record(Report{Kind: Hard, Ref: Ref{SubscriberID: sub.ID, CampaignID: 7, DeliveryID: 70},
		Status: "5.1.1", Diagnostic: "smtp; 550 5.1.1 user unknown\r\n", Source: SourceDSN})
	if out.Suppressed != subscribers.SuppressBounce || out.SubscriberID != sub.ID || out.ID == 0 {
		t.Fatalf("outcome %+v", out)
	}
	if got := e.suppressed("kim@example.com"); got != "bounce" {
		t.Fatalf("suppression %q", got)
	}
	if got := e.status("kim@example.com"); got != subscribers.StatusBounced {
		t.Fatalf("status %q, want bounced", got)
	}
	bs, err := e.fb.ForSubscriber(e.ctx, sub.ID)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bounces %v %v", bs, err)
	}
	if b := bs[0]; b.Kind != Hard || b.Diagnostic != "smtp; 550 5.1.1 user unknown" || b.Status != "5.1.1" || b.Ref.CampaignID != 7 {
		t.Fatalf("bounce %+v", b)
	}
	c, err := e.fb.Campaign(e.ctx, 7)
	if err != nil || c.Bounced != 1 || c.BouncedAfterSend != 1 || c.Complained != 0 {
		t.Fatalf("campaign counts %+v %v", c, err)
	}
}

func TestSoftBouncesWithinWindow(t *testing.T) {
	e := newEnv(t)
	e.active("lu@example.com")
	soft := Report{Kind: Soft, Email: "lu@example.com", Status: "4.2.2", Source: SourceDSN}
	e.record(soft)
	e.clock.Add(20 * 24 * time.Hour)
	if out := e.record(soft); out.Suppressed != "" {
		t.Fatalf("2 soft bounces suppressed: %+v", out)
	}
	// The first is now older than 30 days: still only 2 in the window.
	e.clock.Add(11 * 24 * time.Hour)
	if out := e.record(soft); out.Suppressed != "" {
		t.Fatalf("soft bounce outside the window counted: %+v", out)
	}
	e.clock.Add(24 * time.Hour)
	if out := e.record(soft); out.Suppressed != subscribers.SuppressBounce {
		t.Fatalf("3rd soft bounce in 30 days: %+v", out)
	}
	if got := e.status("lu@example.com"); got != subscribers.StatusBounced {
		t.Fatalf("status %q", got)
	}
}

func TestComplaintUnsubscribesAndSuppresses(t *testing.T) {
	e := newEnv(t)
	sub := e.active("ana@example.com")
	e.record(Report{Kind: Hard, Email: "ana@example.com", Source: SourceAPI})
	out := e.record(Report{Kind: Complaint, Ref: Ref{SubscriberID: sub.ID, CampaignID: 3, DeliveryID: 30}, Source: SourceARF})
	if !out.Unsubscribed || out.Suppressed != subscribers.SuppressComplaint {
		t.Fatalf("outcome %+v", out)
	}
	got, err := e.subs.Get(e.ctx, "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != subscribers.StatusComplained {
		t.Fatalf("status %q, want complained (a complaint outranks the bounce)", got.Status)
	}
	for _, m := range got.Lists {
		if m.Status != subscribers.StatusUnsubscribed {
			t.Fatalf("membership %+v still on", m)
		}
	}
	last := got.Consents[len(got.Consents)-1]
	if last.Action != subscribers.ActionUnsubscribed || last.Channel != subscribers.ChannelFeedback {
		t.Fatalf("consent log %+v", last)
	}
	c, _ := e.fb.Campaign(e.ctx, 3)
	if c.Complained != 1 || c.Bounced != 0 {
		t.Fatalf("campaign counts %+v", c)
	}
}

func TestDuplicateEventCountsOnce(t *testing.T) {
	e := newEnv(t)
	e.active("jo@example.com")
	r := Report{Kind: Soft, Email: "jo@example.com", Source: SourceSendGrid, EventID: "evt-1"}
	e.record(r)
	for range 3 {
		if out := e.record(r); !out.Duplicate {
			t.Fatalf("repeat not a duplicate: %+v", out)
		}
	}
	if got := e.suppressed("jo@example.com"); got != "" {
		t.Fatalf("a repeated event suppressed: %q", got)
	}
}

func TestNoSubscriberAndErased(t *testing.T) {
	e := newEnv(t)
	out := e.record(Report{Kind: Hard, Email: "stranger@example.com", Source: SourceSMTP})
	if out.SubscriberID != 0 || out.Suppressed != "bounce" {
		t.Fatalf("outcome %+v", out)
	}
	sub := e.active("gone@example.com")
	if err := e.subs.Erase(e.ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if out := e.record(Report{Kind: Hard, Ref: Ref{SubscriberID: sub.ID}, Source: SourceVERP}); out.Ignored != "erased" {
		t.Fatalf("bounce of an erased subscriber: %+v", out)
	}
	if got := e.suppressed("gone@example.com"); got != "erased" {
		t.Fatalf("erasure's suppression became %q", got)
	}
}

func TestSubmitValidates(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		in    Input
		field string
	}{
		{"no email", Input{Kind: "hard"}, "email"},
		{"bad email", Input{Email: "nope", Kind: "hard"}, "email"},
		{"bad kind", Input{Email: "a@example.com", Kind: "bounce"}, "kind"},
		{"bad reason", Input{Email: "a@example.com", Kind: "soft", Reason: "\xff"}, "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.fb.Submit(e.ctx, tc.in)
			ee, ok := errs.As(err)
			if !errs.Is(err, errs.Invalid) || !ok || ee.Field != tc.field {
				t.Fatalf("err %v, want 422 on %s", err, tc.field)
			}
		})
	}
	if _, err := e.fb.Submit(e.ctx, Input{Email: "A@Example.com", Kind: "complaint", Reason: "via support"}); err != nil {
		t.Fatal(err)
	}
	if got := e.suppressed("a@example.com"); got != "complaint" {
		t.Fatalf("suppression %q", got)
	}
}
