package feedback

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA; we only verify it
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

// Amazon SES reports bounces and complaints through SNS: an HTTPS
// subscription posts a JSON envelope whose Message is SES's notification.
// The envelope is signed (RSA, SHA1 for SignatureVersion 1, SHA256 for 2)
// with a certificate SNS serves from SigningCertURL; we fetch it only over
// HTTPS from an sns.*.amazonaws.com host, so TLS vouches for it.

// SNSVerifier checks SNS envelopes.
type SNSVerifier struct {
	// TopicARNs are the only topics accepted, and there must be one: a valid
	// SNS signature proves only that SNS sent it, from anybody's topic.
	TopicARNs []string
	// Cert returns the certificate at url; default: HTTPS download, cached.
	// Tests inject their own.
	Cert func(ctx context.Context, url string) (*x509.Certificate, error)
	// Confirm visits a subscription's SubscribeURL; default: HTTPS GET.
	Confirm func(ctx context.Context, url string) error
	Client  *http.Client // for the defaults; default one with a 10 s timeout

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

type snsEnvelope struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

// stringToSign is SNS's canonical form of the envelope.
func (e *snsEnvelope) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", e.Message)
	add("MessageId", e.MessageID)
	if e.Type == "Notification" {
		if e.Subject != "" {
			add("Subject", e.Subject)
		}
	} else {
		add("SubscribeURL", e.SubscribeURL)
	}
	add("Timestamp", e.Timestamp)
	if e.Type != "Notification" {
		add("Token", e.Token)
	}
	add("TopicArn", e.TopicArn)
	add("Type", e.Type)
	return b.String()
}

// amazonURL accepts only https://sns.REGION.amazonaws.com[.cn]/... (certs)
// or any https://*.amazonaws.com host (subscribe links).
func amazonURL(raw string, certOnly bool) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if !strings.HasSuffix(h, ".amazonaws.com") && !strings.HasSuffix(h, ".amazonaws.com.cn") {
		return false
	}
	if certOnly {
		return strings.HasPrefix(h, "sns.") && strings.HasSuffix(u.Path, ".pem")
	}
	return true
}

func (v *SNSVerifier) client() *http.Client {
	if v.Client != nil {
		return v.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (v *SNSVerifier) cert(ctx context.Context, u string) (*x509.Certificate, error) {
	if v.Cert != nil {
		return v.Cert(ctx, u)
	}
	if !amazonURL(u, true) {
		return nil, errors.New("signing certificate not on an SNS host")
	}
	v.mu.Lock()
	c := v.certs[u]
	v.mu.Unlock()
	if c != nil {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("signing certificate: HTTP %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("signing certificate: no PEM")
	}
	if c, err = x509.ParseCertificate(block.Bytes); err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.certs == nil || len(v.certs) > 100 {
		v.certs = map[string]*x509.Certificate{}
	}
	v.certs[u] = c
	v.mu.Unlock()
	return c, nil
}

func (v *SNSVerifier) confirm(ctx context.Context, u string) error {
	if v.Confirm != nil {
		return v.Confirm(ctx, u)
	}
	if !amazonURL(u, false) {
		return errs.Invalidf("SubscribeURL", "the subscribe link is not on an Amazon host")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := v.client().Do(req)
	if err != nil {
		return fmt.Errorf("feedback: confirm SNS subscription: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("feedback: confirm SNS subscription: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Verify checks an envelope's signature and topic.
func (v *SNSVerifier) verify(ctx context.Context, e *snsEnvelope) error {
	ok := false
	for _, t := range v.TopicARNs {
		ok = ok || t == e.TopicArn
	}
	if !ok {
		return errs.Unauthorizedf("SNS topic not accepted")
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil || len(sig) == 0 {
		return unauthorized()
	}
	var h crypto.Hash
	var sum []byte
	switch e.SignatureVersion {
	case "1":
		s := sha1.Sum([]byte(e.stringToSign())) //nolint:gosec // SNS's own scheme
		h, sum = crypto.SHA1, s[:]
	case "2":
		s := sha256.Sum256([]byte(e.stringToSign()))
		h, sum = crypto.SHA256, s[:]
	default:
		return unauthorized()
	}
	c, err := v.cert(ctx, e.SigningCertURL)
	if err != nil {
		return &errs.Error{Kind: errs.Unauthorized, Msg: "the SNS signing certificate cannot be had", Err: err}
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || rsa.VerifyPKCS1v15(pub, h, sum, sig) != nil {
		return unauthorized()
	}
	return nil
}

func (v *SNSVerifier) decode(ctx context.Context, body []byte) ([]Notice, error) {
	var e snsEnvelope
	if err := json.Unmarshal(body, &e); err != nil || e.Type == "" {
		return nil, malformed("SNS")
	}
	if err := v.verify(ctx, &e); err != nil {
		return nil, err
	}
	switch e.Type {
	case "SubscriptionConfirmation":
		return nil, v.confirm(ctx, e.SubscribeURL)
	case "Notification":
		return DecodeSES([]byte(e.Message), e.MessageID)
	}
	return nil, nil // UnsubscribeConfirmation and the like
}

// DecodeSES reads an SES notification (notificationType) or event
// (eventType): Bounce (Permanent is hard, Transient and Undetermined soft),
// Complaint, Delivery.
func DecodeSES(msg []byte, id string) ([]Notice, error) {
	var m struct {
		NotificationType string `json:"notificationType"`
		EventType        string `json:"eventType"`
		Bounce           struct {
			BounceType string `json:"bounceType"`
			Recipients []struct {
				Email      string `json:"emailAddress"`
				Status     string `json:"status"`
				Diagnostic string `json:"diagnosticCode"`
			} `json:"bouncedRecipients"`
		} `json:"bounce"`
		Complaint struct {
			Recipients []struct {
				Email string `json:"emailAddress"`
			} `json:"complainedRecipients"`
			FeedbackType string `json:"complaintFeedbackType"`
		} `json:"complaint"`
		Delivery struct {
			Recipients []string `json:"recipients"`
		} `json:"delivery"`
		Mail struct {
			Source string `json:"source"`
		} `json:"mail"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, malformed("SES")
	}
	typ := m.NotificationType
	if typ == "" {
		typ = m.EventType
	}
	var rp []string
	if m.Mail.Source != "" {
		rp = []string{m.Mail.Source}
	}
	var out []Notice
	switch typ {
	case "Bounce":
		kind := Soft
		if m.Bounce.BounceType == "Permanent" {
			kind = Hard
		}
		for _, r := range m.Bounce.Recipients {
			out = append(out, Notice{Kind: kind, Recipient: r.Email, Status: r.Status, Diagnostic: r.Diagnostic,
				Source: SourceSES, ReturnPaths: rp, MessageID: id})
		}
	case "Complaint":
		for _, r := range m.Complaint.Recipients {
			out = append(out, Notice{Kind: Complaint, Recipient: r.Email, Status: m.Complaint.FeedbackType,
				Diagnostic: "complaint " + m.Complaint.FeedbackType, Source: SourceSES, ReturnPaths: rp, MessageID: id})
		}
	case "Delivery":
		for _, r := range m.Delivery.Recipients {
			out = append(out, Notice{Kind: Delivered, Recipient: r, Source: SourceSES, MessageID: id})
		}
	}
	if len(out) > maxNotices {
		out = out[:maxNotices]
	}
	return out, nil
}
