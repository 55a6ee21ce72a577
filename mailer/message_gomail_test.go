package mailer

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// buildGoMail is the reference: the same mail built with go-mail's Msg.
// buildTo replaced it for speed (see mime.go); this keeps the two honest.
func buildGoMail(buf *bytes.Buffer, m *Message, now time.Time) error {
	if err := m.Validate(); err != nil {
		return err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(m.FromName, m.From); err != nil {
		return err
	}
	if err := msg.AddToFormat(m.ToName, m.To); err != nil {
		return err
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return err
		}
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue("ref@" + messageIDDomain(m.From))
	if m.ListID != "" {
		msg.SetGenHeader("List-Id", "<"+m.ListID+">")
	}
	if m.UnsubscribeURL != "" {
		msg.SetListUnsubscribe(m.UnsubscribeURL, "mailto:"+strings.TrimPrefix(m.UnsubscribeMailto, "mailto:"))
		msg.SetListUnsubscribePost()
	}
	for k, v := range m.Headers {
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyWriter(gomail.TypeTextPlain, stringWriter(m.Text))
	if m.HTML != "" {
		msg.AddAlternativeWriter(gomail.TypeTextHTML, stringWriter(m.HTML))
	}
	_, err := msg.WriteTo(buf)
	return err
}

func stringWriter(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

func TestBuildMatchesGoMail(t *testing.T) {
	long := strings.Repeat("Zeile mit Ümlauten und = Zeichen und Leerzeichen am Ende   \n", 30) +
		strings.Repeat("x", 300) + "\r\nCRLF-Zeile\r\n\tTab\n.Punkt am Anfang\nEnde ohne Umbruch "
	for _, m := range []*Message{testMessage(), benchMessage(),
		{From: "a@shop.example", To: "b@example.org", Subject: "Plain", Text: long},
		{From: "a@shop.example", To: "b@example.org", Subject: "Beides", Text: long, HTML: long + "<p>€</p>"},
	} {
		var ours, ref bytes.Buffer
		if err := buildTo(&ours, m, t0); err != nil {
			t.Fatal(err)
		}
		if err := buildGoMail(&ref, m, t0); err != nil {
			t.Fatal(err)
		}
		a, err := ParseMessage(ours.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseMessage(ref.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject != b.Subject || a.From != b.From || a.To != b.To || !a.Date.Equal(b.Date) {
			t.Errorf("headers differ:\n ours %q %q %q\n ref  %q %q %q", a.Subject, a.From, a.To, b.Subject, b.From, b.To)
		}
		for _, h := range []string{"List-Id", "List-Unsubscribe-Post", "Reply-To", "Mime-Version", "X-Treu-Campaign"} {
			if a.Header.Get(h) != b.Header.Get(h) {
				t.Errorf("%s: ours %q, go-mail %q", h, a.Header.Get(h), b.Header.Get(h))
			}
		}
		if strings.Join(a.PartTypes, ",") != strings.Join(b.PartTypes, ",") {
			t.Errorf("parts: ours %v, go-mail %v", a.PartTypes, b.PartTypes)
		}
		// Both decode to the text given, with line ends made CRLF.
		crlf := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n") }
		if a.Text != crlf(m.Text) || b.Text != crlf(m.Text) {
			t.Errorf("text differs:\n ours %q\n ref  %q\n want %q", a.Text, b.Text, crlf(m.Text))
		}
		if a.HTML != crlf(m.HTML) {
			t.Errorf("html differs: %q", a.HTML)
		}
		for _, line := range strings.Split(ours.String(), "\r\n") {
			if len(line) > 998 || (strings.HasPrefix(line, "=") && len(line) > 76) {
				t.Fatalf("overlong line %d: %.80q", len(line), line)
			}
		}
	}
}

func BenchmarkBuildGoMail(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := buildGoMail(&buf, m, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
