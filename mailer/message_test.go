package mailer

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

func testMessage() *Message {
	return &Message{
		From:              "news@shop.example",
		FromName:          "Schöner Laden",
		To:                "kunde@example.org",
		ToName:            "Jürgen Müller",
		ReplyTo:           "hilfe@shop.example",
		Subject:           "Grüße aus München: 20 % auf Äpfel, Öl und Überraschungen für treue Kundinnen und Kunden",
		Text:              "Hallo Jürgen,\nschöne Grüße!\n\nAbmelden: https://shop.example/unsubscribe/tok\n",
		HTML:              "<p>Hallo Jürgen,</p><p>schöne Grüße!</p>",
		ListID:            "newsletter.shop.example",
		UnsubscribeURL:    "https://shop.example/unsubscribe/tok123",
		UnsubscribeMailto: "unsubscribe@shop.example",
		Headers:           map[string]string{"X-Treu-Campaign": "42"},
	}
}

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func TestBuildMarketingHeaders(t *testing.T) {
	raw, err := Build(testMessage(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("bare LF in built message; want CRLF line ends only")
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line longer than 998 octets: %q", line[:80])
		}
	}
	p, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Header
	for _, tc := range []struct{ header, want string }{
		{"List-Id", "<newsletter.shop.example>"},
		{"List-Unsubscribe", "<https://shop.example/unsubscribe/tok123>, <mailto:unsubscribe@shop.example>"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		{"Mime-Version", "1.0"},
		{"X-Treu-Campaign", "42"},
		{"Reply-To", "<hilfe@shop.example>"},
	} {
		if got := h.Get(tc.header); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.header, got, tc.want)
		}
	}
	if p.Subject != testMessage().Subject {
		t.Errorf("decoded subject = %q", p.Subject)
	}
	if raw := h.Get("Subject"); !strings.Contains(raw, "=?UTF-8?") || strings.ContainsRune(raw, 'ü') {
		t.Errorf("subject not RFC 2047 encoded: %q", raw)
	}
	from, err := mail.ParseAddress(p.From)
	if err != nil || from.Name != "Schöner Laden" || from.Address != "news@shop.example" {
		t.Errorf("From = %q (%v)", p.From, err)
	}
	to, err := mail.ParseAddress(p.To)
	if err != nil || to.Name != "Jürgen Müller" || to.Address != "kunde@example.org" {
		t.Errorf("To = %q (%v)", p.To, err)
	}
	if !strings.HasSuffix(p.MessageID, "@shop.example>") || !strings.HasPrefix(p.MessageID, "<") {
		t.Errorf("Message-ID = %q, want <...@shop.example>", p.MessageID)
	}
	if !p.Date.Equal(t0) {
		t.Errorf("Date = %v, want %v", p.Date, t0)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := strings.Join(p.PartTypes, ","); got != "text/plain,text/html" {
		t.Errorf("parts = %s, want text first, then HTML", got)
	}
	if !strings.Contains(p.Text, "schöne Grüße") || !strings.Contains(p.HTML, "<p>schöne Grüße!</p>") {
		t.Errorf("bodies not decoded to UTF-8: %q / %q", p.Text, p.HTML)
	}
	if !bytes.Contains(raw, []byte("charset=UTF-8")) {
		t.Error("parts do not declare charset=UTF-8")
	}
	if h.Get("User-Agent") != "" || h.Get("X-Mailer") != "" {
		t.Error("library User-Agent leaked into the mail")
	}
}

func TestBuildTransactionalIsPlain(t *testing.T) {
	m := &Message{From: "shop@shop.example", To: "a@example.org", Subject: "Ihre Bestellung", Text: "Danke."}
	raw, err := Build(m, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PartTypes) != 1 || p.PartTypes[0] != "text/plain" || p.Text != "Danke." {
		t.Fatalf("parts %v text %q", p.PartTypes, p.Text)
	}
	for _, h := range []string{"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if p.Header.Get(h) != "" {
			t.Errorf("transactional mail has %s", h)
		}
	}
}

