package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

// The same renderer serves preview, test send and the real send: a campaign is
// compiled once (Markdown -> HTML happens there) and executed per recipient.

func (e *Engine) source(subject, preheader, markdown, layout string) templates.Source {
	src, _ := e.sourceCtx(context.Background(), subject, preheader, markdown, layout)
	return src
}

func (e *Engine) sourceCtx(ctx context.Context, subject, preheader, markdown, layout string) (templates.Source, error) {
	src := templates.Source{Subject: subject, Preheader: preheader, Markdown: markdown, Layout: layout}
	if e.cfg.Footer != nil {
		f, err := e.cfg.Footer(ctx)
		if err != nil {
			return src, fmt.Errorf("campaigns: footer: %w", err)
		}
		src.Footer = f
	}
	return src, nil
}

// data is what the template sees of a recipient.
func (e *Engine) data(rc *recipient) (*templates.Data, error) {
	d := &templates.Data{Email: rc.Email, Name: rc.Name, Locale: rc.Locale, Coupon: rc.Coupon, ExistingCustomer: rc.ExistingCustomer,
		Points: rc.Loyalty.Points, ReferralURL: rc.Loyalty.ReferralURL}
	if rc.Attributes != "" && rc.Attributes != "{}" {
		if err := json.Unmarshal([]byte(rc.Attributes), &d.Attributes); err != nil {
			return nil, fmt.Errorf("attributes: %w", err)
		}
	}
	if e.links != nil && rc.ID > 0 {
		d.UnsubscribeURL, d.PreferencesURL = e.links.ManageURLs(rc.ID)
	} else {
		// A sample recipient (preview, test to a non-subscriber): links that
		// show where the real ones go but act on nobody.
		base := strings.TrimRight(e.cfg.BaseURL, "/")
		d.UnsubscribeURL = base + "/unsubscribe/sample"
		d.PreferencesURL = base + "/preferences/sample"
	}
	return d, nil
}

// message renders one recipient's mail.
func (e *Engine) message(tmpl *templates.Template, r *run, rc *recipient, subjectPrefix string) (*mailer.Message, error) {
	d, err := e.data(rc)
	if err != nil {
		return nil, err
	}
	out, err := tmpl.Render(d)
	if err != nil {
		return nil, err
	}
	return &mailer.Message{
		From:              e.cfg.From,
		FromName:          e.cfg.FromName,
		ReplyTo:           e.cfg.ReplyTo,
		To:                rc.Email,
		ToName:            rc.Name,
		Subject:           subjectPrefix + out.Subject,
		Text:              out.Text,
		HTML:              out.HTML,
		ListID:            r.listID,
		UnsubscribeURL:    d.UnsubscribeURL,
		UnsubscribeMailto: e.cfg.UnsubscribeMailto,
		Headers:           r.headers,
		Kind:              "campaign",
		SubscriberID:      rc.ID,
	}, nil
}

// sample is the recipient of a preview or a test to an address that is not a
// subscriber.
func sample(email string) recipient {
	if email == "" {
		email = "kundin@example.com"
	}
	return recipient{Email: email, Name: "Alex Beispiel", Locale: "de", Attributes: `{}`}
}

func (e *Engine) subscriberByID(ctx context.Context, id int64) (recipient, error) {
	rcs, err := subscribers.Recipients(ctx, e.db, []int64{id}, nil)
	if err != nil {
		return recipient{}, err
	}
	rc, ok := rcs[id]
	if !ok {
		return recipient{}, errs.NotFoundf("subscriber %d not found", id)
	}
	return recipient{ID: rc.ID, Email: rc.Email, Name: rc.Name, Locale: rc.Locale, Attributes: rc.Attributes,
		ExistingCustomer: rc.ExistingCustomer()}, nil
}

// Preview renders in for one recipient: subscriber sampleSubscriberID, or a
// sample person when it is 0. Compile errors are errs.Invalidf with the line.
func (e *Engine) Preview(ctx context.Context, in Input, sampleSubscriberID int64) (templates.Rendered, error) {
	layout, err := e.layoutHTML(ctx, in.LayoutID)
	if err != nil {
		return templates.Rendered{}, err
	}
	src, err := e.sourceCtx(ctx, in.Subject, in.Preheader, in.Markdown, layout)
	if err != nil {
		return templates.Rendered{}, err
	}
	tmpl, err := templates.Compile(src)
	if err != nil {
		return templates.Rendered{}, err
	}
	rc := sample("")
	if sampleSubscriberID > 0 {
		if rc, err = e.subscriberByID(ctx, sampleSubscriberID); err != nil {
			return templates.Rendered{}, err
		}
	}
	if in.CouponPool != "" {
		rc.Coupon = sampleCoupon
	}
	d, err := e.data(&rc)
	if err != nil {
		return templates.Rendered{}, err
	}
	return tmpl.Render(d)
}

