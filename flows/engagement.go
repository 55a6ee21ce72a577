package flows

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/treu-mail/treu/tracking"
)

// Engagement is what recipients did with a flow's mails, the figures a
// campaign shows: per step, and for the flow the sum of its steps (so a
// person who opened two steps' mails counts twice there, once per mail).
type Engagement struct {
	Delivered  int64 `json:"delivered"` // sent, less the mails that bounced
	Bounced    int64 `json:"bounced"`
	Complained int64 `json:"complained"`
	// Per person, so only of subscribers who allow tracking.
	OpensUnique  int64 `json:"opens_unique"`
	ClicksUnique int64 `json:"clicks_unique"`
	// Clicks by people, tracked or not; machines' (proxy opens, link
	// scanners) apart.
	Clicks        int64 `json:"clicks"`
	OpensMachine  int64 `json:"opens_machine"`
	ClicksMachine int64 `json:"clicks_machine"`
	Unsubscribed  int64 `json:"unsubscribed"` // through the mail's links
	Rates         Rates `json:"rates"`
}

// Rates are shares (0 to 1) of the mails sent, as the campaign pages
// count them; Conversion is orders converted per mail sent.
type Rates struct {
	Open        float64 `json:"open"`
	Click       float64 `json:"click"`
	Unsubscribe float64 `json:"unsubscribe"`
	Bounce      float64 `json:"bounce"`
	Complaint   float64 `json:"complaint"`
	Conversion  float64 `json:"conversion"`
}

// MailFeedback is a flow mail that bounced or drew a complaint
// (Config.Feedback; package feedback keeps them).
type MailFeedback struct {
	SubscriberID, MailID int64
	Bounced, Complained  bool
}

func (g *Engagement) add(o Engagement) {
	g.Delivered += o.Delivered
	g.Bounced += o.Bounced
	g.Complained += o.Complained
	g.OpensUnique += o.OpensUnique
	g.ClicksUnique += o.ClicksUnique
	g.Clicks += o.Clicks
	g.OpensMachine += o.OpensMachine
	g.ClicksMachine += o.ClicksMachine
	g.Unsubscribed += o.Unsubscribed
}

func (g *Engagement) rate(sent, converted int64) {
	if sent <= 0 {
		g.Rates = Rates{}
		return
	}
	f := func(n int64) float64 { return float64(n) / float64(sent) }
	g.Rates = Rates{Open: f(g.OpensUnique), Click: f(g.ClicksUnique), Unsubscribe: f(g.Unsubscribed),
		Bounce: f(g.Bounced), Complaint: f(g.Complained), Conversion: f(converted)}
}

// engagement fills in st's opens, clicks and unsubscribes (package
// tracking's reads, per step mail) and bounces and complaints
// (Config.Feedback), per step and for the flow.
func (e *Engine) engagement(ctx context.Context, slug string, st *Stats) error {
	if e.cfg.Tracking != nil {
		for i := range st.Steps {
			t, err := e.cfg.Tracking.Stats(ctx, tracking.FlowMail(slug, i).Key)
			if err != nil {
				return err
			}
			g := &st.Steps[i].Engagement
			g.OpensUnique, g.ClicksUnique, g.Clicks = t.OpensUnique, t.ClicksUnique, t.Clicks
			g.OpensMachine, g.ClicksMachine, g.Unsubscribed = t.OpensMachine, t.ClicksMachine, t.Unsubscribed
		}
	}
	if e.cfg.Feedback != nil {
		mails, err := e.cfg.Feedback(ctx, slug)
		if err != nil {
			return err
		}
		steps, err := e.stepsOf(ctx, slug, mails)
		if err != nil {
			return err
		}
		for _, m := range mails {
			i, ok := steps[m.MailID]
			if !ok || i < 0 || i >= len(st.Steps) {
				continue // its subscriber was erased, and the send with them
			}
			if m.Bounced {
				st.Steps[i].Bounced++
			}
			if m.Complained {
				st.Steps[i].Complained++
			}
		}
	}
	st.Engagement = Engagement{}
	for i := range st.Steps {
		s := &st.Steps[i]
		s.Delivered = max(s.Sent-s.Bounced, 0)
		s.rate(s.Sent, s.Converted)
		st.add(s.Engagement)
	}
	st.rate(st.Sent, st.Converted)
	return nil
}

// stepsOf maps each of mails to the step of flow slug it was, through the
// subscriber's sends (index flow_sends_attribution).
func (e *Engine) stepsOf(ctx context.Context, slug string, mails []MailFeedback) (map[int64]int, error) {
	out := map[int64]int{}
	if len(mails) == 0 {
		return out, nil
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range mails {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		b.WriteString(strconv.FormatInt(m.SubscriberID, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(m.MailID, 10))
		b.WriteByte(']')
	}
	b.WriteByte(']')
	rows, err := e.db.QueryContext(ctx, `SELECT fs.mail_id, fs.step FROM json_each(?) AS j
		JOIN flow_sends AS fs ON fs.subscriber_id = json_extract(j.value, '$[0]') AND fs.flow = ?
			AND fs.mail_id = json_extract(j.value, '$[1]')`, b.String(), slug)
	if err != nil {
		return nil, fmt.Errorf("flows: steps of bounced mails of %s: %w", slug, err)
	}
	defer rows.Close()
	for rows.Next() {
		var mail int64
		var step int
		if err := rows.Scan(&mail, &step); err != nil {
			return nil, fmt.Errorf("flows: steps of bounced mails of %s: %w", slug, err)
		}
		out[mail] = step
	}
	return out, rows.Err()
}
