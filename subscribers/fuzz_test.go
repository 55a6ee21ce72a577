package subscribers

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
)

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"anna@example.com", "Info@München.de", `"a"@b.c`, "a@b.c\r\nBcc: x", "a@[1.2.3.4]",
		"x@xn--mnchen-3ya.de", "a@b", "A <a@b.example>", "a@ex\u00ADample.com", "ß@straße.de",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ValidateEmail(s)
		if err != nil {
			return
		}
		if len(got) > maxEmail || !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00 <>,;:\"()[]\\") {
			t.Fatalf("ValidateEmail(%q) = %q", s, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x21 || got[i] > 0x7e {
				t.Fatalf("ValidateEmail(%q) = %q: not printable ASCII", s, got)
			}
		}
		again, err := ValidateEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	ls := newLinkSigner(testSecret)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Add(ls.Sign(PurposeConfirm, 1, now))
	f.Add(ls.Sign(PurposeManage, 1<<40, now))
	f.Add("")
	f.Add(strings.Repeat("A", TokenLen))
	f.Fuzz(func(t *testing.T, tok string) {
		for _, p := range []Purpose{PurposeConfirm, PurposeManage} {
			id, iat, err := ls.Parse(tok, p)
			if err != nil {
				continue
			}
			// Whatever parses must be exactly what signing gives back.
			if id <= 0 || ls.Sign(p, id, iat) != tok {
				t.Fatalf("Parse(%q) = %d %v; re-signed differs", tok, id, iat)
			}
		}
	})
}

func BenchmarkEnroll(b *testing.B) {
	e := newEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		_, _, err := e.svc.Enroll(e.ctx, EnrollInput{
			Email:   fmt.Sprintf("bench%d@example.com", i),
			Name:    "Bench Mark",
			Consent: &ConsentInput{Text: "Ja, ich möchte den Newsletter.", IP: "192.0.2.1", UserAgent: "Mozilla/5.0", Source: "checkout"},
		}, Meta{IP: "192.0.2.1", Channel: ChannelAPI})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnrollParallel(b *testing.B) {
	e := newEnv(b)
	b.ReportAllocs()
	var n atomicCounter
	b.SetParallelism(16) // 32 goroutines on 2 cores, like the HTTP target
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.next()
			_, _, err := e.svc.Enroll(e.ctx, EnrollInput{
				Email:   fmt.Sprintf("bench%d@example.com", i),
				Consent: &ConsentInput{Text: "Ja, ich möchte den Newsletter.", IP: "192.0.2.1"},
			}, Meta{IP: "192.0.2.1", Channel: ChannelAPI})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkManageURLs(b *testing.B) {
	e := newEnv(b)
	for b.Loop() {
		e.svc.ManageURLs(123456)
	}
}

// FuzzValidateBasis: the legal basis fields never panic, every refusal
// names its field, and an existing customer always names the sale.
func FuzzValidateBasis(f *testing.F) {
	f.Add("existing_customer", "A-1", "", false)
	f.Add("existing_customer", "", "Hinweis", false)
	f.Add("existing_customer", "", "", true)
	f.Add("consent", "x", "", false)
	f.Add("", "", "", false)
	f.Fuzz(func(t *testing.T, basis, order, notice string, doi bool) {
		var c ConsentInput
		b, o, err := validateBasis(EnrollInput{LegalBasis: basis, OrderID: order, Notice: notice, DoubleOptIn: &doi}, &c)
		if err != nil {
			if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Field == "" {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		switch b {
		case BasisConsent:
		case BasisExistingCustomer:
			if o == "" && c.Text == "" {
				t.Fatal("an existing customer without the sale")
			}
		default:
			t.Fatalf("basis %q", b)
		}
	})
}
