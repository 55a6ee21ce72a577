package feedback

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Input is the body of POST /api/bounces: feedback that reached the shop by
// some other way.
type Input struct {
	Email  string `json:"email"`
	Kind   string `json:"kind"`   // hard, soft or complaint
	Reason string `json:"reason"` // the diagnostic, for the operator
}

// Submit validates in (errors name the field) and records it.
func (s *Service) Submit(ctx context.Context, in Input) (Outcome, error) {
	if strings.TrimSpace(in.Email) == "" {
		return Outcome{}, errs.Invalidf("email", "email is required")
	}
	email, err := subscribers.ValidateEmail(in.Email)
	if err != nil {
		return Outcome{}, err
	}
	kind := Kind(in.Kind)
	if kind != Hard && kind != Soft && kind != Complaint {
		return Outcome{}, errs.Invalidf("kind", "kind must be hard, soft or complaint")
	}
	if !utf8.ValidString(in.Reason) || len(in.Reason) > maxDiagnostic {
		return Outcome{}, errs.Invalidf("reason", "reason must be UTF-8 text of at most %d bytes", maxDiagnostic)
	}
	return s.Record(ctx, Report{Kind: kind, Email: email, Diagnostic: in.Reason, Source: SourceAPI})
}

// Bounce is one stored report, as the subscriber's page shows it.
type Bounce struct {
	ID         int64     `json:"id"`
	Kind       Kind      `json:"kind"`
	Source     string    `json:"source"`
	Status     string    `json:"status,omitempty"`
	Diagnostic string    `json:"diagnostic,omitempty"`
	Ref        Ref       `json:"ref"`
	At         time.Time `json:"at"`
}

// ForSubscriber lists a subscriber's bounces and complaints, newest first
// (at most 200).
func (s *Service) ForSubscriber(ctx context.Context, subscriberID int64) ([]Bounce, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, source, status, diagnostic,
		coalesce(campaign_id, 0), coalesce(delivery_id, 0), coalesce(mail_id, 0), flow, created_at
		FROM bounces WHERE subscriber_id = ? ORDER BY id DESC LIMIT 200`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("feedback: bounces of %d: %w", subscriberID, err)
	}
	defer rows.Close()
	var out []Bounce
	for rows.Next() {
		var b Bounce
		var at int64
		if err := rows.Scan(&b.ID, &b.Kind, &b.Source, &b.Status, &b.Diagnostic,
			&b.Ref.CampaignID, &b.Ref.DeliveryID, &b.Ref.MailID, &b.Ref.Flow, &at); err != nil {
			return nil, fmt.Errorf("feedback: bounces of %d: %w", subscriberID, err)
		}
		b.Ref.SubscriberID = subscriberID
		b.At = time.Unix(at, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// CampaignCounts are a campaign's bounced and complained deliveries.
type CampaignCounts struct {
	Bounced int64 // deliveries with a hard or soft bounce, at send time or after
	// BouncedAfterSend: of those, the ones the server had accepted first (a
	// DSN or a provider's report), which the campaign counts as sent.
	BouncedAfterSend int64
	Complained       int64
}

// Campaign counts campaign id's bounced and complained deliveries.
func (s *Service) Campaign(ctx context.Context, campaignID int64) (CampaignCounts, error) {
	var c CampaignCounts
	err := s.db.QueryRowContext(ctx, `SELECT
		count(DISTINCT CASE WHEN kind <> 'complaint' THEN delivery_id END),
		count(DISTINCT CASE WHEN kind <> 'complaint' AND source <> 'smtp' THEN delivery_id END),
		count(DISTINCT CASE WHEN kind = 'complaint' THEN delivery_id END)
		FROM bounces WHERE campaign_id = ?`, campaignID).Scan(&c.Bounced, &c.BouncedAfterSend, &c.Complained)
	if err != nil {
		return c, fmt.Errorf("feedback: figures of campaign %d: %w", campaignID, err)
	}
	return c, nil
}