// sampleCoupon stands for a code in previews and tests, which spend none.
const sampleCoupon = "BEISPIEL-CODE"

// PreviewCampaign renders a saved campaign; see Preview.
func (e *Engine) PreviewCampaign(ctx context.Context, id, sampleSubscriberID int64) (templates.Rendered, error) {
	c, err := e.Get(ctx, id)
	if err != nil {
		return templates.Rendered{}, err
	}
	return e.Preview(ctx, c.input(), sampleSubscriberID)
}

func (c Campaign) input() Input {
	in := Input{Name: c.Name, Subject: c.Subject, Preheader: c.Preheader, Markdown: c.Markdown, Lists: c.Lists,
		SegmentID: c.SegmentID, LayoutID: c.LayoutID, SendAt: c.SendAt, Cron: c.Cron, CouponPool: c.CouponPool, UTM: &c.UTM}
	for _, v := range c.Variants {
		in.Variants = append(in.Variants, Variant{Subject: v.Subject, Preheader: v.Preheader, Markdown: v.Markdown})
	}
	if c.AB != nil {
		share := c.AB.TestShare
		in.AB = &ABInput{TestShare: &share, Wait: c.AB.Wait, Metric: c.AB.Metric}
	}
	return in
}

// MaxTestRecipients bounds a test send.
const MaxTestRecipients = 10

// Test sends campaign id now to each of emails, with the subject prefixed
// "[Test] ". An address that belongs to a subscriber gets that subscriber's
// personalisation; another gets the sample person's. It goes straight through
// the first transport, not the durable queue, so the marketer sees the SMTP
// server's answer (a refusal comes back as the error).
func (e *Engine) Test(ctx context.Context, id int64, emails []string) error {
	if len(emails) == 0 {
		return errs.Invalidf("emails", "at least one address is required")
	}
	if len(emails) > MaxTestRecipients {
		return errs.Invalidf("emails", "at most %d addresses", MaxTestRecipients)
	}
	addrs := make([]string, len(emails))
	for i, a := range emails {
		addr, err := mail.ParseAddress(strings.TrimSpace(a))
		if err != nil {
			return errs.Invalidf("emails", "not an email address: %q", a)
		}
		addrs[i] = addr.Address
	}
	if len(e.tr) == 0 {
		return errors.New("campaigns: no transport")
	}
	c, err := e.Get(ctx, id)
	if err != nil {
		return err
	}
	layout, err := e.layoutHTML(ctx, c.LayoutID)
	if err != nil {
		return err
	}
	src, err := e.sourceCtx(ctx, c.Subject, c.Preheader, c.Markdown, layout)
	if err != nil {
		return err
	}
	tmpl, err := templates.Compile(src)
	if err != nil {
		return err
	}
	first := DefaultList
	if len(c.Lists) > 0 {
		first = c.Lists[0]
	}
	r := &run{id: id, listID: e.listID(first), headers: e.headers(id)}
	for _, addr := range addrs {
		// An erased, bounced or complaining address asked not to be mailed:
		// not even a test. Anyone else may get one, subscriber or not.
		sub, found, err := subscribers.Lookup(ctx, e.db, "emails", addr, nil)
		if err != nil {
			return err
		}
		if sub.Suppressed {
			return errs.Invalidf("emails", "%s is suppressed (%s) and gets no mail", addr, sub.Suppression)
		}
		rc := sample(addr)
		if found {
			rc = recipient{ID: sub.ID, Email: sub.Email, Name: sub.Name, Locale: sub.Locale, Attributes: sub.Attributes}
		}
		if c.CouponPool != "" {
			rc.Coupon = sampleCoupon // a test spends no real code
		}
		m, err := e.message(tmpl, r, &rc, "[Test] ")
		if err != nil {
			return errs.Invalidf("markdown", "%v", err)
		}
		m.To = addr
		m.Kind = "test"
		if err := e.tr[0].Send(ctx, m); err != nil {
			if !isTemporary(err) {
				// The server refused this address: the marketer's input, a 422.
				return errs.Invalidf("emails", "%s refused: %s", addr, reply(err))
			}
			return fmt.Errorf("campaigns: test send to %s: %w", addr, err)
		}
	}
	return nil
}
