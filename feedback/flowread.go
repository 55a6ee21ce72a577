package feedback

import (
	"context"
	"fmt"
)

// FlowMail is one mail of a flow that bounced or drew a complaint.
type FlowMail struct {
	SubscriberID int64 // 0 when the bounce was of no subscriber's address
	MailID       int64 // the queued mail (flows map it to the step)
	Bounced      bool  // a hard or soft bounce, at send time or after
	Complained   bool
}

// Flow lists the mails of flow slug that bounced or were complained about,
// each once, for the flow's per-step figures.
func (s *Service) Flow(ctx context.Context, slug string) ([]FlowMail, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mail_id, coalesce(max(subscriber_id), 0),
		max(kind <> 'complaint'), max(kind = 'complaint')
		FROM bounces WHERE flow = ? AND flow <> '' AND mail_id IS NOT NULL GROUP BY mail_id`, slug)
	if err != nil {
		return nil, fmt.Errorf("feedback: figures of flow %s: %w", slug, err)
	}
	defer rows.Close()
	var out []FlowMail
	for rows.Next() {
		var m FlowMail
		if err := rows.Scan(&m.MailID, &m.SubscriberID, &m.Bounced, &m.Complained); err != nil {
			return nil, fmt.Errorf("feedback: figures of flow %s: %w", slug, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
