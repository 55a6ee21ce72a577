package feedback

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

// Provider webhooks: shops that send through a relay (Amazon SES, SendGrid,
// Postmark, Mailgun, Brevo) learn of bounces and complaints from the
// relay's event webhook, not from DSNs. Each provider's request is verified
// the way the provider signs it (SES: the SNS certificate; SendGrid: ECDSA;
// Mailgun: HMAC; Postmark and Brevo sign nothing, so their webhook URL carries
// HTTP Basic credentials), then decoded into notices: hard, soft, complaint
// or delivered. The decoders read untrusted JSON: they are fuzzed.

// Providers holds what verifying each provider takes; a provider whose
// setting is empty is switched off (its endpoint answers 404).
type Providers struct {
	SES *SNSVerifier // Amazon SES through SNS
	// SendGridKey is the Event Webhook's verification key (base64 DER
	// public key, as SendGrid's settings page shows it).
	SendGridKey *ecdsa.PublicKey
	MailgunKey  []byte // Mailgun's HTTP webhook signing key
	// BasicSecret is the password the Postmark and Brevo webhook URLs carry
	// (https://treu:SECRET@host/webhooks/postmark).
	BasicSecret string
	// Now checks signature timestamps (default time.Now).
	Now func() time.Time
}

// MaxSkew is how old a signed timestamp may be: a replayed request older
// than this is refused (and a repeat within it counts once by event id).
const MaxSkew = 15 * time.Minute

// ParseSendGridKey reads SendGrid's verification key.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errs.Invalidf("sendgrid_webhook_key", "not base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errs.Invalidf("sendgrid_webhook_key", "not a public key: %v", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errs.Invalidf("sendgrid_webhook_key", "not an ECDSA key")
	}
	return ek, nil
}

func (p *Providers) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func unauthorized() error { return errs.Unauthorizedf("the webhook signature does not verify") }

func malformed(provider string) error {
	return errs.Malformedf("", "not a %s event payload", provider)
}

// Enabled reports whether provider's endpoint is on.
func (p *Providers) Enabled(provider string) bool {
	switch provider {
	case SourceSES:
		return p.SES != nil
	case SourceSendGrid:
		return p.SendGridKey != nil
	case SourceMailgun:
		return len(p.MailgunKey) > 0
	case SourcePostmark, SourceBrevo:
		return p.BasicSecret != ""
	}
	return false
}

// Decode verifies one webhook request of provider and returns its notices.
// A request that does not verify is errs.Unauthorized; one that verifies
// but cannot be read is errs.Malformed.
func (p *Providers) Decode(ctx context.Context, provider string, h http.Header, body []byte) ([]Notice, error) {
	if !p.Enabled(provider) {
		return nil, errs.NotFoundf("no %q webhook here", provider)
	}
	switch provider {
	case SourceSES:
		return p.SES.decode(ctx, body)
	case SourceSendGrid:
		if !p.verifySendGrid(h, body) {
			return nil, unauthorized()
		}
		return DecodeSendGrid(body)
	case SourceMailgun:
		ns, sig, err := DecodeMailgun(body)
		if err != nil {
			return nil, err
		}
		if !p.verifyMailgun(sig) {
			return nil, unauthorized()
		}
		return ns, nil
	case SourcePostmark, SourceBrevo:
		if !p.verifyBasic(h) {
			return nil, unauthorized()
		}
		if provider == SourcePostmark {
			return DecodePostmark(body)
		}
		return DecodeBrevo(body)
	}
	return nil, errs.NotFoundf("no %q webhook here", provider)
}

func (p *Providers) fresh(unix int64) bool {
	d := p.now().Sub(time.Unix(unix, 0))
	return d < MaxSkew && d > -MaxSkew
}

// verifySendGrid: ECDSA P-256 over SHA-256 of timestamp followed by the body.
func (p *Providers) verifySendGrid(h http.Header, body []byte) bool {
	ts := h.Get("X-Twilio-Email-Event-Webhook-Timestamp")
	sig, err := base64.StdEncoding.DecodeString(h.Get("X-Twilio-Email-Event-Webhook-Signature"))
	if err != nil || ts == "" || len(sig) == 0 {
		return false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || !p.fresh(unix) {
		return false
	}
	sum := sha256.New()
	sum.Write([]byte(ts))
	sum.Write(body)
	return ecdsa.VerifyASN1(p.SendGridKey, sum.Sum(nil), sig)
}

type mailgunSignature struct {
	Timestamp string `json:"timestamp"`
	Token     string `json:"token"`
	Signature string `json:"signature"`
}

// verifyMailgun: hex HMAC-SHA256 of timestamp followed by token.
func (p *Providers) verifyMailgun(s mailgunSignature) bool {
	unix, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil || !p.fresh(unix) || s.Token == "" {
		return false
	}
	want, err := hex.DecodeString(s.Signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, p.MailgunKey)
	m.Write([]byte(s.Timestamp + s.Token))
	return hmac.Equal(m.Sum(nil), want)
}

func (p *Providers) verifyBasic(h http.Header) bool {
	r := http.Request{Header: h}
	_, pass, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(pass), []byte(p.BasicSecret)) == 1
}

// kindOfStatus: 5.x.x and 5xx are hard, the rest soft.
func kindOfStatus(status string) Kind {
	if strings.HasPrefix(strings.TrimSpace(status), "5") {
		return Hard
	}
	return Soft
}

