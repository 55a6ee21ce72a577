package mailer

import (
	"bytes"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
)

// Message is one mail to one recipient, before it becomes RFC 5322 bytes.
// The json tags are how the durable queue stores it.
type Message struct {
	From     string `json:"from"`      // sender address
	FromName string `json:"from_name"` // sender display name
	To       string `json:"to"`
	ToName   string `json:"to_name,omitempty"`
	ReplyTo  string `json:"reply_to,omitempty"`
	Subject  string `json:"subject"`
	Text     string `json:"text"`           // multipart/alternative, text first
	HTML     string `json:"html,omitempty"` // may be empty: then a plain text mail
	// ListID is e.g. "newsletter.shop.example"; empty for transactional mail.
	ListID string `json:"list_id,omitempty"`
	// UnsubscribeURL sets List-Unsubscribe (plus the mailto) and List-Unsubscribe-Post.
	UnsubscribeURL    string            `json:"unsubscribe_url,omitempty"`
	UnsubscribeMailto string            `json:"unsubscribe_mailto,omitempty"`
	Headers           map[string]string `json:"headers,omitempty"` // extra headers, e.g. X-Treu-Campaign
	// ReturnPath is the envelope sender (SMTP MAIL FROM), where bounces go:
	// the VERP address of package feedback. Empty: From. The receiving
	// server records it as the Return-Path header; Build writes no such header.
	ReturnPath string `json:"return_path,omitempty"`
	// Bookkeeping for the durable queue (not headers):
	Kind         string `json:"kind,omitempty"` // confirm, welcome, tx, test, flow
	SubscriberID int64  `json:"subscriber_id,omitempty"`
}

const (
	maxHeaderValue = 900 // stays under RFC 5322's 998-octet line limit after the name
	maxSubject     = 500
)

// reserved are the headers Build writes itself; Headers may not override them,
// or a campaign could forge a sender or break the MIME structure.
var reserved = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "sender": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true, "list-id": true,
	"list-unsubscribe": true, "list-unsubscribe-post": true, "dkim-signature": true,
	"return-path": true, "received": true, "user-agent": true, "x-mailer": true,
}

// EnvelopeFrom is the SMTP MAIL FROM address: ReturnPath, or From.
func (m *Message) EnvelopeFrom() string {
	if m.ReturnPath != "" {
		return m.ReturnPath
	}
	return m.From
}

// Validate checks everything that ends up in a header, so that no caller can
// inject a header line or send to a malformed address. Errors name the field.
func (m *Message) Validate() error {
	if err := checkAddr("from", m.From, true); err != nil {
		return err
	}
	if err := checkAddr("to", m.To, true); err != nil {
		return err
	}
	if err := checkAddr("reply_to", m.ReplyTo, false); err != nil {
		return err
	}
	if err := checkAddr("return_path", m.ReturnPath, false); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{
		{"from_name", m.FromName}, {"to_name", m.ToName}, {"subject", m.Subject},
	} {
		if err := checkHeaderValue(f.name, f.v); err != nil {
			return err
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		return errs.Invalidf("subject", "subject is empty")
	}
	if utf8.RuneCountInString(m.Subject) > maxSubject {
		return errs.Invalidf("subject", "subject is longer than %d characters", maxSubject)
	}
	if strings.TrimSpace(m.Text) == "" {
		return errs.Invalidf("text", "text part is empty")
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return errs.Invalidf("text", "body is not valid UTF-8")
	}
	if m.ListID != "" && !isListID(m.ListID) {
		return errs.Invalidf("list_id", "list id %q is not a dot-separated name", m.ListID)
	}
	if m.UnsubscribeURL != "" {
		u, err := url.Parse(m.UnsubscribeURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			strings.ContainsAny(m.UnsubscribeURL, "<>, \t\r\n") || len(m.UnsubscribeURL) > maxHeaderValue/2 {
			return errs.Invalidf("unsubscribe_url", "unsubscribe url must be an absolute http(s) URL")
		}
	}
	if m.UnsubscribeMailto != "" {
		if err := checkAddr("unsubscribe_mailto", strings.TrimPrefix(m.UnsubscribeMailto, "mailto:"), true); err != nil {
			return err
		}
	}
	for k, v := range m.Headers {
		if !isHeaderName(k) {
			return errs.Invalidf("headers", "header name %q is not allowed", k)
		}
		if reserved[strings.ToLower(k)] {
			return errs.Invalidf("headers", "header %s is set by the mailer", k)
		}
		if err := checkHeaderValue("headers", v); err != nil {
			return err
		}
	}
	return nil
}

// checkAddr accepts a bare address (no display name: names have their own fields).
func checkAddr(field, s string, required bool) error {
	if s == "" {
		if required {
			return errs.Invalidf(field, "%s address is missing", field)
		}
		return nil
	}
	if isSimpleAddr(s) {
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.ContainsAny(s, "\r\n") {
		return errs.Invalidf(field, "%q is not an email address", s)
	}
	return nil
}

// isSimpleAddr is the fast path for the common shape local@host.domain with
// dot-atom characters only; anything else goes through net/mail's full parser.
func isSimpleAddr(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || domain[0] == '.' || domain[0] == '-' ||
		domain[len(domain)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; !(isAlnum(c) || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0) {
			return false
		}
	}
	for i := 0; i < len(domain); i++ {
		if c := domain[i]; !(isAlnum(c) || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func checkHeaderValue(field, v string) error {
	if len(v) > maxHeaderValue {
		return errs.Invalidf(field, "%s is too long", field)
	}
	if !utf8.ValidString(v) {
		return errs.Invalidf(field, "%s is not valid UTF-8", field)
	}
	for i := 0; i < len(v); i++ {
		// CR and LF would start a new header line; other controls have no business there.
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return errs.Invalidf(field, "%s contains a line break or control character", field)
		}
	}
	return nil
}

// isHeaderName allows letters, digits and '-': stricter than RFC 5322's ftext,
// which would also allow names no receiving software expects.
func isHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isListID checks the list-id of RFC 2919: a dot-atom, in practice a host name.
func isListID(s string) bool {
	if len(s) > 255 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Build validates m and returns it as RFC 5322 bytes with CRLF line ends:
// multipart/alternative (text first, then HTML), UTF-8 quoted-printable,
// RFC 2047 encoded headers, a Message-ID on the sender's domain and now as Date.
func Build(m *Message, now time.Time) ([]byte, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	if err := buildTo(buf, m, now); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 4<<20 { // keep the pool from pinning one huge mail's memory
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// messageIDDomain is the sender's domain: receivers (and spam filters) expect
// the Message-ID to belong to the domain the mail claims to come from.
func messageIDDomain(from string) string {
	d := from[strings.LastIndexByte(from, '@')+1:]
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf || d[i] == '[' { // IDN or address literal: no valid id-right
			return "treu.invalid"
		}
	}
	return d
}
