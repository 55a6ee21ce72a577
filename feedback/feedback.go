package feedback

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// Kind is what came back.
type Kind string

const (
	Hard      Kind = "hard"      // the address does not work: 5.x.x
	Soft      Kind = "soft"      // it failed this time: 4.x.x (mailbox full, greylisting given up on)
	Complaint Kind = "complaint" // the recipient marked the mail as spam
	// Delivered comes only from provider webhooks; it is acknowledged, not stored.
	Delivered Kind = "delivered"
)

// Sources of a report (bounces.source).
const (
	SourceSMTP     = "smtp"     // refused by the SMTP server at send time
	SourceDSN      = "dsn"      // an RFC 3464 delivery status notification
	SourceARF      = "arf"      // an RFC 5965 abuse report
	SourceVERP     = "verp"     // an unstructured bounce, matched by its VERP address
	SourceAPI      = "api"      // POST /api/bounces
	SourceSES      = "ses"      // Amazon SES through SNS
	SourceSendGrid = "sendgrid" // SendGrid Event Webhook
	SourcePostmark = "postmark"
	SourceMailgun  = "mailgun"
	SourceBrevo    = "brevo"
)

// Report is one bounce or complaint about one mail.
type Report struct {
	Kind       Kind
	Email      string // the recipient, where the report names it
	Status     string // RFC 3463 status (5.1.1) or an SMTP reply code
	Diagnostic string // the remote server's words
	Source     string
	EventID    string // the report's own id, so a report delivered twice counts once
	Ref        Ref    // the mail it is about, from a VERP token or the send
}

// Outcome is what a report changed.
type Outcome struct {
	ID           int64  `json:"id,omitempty"` // the bounces row; 0 when nothing was stored
	SubscriberID int64  `json:"subscriber_id,omitempty"`
	Duplicate    bool   `json:"duplicate,omitempty"`    // the same event id came before
	Suppressed   string `json:"suppressed,omitempty"`   // bounce or complaint: the address gets no more mail
	Unsubscribed bool   `json:"unsubscribed,omitempty"` // a complaint took the subscriber off every list
	Ignored      string `json:"ignored,omitempty"`      // why nothing was recorded
}

// Rules decide when feedback stops mail to an address.
type Rules struct {
	// HardKeep leaves an address mailable after a hard bounce (default: a
	// hard bounce suppresses it with reason "bounce").
	HardKeep bool
	// SoftLimit soft bounces within SoftWindow suppress the address (3 in 30 days).
	SoftLimit  int
	SoftWindow time.Duration
}

// Default rules.
const (
	DefaultSoftLimit  = 3
	DefaultSoftWindow = 30 * 24 * time.Hour
)

// Subscribers is what feedback needs of package subscribers: who an address
// is, and the two ways feedback changes who gets mail.
type Subscribers interface {
	FindAddressee(ctx context.Context, tx *store.Tx, id int64, email string) (subscribers.Addressee, error)
	SuppressTx(ctx context.Context, tx *store.Tx, hash, reason string) error
	UnsubscribeAllTx(ctx context.Context, tx *store.Tx, id int64, meta subscribers.Meta) error
}

// FlowOf names the flow a queued mail was a step of ("" for none); package
// flows answers it from its own records.
type FlowOf func(ctx context.Context, tx *store.Tx, subscriberID, mailID int64) (string, error)

// Config is the service's settings.
type Config struct {
	Rules  Rules
	FlowOf FlowOf // optional
	// VERP reads the return paths mail came back to; needed by Intake and
	// the bounce listener.
	VERP *VERP
	// Emit, if set, tells the shop (package webhooks) inside the
	// transaction: subscriber.bounced or subscriber.complained.
	Emit func(ctx context.Context, tx *store.Tx, typ, orderingKey string, data any) error
}

// Service records bounces and complaints and applies the rules.
type Service struct {
	db    *store.DB
	subs  Subscribers
	cfg   Config
	log   *slog.Logger
	group *store.GroupCommit[*job]
}

type job struct {
	r   Report
	out Outcome
}

// New returns the service.
func New(db *store.DB, subs Subscribers, cfg Config, log *slog.Logger) *Service {
	if cfg.Rules.SoftLimit <= 0 {
		cfg.Rules.SoftLimit = DefaultSoftLimit
	}
	if cfg.Rules.SoftWindow <= 0 {
		cfg.Rules.SoftWindow = DefaultSoftWindow
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, subs: subs, cfg: cfg, log: log}
	// Bounces arrive in bursts (a campaign to stale addresses): reports that
	// arrive while one is being written share the next transaction.
	s.group = store.NewGroupCommit(db, 64, func(ctx context.Context, tx *store.Tx, j *job) error {
		var err error
		j.out, err = s.RecordTx(ctx, tx, j.r)
		return err
	}, nil)
	return s
}

