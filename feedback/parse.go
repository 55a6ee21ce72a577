package feedback

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// Parsing what arrives at the bounce address: RFC 3464 delivery status
// notifications, RFC 5965 abuse reports (ARF), and bounces in free text.
// The input is from strangers: every size is bounded, nothing panics, and a
// mail that is none of these gives no notices (an auto-reply, say).

// Notice is one recipient's bounce or one complaint found in a mail.
type Notice struct {
	Kind       Kind
	Recipient  string // Final-Recipient, or the complaint's Original-Rcpt-To; may be empty
	Status     string // RFC 3463 status, or an SMTP reply code
	Diagnostic string
	Source     string // SourceDSN, SourceARF or SourceVERP
	// ReturnPaths are addresses the bounced mail was sent from, as the report
	// quotes them (an ARF's Original-Mail-From, the Return-Path of the quoted
	// headers): a complaint comes to the feedback address, not to the VERP
	// address, so the VERP token is found there.
	ReturnPaths []string
	MessageID   string // the report's own Message-ID
}

const (
	maxParts     = 16
	maxPartBytes = 256 << 10
	maxNotices   = 100
)

// ParseReport reads one mail delivered to the bounce address.
func ParseReport(raw []byte) ([]Notice, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	id := strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>")
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err == nil && mt == "multipart/report" && params["boundary"] != "" {
		ns, ok := parseMultipartReport(msg.Body, params["boundary"], strings.ToLower(params["report-type"]))
		if ok {
			for i := range ns {
				ns[i].MessageID = id
			}
			return ns, nil
		}
	}
	// Not a structured report: a bounce in free text, or no bounce at all.
	n, ok := parseUnstructured(msg.Header, msg.Body)
	if !ok {
		return nil, nil
	}
	n.MessageID = id
	return []Notice{n}, nil
}

// parseMultipartReport reads the parts of a multipart/report; ok is false
// when it holds no machine-readable part we know.
func parseMultipartReport(body io.Reader, boundary, reportType string) ([]Notice, bool) {
	mr := multipart.NewReader(body, boundary)
	var (
		dsn, arf  []byte
		original  mail.Header
		sawReport bool
	)
	for range maxParts {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		data, err := partBytes(p)
		if err != nil {
			break
		}
		switch ct {
		case "message/delivery-status", "message/global-delivery-status":
			dsn, sawReport = data, true
		case "message/feedback-report":
			arf, sawReport = data, true
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			if h, err := readHeader(data); err == nil {
				original = h
			}
		}
	}
	if !sawReport {
		return nil, false
	}
	var paths []string
	if original != nil {
		if rp := original.Get("Return-Path"); rp != "" {
			paths = append(paths, bareAddress(rp))
		}
	}
	if arf != nil && (reportType == "feedback-report" || dsn == nil) {
		n, ok := parseARF(arf, original)
		if !ok {
			return nil, true
		}
		n.ReturnPaths = append(n.ReturnPaths, paths...)
		return []Notice{n}, true
	}
	ns := parseDSN(dsn)
	for i := range ns {
		ns[i].ReturnPaths = paths
	}
	return ns, true
}

// partBytes reads a part, undoing base64 (multipart undoes quoted-printable).
func partBytes(p *multipart.Part) ([]byte, error) {
	var r io.Reader = io.LimitReader(p, maxPartBytes)
	if strings.EqualFold(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")), "base64") {
		r = base64.NewDecoder(base64.StdEncoding, newlineSkipper{r})
	}
	data, err := io.ReadAll(r)
	if err != nil && len(data) == 0 {
		return nil, err
	}
	return data, nil
}

// newlineSkipper drops CR and LF so base64 lines decode as one stream.
type newlineSkipper struct{ r io.Reader }

