package campaigns

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/treu-mail/treu/store"
)

// Every delivery leaves with its own return path and the Feedback-ID; a 5xx
// is reported as a refusal inside the transaction that records it; the
// figures take in what feedback counted.
func TestFeedbackHooks(t *testing.T) {
	cfg := testConfig()
	cfg.ReturnPath = func(campaignID, deliveryID, subscriberID int64) string {
		return fmt.Sprintf("bounces+c%dd%ds%d@bounce.example", campaignID, deliveryID, subscriberID)
	}
	var (
		mu      sync.Mutex
		refused []Refusal
	)
	cfg.OnRefused = func(ctx context.Context, tx *store.Tx, r Refusal) error {
		mu.Lock()
		refused = append(refused, r)
		mu.Unlock()
		return nil
	}
	cfg.Feedback = func(ctx context.Context, id int64) (FeedbackCounts, error) {
		return FeedbackCounts{Bounced: 3, BouncedAfterSend: 2, Complained: 1}, nil
	}
	h := newHarness(t, cfg, func(s *sink) {
		s.policy = func(rcpt string, n int) *smtp.SMTPError {
			if rcpt == "kunde3@example.com" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
	})
	ctx := context.Background()
	seed(t, h.db, activePeople(20))
	c := mustCreate(t, h.e, Input{Subject: "Hi", Markdown: "Hallo {{ .Name }}"})
	h.run(t)
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, c.ID)

	got := h.snk.received()
	for i := range 20 {
		email := fmt.Sprintf("kunde%d@example.com", i)
		if i == 3 {
			continue
		}
		var delivery, sub int64
		if err := h.db.QueryRow(`SELECT d.id, d.subscriber_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
			WHERE s.email = ? AND d.campaign_id = ?`, email, c.ID).Scan(&delivery, &sub); err != nil {
			t.Fatal(err)
		}
		h.snk.mu.Lock()
		from := h.snk.froms[email]
		h.snk.mu.Unlock()
		if want := cfg.ReturnPath(c.ID, delivery, sub); from != want {
			t.Fatalf("%s: MAIL FROM %q, want %q", email, from, want)
		}
		if fid := got[email][0].Header.Get("Feedback-ID"); fid != strconv.FormatInt(c.ID, 10)+":campaign:shop.example" {
			t.Fatalf("Feedback-ID %q", fid)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 1 || refused[0].Code != 550 || refused[0].CampaignID != c.ID || refused[0].SubscriberID == 0 {
		t.Fatalf("refusals %+v", refused)
	}
	s, err := h.e.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent != 19 || s.Failed != 1 || s.Delivered != 17 || s.Bounced != 3 || s.Complained != 1 {
		t.Fatalf("stats %+v", s)
	}
	checkStatsAddUp(t, s)
}