// DecodeSendGrid reads a SendGrid Event Webhook batch (a JSON array).
// bounce is hard (soft when SendGrid calls it "blocked" or the status is
// 4.x.x), spamreport a complaint, delivered delivered; other events
// (processed, deferred, dropped, opens, clicks) are not feedback here.
func DecodeSendGrid(body []byte) ([]Notice, error) {
	var evs []struct {
		Email     string `json:"email"`
		Event     string `json:"event"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		EventID   string `json:"sg_event_id"`
		MessageID string `json:"sg_message_id"`
	}
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, malformed("SendGrid")
	}
	var out []Notice
	for _, e := range evs {
		n := Notice{Recipient: e.Email, Status: e.Status, Diagnostic: e.Reason, Source: SourceSendGrid, MessageID: e.EventID}
		switch e.Event {
		case "bounce":
			n.Kind = Hard
			if e.Type == "blocked" || strings.HasPrefix(e.Status, "4") {
				n.Kind = Soft
			}
		case "spamreport":
			n.Kind = Complaint
		case "delivered":
			n.Kind = Delivered
		default:
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// DecodeMailgun reads one Mailgun webhook request: its signature block and
// the event. failed is hard when its severity is permanent, else soft;
// complained a complaint; delivered delivered.
func DecodeMailgun(body []byte) ([]Notice, mailgunSignature, error) {
	var req struct {
		Signature mailgunSignature `json:"signature"`
		Event     struct {
			Event     string `json:"event"`
			ID        string `json:"id"`
			Severity  string `json:"severity"`
			Recipient string `json:"recipient"`
			Reason    string `json:"reason"`
			Envelope  struct {
				Sender string `json:"sender"`
			} `json:"envelope"`
			Status struct {
				Code        int    `json:"code"`
				Message     string `json:"message"`
				Description string `json:"description"`
			} `json:"delivery-status"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, mailgunSignature{}, malformed("Mailgun")
	}
	e := req.Event
	n := Notice{Recipient: e.Recipient, Source: SourceMailgun, MessageID: e.ID}
	if e.Envelope.Sender != "" {
		n.ReturnPaths = []string{e.Envelope.Sender}
	}
	if e.Status.Code > 0 {
		n.Status = strconv.Itoa(e.Status.Code)
	}
	n.Diagnostic = strings.TrimSpace(e.Status.Message + " " + e.Status.Description)
	if n.Diagnostic == "" {
		n.Diagnostic = e.Reason
	}
	switch e.Event {
	case "failed":
		n.Kind = Soft
		if e.Severity == "permanent" {
			n.Kind = Hard
		}
	case "complained":
		n.Kind = Complaint
	case "delivered":
		n.Kind = Delivered
	default:
		return nil, req.Signature, nil
	}
	return []Notice{n}, req.Signature, nil
}

// DecodePostmark reads one Postmark webhook (bounce, spam complaint or
// delivery). HardBounce and BadEmailAddress are hard; other bounce types
// that mean the mail did not arrive are soft; auto-responders and the like
// are not bounces.
func DecodePostmark(body []byte) ([]Notice, error) {
	var e struct {
		RecordType  string `json:"RecordType"`
		Type        string `json:"Type"`
		ID          json.Number
		MessageID   string `json:"MessageID"`
		Email       string `json:"Email"`
		Recipient   string `json:"Recipient"`
		Description string `json:"Description"`
		Details     string `json:"Details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, malformed("Postmark")
	}
	n := Notice{Recipient: e.Email, Source: SourcePostmark, Status: e.Type,
		Diagnostic: strings.TrimSpace(e.Description + " " + e.Details), MessageID: e.RecordType + "/" + e.ID.String() + "/" + e.MessageID}
	switch e.RecordType {
	case "Bounce":
		switch e.Type {
		case "HardBounce", "BadEmailAddress", "ManuallyDeactivated":
			n.Kind = Hard
		case "SoftBounce", "Transient", "DnsError", "MailboxFull", "Blocked", "ChallengeVerification", "SMTPApiError":
			n.Kind = Soft
		case "SpamComplaint":
			n.Kind = Complaint
		default:
			return nil, nil
		}
	case "SpamComplaint":
		n.Kind = Complaint
	case "Delivery":
		n.Kind, n.Recipient = Delivered, e.Recipient
	default:
		return nil, nil
	}
	return []Notice{n}, nil
}

// DecodeBrevo reads one Brevo (Sendinblue) transactional webhook.
func DecodeBrevo(body []byte) ([]Notice, error) {
	var e struct {
		Event     string      `json:"event"`
		Email     string      `json:"email"`
		ID        json.Number `json:"id"`
		MessageID string      `json:"message-id"`
		Reason    string      `json:"reason"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, malformed("Brevo")
	}
	n := Notice{Recipient: e.Email, Source: SourceBrevo, Diagnostic: e.Reason, MessageID: e.MessageID + "/" + e.Event}
	switch e.Event {
	case "hard_bounce", "invalid_email":
		n.Kind = Hard
	case "soft_bounce":
		n.Kind = Soft
	case "spam", "complaint":
		n.Kind = Complaint
	case "delivered":
		n.Kind = Delivered
	default:
		return nil, nil
	}
	n.Status = e.Event
	return []Notice{n}, nil
}

// Webhook verifies and records one provider webhook request; it returns how
// many reports were stored.
func (s *Service) Webhook(ctx context.Context, p *Providers, provider string, h http.Header, body []byte) (int, error) {
	ns, err := p.Decode(ctx, provider, h, body)
	if err != nil {
		return 0, err
	}
	n, err := s.recordNotices(ctx, ns, nil)
	if err == nil && n > 0 {
		s.log.Info("provider feedback recorded", slog.String("provider", provider), slog.Int("reports", n))
	}
	return n, err
}