func (s newlineSkipper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// readHeader reads a header block (the quoted original message's).
func readHeader(data []byte) (mail.Header, error) {
	if !bytes.Contains(data, []byte("\n\n")) && !bytes.Contains(data, []byte("\r\n\r\n")) {
		data = append(bytes.Clone(data), "\r\n\r\n"...) // text/rfc822-headers may lack the blank line
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return m.Header, nil
}

// fieldBlocks splits a message/delivery-status body into its blocks of
// fields: the per-message block, then one per recipient.
func fieldBlocks(data []byte) []textproto.MIMEHeader {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	var out []textproto.MIMEHeader
	for len(out) <= maxNotices {
		// Blank lines between blocks: ReadMIMEHeader stops at the first one.
		for {
			b, err := r.R.Peek(1)
			if err != nil || (b[0] != '\r' && b[0] != '\n') {
				break
			}
			r.R.ReadByte()
		}
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 {
			out = append(out, h)
		}
		if err != nil {
			break
		}
	}
	return out
}

// parseDSN reads the recipients of a delivery status (RFC 3464 2.3). Only
// Action: failed is a bounce; delayed, delivered, relayed and expanded are
// news, not failures.
func parseDSN(data []byte) []Notice {
	var out []Notice
	for _, f := range fieldBlocks(data) {
		rcpt := typedAddress(f.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = typedAddress(f.Get("Original-Recipient"))
		}
		if rcpt == "" {
			continue // the per-message block
		}
		action := strings.ToLower(strings.TrimSpace(f.Get("Action")))
		if action != "failed" && action != "" {
			continue
		}
		diag := strings.TrimSpace(f.Get("Diagnostic-Code"))
		status := statusCode(f.Get("Status"))
		if status == "" {
			status = statusIn(diag)
		}
		kind := Hard
		if strings.HasPrefix(status, "4") {
			kind = Soft
		}
		if action == "" && status == "" {
			continue // neither says it failed
		}
		out = append(out, Notice{Kind: kind, Recipient: rcpt, Status: status, Diagnostic: diag, Source: SourceDSN})
	}
	return out
}

// parseARF reads an abuse report (RFC 5965 3.1). Every feedback type but
// not-spam is a complaint.
func parseARF(data []byte, original mail.Header) (Notice, bool) {
	blocks := fieldBlocks(data)
	if len(blocks) == 0 {
		return Notice{}, false
	}
	f := blocks[0]
	ft := strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
	if ft == "not-spam" {
		return Notice{}, false
	}
	n := Notice{Kind: Complaint, Source: SourceARF, Status: ft,
		Recipient: bareAddress(f.Get("Original-Rcpt-To"))}
	if n.Recipient == "" && original != nil {
		n.Recipient = bareAddress(original.Get("To"))
	}
	if mf := f.Get("Original-Mail-From"); mf != "" {
		n.ReturnPaths = append(n.ReturnPaths, bareAddress(mf))
	}
	parts := []string{"feedback-type " + ft}
	if ua := f.Get("User-Agent"); ua != "" {
		parts = append(parts, "from "+ua)
	}
	n.Diagnostic = strings.Join(parts, " ")
	return n, true
}

var (
	enhancedCode = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	replyCode    = regexp.MustCompile(`(?:^|[\s;:(])([45]\d\d)[\s-]`)
)

// statusCode returns a Status field's code (the part before any comment).
func statusCode(s string) string {
	if m := enhancedCode.FindString(s); m != "" {
		return m
	}
	return ""
}

// statusIn finds a status in free text: an enhanced code, else an SMTP reply code.
func statusIn(s string) string {
	if m := enhancedCode.FindString(s); m != "" {
		return m
	}
	if m := replyCode.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// typedAddress reads "rfc822; user@example.com".
func typedAddress(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		if t := strings.ToLower(strings.TrimSpace(s[:i])); t != "rfc822" && t != "utf-8" {
			return ""
		}
		s = s[i+1:]
	}
	return bareAddress(s)
}

// bareAddress reads an address with or without a name or angle brackets.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s == "<>" {
		return ""
	}
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if strings.ContainsAny(s, " \t<>,") || !strings.Contains(s, "@") {
		return ""
	}
	return s
}

// parseUnstructured recognises a bounce written for people: from a mailer
// daemon or postmaster (or with the null sender's markers), not an
// auto-reply. Its status is the first code found in the text; without one it
// counts as soft, so that a misread mail alone never suppresses anybody.
func parseUnstructured(h mail.Header, body io.Reader) (Notice, bool) {
	from := strings.ToLower(h.Get("From"))
	subject := strings.ToLower(h.Get("Subject"))
	daemon := strings.Contains(from, "mailer-daemon") || strings.Contains(from, "postmaster") ||
		strings.Contains(from, "mail delivery")
	bouncy := false
	for _, w := range []string{"undeliver", "delivery status", "delivery failure", "failure notice",
		"returned mail", "delivery has failed", "unzustellbar", "nicht zugestellt", "mail delivery failed"} {
		bouncy = bouncy || strings.Contains(subject, w)
	}
	// Mailer daemons mark their bounces auto-replied too (Exim, Postfix), so
	// the mark rules out only what does not come from one: a vacation notice.
	autoReply := strings.HasPrefix(strings.ToLower(h.Get("Auto-Submitted")), "auto-replied")
	if !daemon && (!bouncy || autoReply) {
		return Notice{}, false
	}
	text, _ := io.ReadAll(io.LimitReader(body, maxPartBytes))
	if strings.EqualFold(strings.TrimSpace(h.Get("Content-Transfer-Encoding")), "quoted-printable") {
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(text))); err == nil {
			text = d
		}
	}
	n := Notice{Kind: Soft, Source: SourceVERP}
	s := string(text)
	n.Status = statusIn(s)
	if strings.HasPrefix(n.Status, "5") {
		n.Kind = Hard
	}
	// The diagnostic: the line holding the code, or the subject.
	n.Diagnostic = h.Get("Subject")
	if n.Status != "" {
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, n.Status) {
				n.Diagnostic = strings.TrimSpace(line)
				break
			}
		}
	}
	return n, true
}
