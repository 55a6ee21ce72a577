package feedback

import (
	"context"
	"errors"
	"log/slog"
)

// Intake records what one mail to the bounce address reports. rcpts are the
// envelope recipients it came to (a bounce comes to the VERP address of the
// mail that bounced). The mail it is about is named by a VERP address among
// rcpts, or quoted in the report (a complaint arrives at the feedback
// address and quotes the original's return path). A free-text bounce counts
// only with a VERP address: its text is not trusted to name the recipient.
// It returns how many reports were recorded; an error means nothing of
// this mail may have been kept and the sender should try again.
func (s *Service) Intake(ctx context.Context, rcpts []string, raw []byte) (int, error) {
	if s.cfg.VERP == nil {
		return 0, errors.New("feedback: no VERP configured")
	}
	notices, err := ParseReport(raw)
	if err != nil {
		s.log.Info("bounce mail unreadable; dropped", slog.Any("error", err))
		return 0, nil
	}
	var envRef *Ref
	for _, r := range rcpts {
		if ref, err := s.cfg.VERP.Parse(r); err == nil {
			envRef = &ref
			break
		}
	}
	return s.recordNotices(ctx, notices, envRef)
}

// recordNotices records notices about the mail envRef names (nil: each
// notice's quoted return paths may name it). A free-text bounce counts only
// with a VERP address. A notice of a delivery is not stored.
func (s *Service) recordNotices(ctx context.Context, notices []Notice, envRef *Ref) (int, error) {
	n := 0
	for _, nt := range notices {
		if nt.Kind == Delivered {
			continue
		}
		ref := envRef
		if ref == nil && s.cfg.VERP != nil {
			for _, rp := range nt.ReturnPaths {
				if r, err := s.cfg.VERP.Parse(rp); err == nil {
					ref = &r
					break
				}
			}
		}
		rep := Report{Kind: nt.Kind, Email: nt.Recipient, Status: nt.Status, Diagnostic: nt.Diagnostic, Source: nt.Source}
		switch {
		case ref != nil:
			rep.Ref = *ref
		case nt.Source == SourceVERP || nt.Recipient == "":
			continue // nothing names the person reliably
		}
		if nt.MessageID != "" {
			rep.EventID = nt.MessageID + "/" + nt.Recipient
		}
		out, err := s.Record(ctx, rep)
		if err != nil {
			return n, err
		}
		if out.ID > 0 {
			n++
			s.log.Info("bounce recorded", slog.String("kind", string(rep.Kind)), slog.String("source", rep.Source),
				slog.Int64("subscriber_id", out.SubscriberID), slog.Int64("campaign_id", rep.Ref.CampaignID),
				slog.String("suppressed", out.Suppressed))
		}
	}
	return n, nil
}