func TestBuildMessageIDsDiffer(t *testing.T) {
	a, _ := Build(testMessage(), t0)
	b, _ := Build(testMessage(), t0)
	pa, _ := ParseMessage(a)
	pb, _ := ParseMessage(b)
	if pa.MessageID == pb.MessageID {
		t.Fatal("two builds share a Message-ID")
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(m *Message)
	}{
		{"subject CRLF injection", "subject", func(m *Message) { m.Subject = "Hi\r\nBcc: victim@example.org" }},
		{"subject LF", "subject", func(m *Message) { m.Subject = "Hi\nX: y" }},
		{"empty subject", "subject", func(m *Message) { m.Subject = " " }},
		{"from name CR", "from_name", func(m *Message) { m.FromName = "Shop\rBcc: x@y.z" }},
		{"to name LF", "to_name", func(m *Message) { m.ToName = "A\nB" }},
		{"to with newline", "to", func(m *Message) { m.To = "a@example.org\r\nBcc: b@example.org" }},
		{"to with name", "to", func(m *Message) { m.To = "A <a@example.org>" }},
		{"to not an address", "to", func(m *Message) { m.To = "nobody" }},
		{"from missing", "from", func(m *Message) { m.From = "" }},
		{"reply-to bad", "reply_to", func(m *Message) { m.ReplyTo = "x@" }},
		{"header value CRLF", "headers", func(m *Message) { m.Headers = map[string]string{"X-A": "1\r\nBcc: x@y.z"} }},
		{"header name colon", "headers", func(m *Message) { m.Headers = map[string]string{"X-A: b": "1"} }},
		{"header name space", "headers", func(m *Message) { m.Headers = map[string]string{"X A": "1"} }},
		{"header reserved", "headers", func(m *Message) { m.Headers = map[string]string{"bcc": "x@y.z"} }},
		{"list id bad", "list_id", func(m *Message) { m.ListID = "news>letter" }},
		{"unsubscribe url relative", "unsubscribe_url", func(m *Message) { m.UnsubscribeURL = "/unsubscribe/x" }},
		{"unsubscribe url CRLF", "unsubscribe_url", func(m *Message) { m.UnsubscribeURL = "https://a.example/x\r\nBcc: y" }},
		{"unsubscribe url javascript", "unsubscribe_url", func(m *Message) { m.UnsubscribeURL = "javascript:alert(1)" }},
		{"mailto bad", "unsubscribe_mailto", func(m *Message) { m.UnsubscribeMailto = "mailto:nope" }},
		{"no text", "text", func(m *Message) { m.Text = "" }},
		{"bad utf8", "subject", func(m *Message) { m.Subject = "a\xffb" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMessage()
			tc.edit(m)
			err := m.Validate()
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Field != tc.field {
				t.Fatalf("Validate() = %v, want Invalid on %q", err, tc.field)
			}
			if _, err := Build(m, t0); err == nil {
				t.Fatal("Build accepted an invalid message")
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("news@shop.example", "Shop", "a@example.org", "Betreff", "X-Treu-Campaign", "1", "https://s.example/u/t")
	f.Add("a@b", "", "c@d", "Hi\r\nBcc: x", "X", "\n", "")
	f.Add("\"q u\"@b.example", "Ü", "x@[127.0.0.1]", "=?UTF-8?q?x?=", "bcc", "", "http://x")
	f.Fuzz(func(t *testing.T, from, fromName, to, subject, hk, hv, unsub string) {
		m := &Message{From: from, FromName: fromName, To: to, Subject: subject, Text: "t",
			UnsubscribeURL: unsub, Headers: map[string]string{hk: hv}}
		if m.Validate() != nil {
			return
		}
		raw, err := Build(m, t0)
		if err != nil {
			t.Fatalf("valid message did not build: %v", err)
		}
		p, err := ParseMessage(raw)
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%s", err, raw)
		}
		// No header injection: exactly one To, and no Bcc/Cc ever.
		if len(p.Header["To"]) != 1 || p.Header.Get("Bcc") != "" || p.Header.Get("Cc") != "" {
			t.Fatalf("header injection: %v", p.Header)
		}
		if p.Header.Get(hk) != hv && strings.TrimSpace(hv) == hv && !strings.ContainsAny(hv, "=?") {
			t.Fatalf("header %s = %q, want %q", hk, p.Header.Get(hk), hv)
		}
	})
}

// benchMessage is a mail of realistic size: a few KB of text and ~15 KB of HTML.
func benchMessage() *Message {
	m := testMessage()
	m.Text = strings.Repeat("Unsere neuen Angebote für Sie: Äpfel, Birnen und mehr. https://shop.example/p/123\n", 40)
	m.HTML = strings.Repeat(`<tr><td style="padding:8px;font-family:Arial"><a href="https://shop.example/p/123?utm_source=treu">Äpfel</a> nur 1,99 €</td></tr>`+"\n", 120)
	return m
}

func BenchmarkBuild(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		raw, err := Build(m, t0)
		if err != nil {
			b.Fatal(err)
		}
		n = len(raw)
	}
	b.SetBytes(int64(n))
}

func BenchmarkBuildSmall(b *testing.B) {
	m := testMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(m, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSimpleAddr: the fast path never accepts what net/mail would refuse.
func FuzzSimpleAddr(f *testing.F) {
	for _, s := range []string{"a@b.example", "a.b+c@d-e.example", ".a@b", "a@-b", "a..b@c", "a@b.", "\"x\"@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isSimpleAddr(s) {
			return
		}
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			t.Fatalf("fast path accepted %q; net/mail: %v", s, err)
		}
	})
}
