package mailer

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Parsed is a built mail read back: what the outbox UI shows and what tests
// (here, in campaigns and end to end) assert on.
type Parsed struct {
	Header    mail.Header
	From, To  string // as in the header, names decoded
	Subject   string // RFC 2047 decoded
	MessageID string
	Date      time.Time
	Text      string // decoded text/plain part
	HTML      string // decoded text/html part, "" if none
	// PartTypes are the media types of the body parts in order,
	// e.g. ["text/plain", "text/html"].
	PartTypes []string
}

var wordDecoder = &mime.WordDecoder{}

// ParseMessage reads a mail as Build writes it: one text part, or a
// multipart/alternative with text and HTML.
func ParseMessage(raw []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("mailer: parse: %w", err)
	}
	p := &Parsed{Header: msg.Header, MessageID: msg.Header.Get("Message-Id")}
	p.Subject, _ = wordDecoder.DecodeHeader(msg.Header.Get("Subject"))
	p.From, _ = wordDecoder.DecodeHeader(msg.Header.Get("From"))
	p.To, _ = wordDecoder.DecodeHeader(msg.Header.Get("To"))
	if d, err := msg.Header.Date(); err == nil {
		p.Date = d
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("mailer: parse content type: %w", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decodeBody(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return nil, err
		}
		p.addPart(mt, body)
		return p, nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart() // raw: we decode ourselves, the same way for both shapes
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return nil, fmt.Errorf("mailer: parse part: %w", err)
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return nil, fmt.Errorf("mailer: parse part type: %w", err)
		}
		body, err := decodeBody(part, part.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return nil, err
		}
		p.addPart(pt, body)
	}
}

func (p *Parsed) addPart(mediaType, body string) {
	p.PartTypes = append(p.PartTypes, mediaType)
	switch mediaType {
	case "text/plain":
		p.Text = body
	case "text/html":
		p.HTML = body
	}
}

func decodeBody(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("mailer: parse body: %w", err)
	}
	return string(b), nil
}