// Record stores r and applies the rules, durable when it returns.
func (s *Service) Record(ctx context.Context, r Report) (Outcome, error) {
	j := &job{r: r}
	if err := s.group.Do(ctx, j); err != nil {
		return Outcome{}, err
	}
	return j.out, nil
}

const maxDiagnostic = 1000

// clean makes a remote server's text fit for a row and a page: valid UTF-8,
// no control characters, bounded.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// RecordTx stores r inside tx and applies the rules: a hard bounce
// suppresses the address, SoftLimit soft bounces within SoftWindow do too,
// and a complaint unsubscribes from every list and suppresses. A report
// whose event id was seen before changes nothing.
func (s *Service) RecordTx(ctx context.Context, tx *store.Tx, r Report) (Outcome, error) {
	switch r.Kind {
	case Hard, Soft, Complaint:
	case Delivered:
		return Outcome{Ignored: "delivered"}, nil
	default:
		return Outcome{}, errs.Invalidf("kind", "kind must be hard, soft or complaint")
	}
	a, err := s.subs.FindAddressee(ctx, tx, r.Ref.SubscriberID, r.Email)
	switch {
	case errs.Is(err, errs.NotFound):
		// The subscriber was erased: their address is suppressed already.
		return Outcome{Ignored: "erased"}, nil
	case errs.Is(err, errs.Invalid):
		// A report naming no usable address: nothing to act on, and no
		// reason to fail the transaction it is part of (a send's results).
		return Outcome{Ignored: "no valid address"}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{SubscriberID: a.ID}
	if r.Ref.MailID > 0 && r.Ref.Flow == "" && a.ID > 0 && s.cfg.FlowOf != nil {
		if r.Ref.Flow, err = s.cfg.FlowOf(ctx, tx, a.ID, r.Ref.MailID); err != nil {
			return Outcome{}, err
		}
	}
	var eventID any
	if r.EventID != "" {
		eventID = clean(r.Source+":"+r.EventID, 200)
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO bounces (subscriber_id, email_hash, kind, source, status, diagnostic,
			campaign_id, delivery_id, mail_id, flow, event_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING
		RETURNING id`,
		nullID(a.ID), a.Hash, string(r.Kind), r.Source, clean(r.Status, 32), clean(r.Diagnostic, maxDiagnostic),
		nullID(r.Ref.CampaignID), nullID(r.Ref.DeliveryID), nullID(r.Ref.MailID), clean(r.Ref.Flow, 100),
		eventID, tx.Now.Unix()).Scan(&out.ID)
	if isNoRows(err) {
		out.Duplicate = true
		return out, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("feedback: record %s bounce: %w", r.Kind, err)
	}
	switch r.Kind {
	case Hard:
		if !s.cfg.Rules.HardKeep {
			out.Suppressed = subscribers.SuppressBounce
		}
	case Soft:
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM bounces WHERE email_hash = ? AND kind = 'soft' AND created_at > ?`,
			a.Hash, tx.Now.Add(-s.cfg.Rules.SoftWindow).Unix()).Scan(&n); err != nil {
			return Outcome{}, fmt.Errorf("feedback: count soft bounces: %w", err)
		}
		if n >= s.cfg.Rules.SoftLimit {
			out.Suppressed = subscribers.SuppressBounce
		}
	case Complaint:
		if a.ID > 0 {
			if err := s.subs.UnsubscribeAllTx(ctx, tx, a.ID, subscribers.Meta{Channel: subscribers.ChannelFeedback}); err != nil {
				return Outcome{}, err
			}
			out.Unsubscribed = true
		}
		out.Suppressed = subscribers.SuppressComplaint
	}
	if out.Suppressed != "" {
		if err := s.subs.SuppressTx(ctx, tx, a.Hash, out.Suppressed); err != nil {
			return Outcome{}, err
		}
	}
	if s.cfg.Emit != nil && a.ID > 0 {
		typ := "subscriber.bounced"
		if r.Kind == Complaint {
			typ = "subscriber.complained"
		}
		data := map[string]any{"subscriber_id": a.ID, "email": a.Email, "kind": r.Kind, "source": r.Source,
			"status": clean(r.Status, 32), "diagnostic": clean(r.Diagnostic, maxDiagnostic), "suppressed": out.Suppressed != ""}
		if r.Ref.CampaignID > 0 {
			data["campaign_id"] = r.Ref.CampaignID
		}
		if err := s.cfg.Emit(ctx, tx, typ, fmt.Sprintf("subscriber:%d", a.ID), data); err != nil {
			return Outcome{}, err
		}
	}
	return out, nil
}

func nullID(id int64) any {
	if id <= 0 {
		return nil
	}
	return id
}
