package templates

import (
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

// A custom layout never drops the Impressum and the footer links: placed
// where the layout puts {{ footer }}, else before </body>, else at the end.
func TestFooterAlwaysInLayout(t *testing.T) {
	for _, tc := range []struct {
		name, layout string
		before       string // the footer must come before this text ("" = anywhere)
		after        string // and after this one
	}{
		{"no footer, body", `<html><body><div class="c">{{ content }}</div><p>END</p></body></html>`, "</body>", "END"},
		{"no footer, upper-case body", `<HTML><BODY>{{ content }}<p>END</p></BODY></HTML>`, "</body>", "END"},
		{"no footer, no body", `<div>{{ content }}</div><p>END</p>`, "", "END"},
		{"placed", `<html><body><p>TOP</p>{{ footer }}<div>{{ content }}</div><p>END</p></body></html>`, "END", "TOP"},
		{"placed with trim", `<html><body><p>TOP</p>{{- footer -}}<div>{{ content }}</div></body></html>`, "Hallo", "TOP"},
		{"body only in a condition", `<html><body>{{ content }}<p>END</p>{{ if .Coupon }}</body>{{ end }}`, "", "END"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateLayout(tc.layout); err != nil {
				t.Fatal(err)
			}
			tpl := mustCompile(t, Source{Subject: "s", Markdown: "Hallo {{ .Name }}", Layout: tc.layout, Footer: footer})
			for _, d := range []*Data{kim(), {Locale: "en", UnsubscribeURL: "https://treu.example/unsubscribe/jo"}} {
				r := mustRender(t, tpl, d)
				for _, want := range []string{"Musterstraße 1", "USt-IdNr. DE123456789", `href="` + d.UnsubscribeURL + `"`} {
					if strings.Count(r.HTML, want) != 1 {
						t.Errorf("HTML carries %q %d times, want once:\n%s", want, strings.Count(r.HTML, want), r.HTML)
					}
				}
				if d.PreferencesURL != "" && !strings.Contains(r.HTML, `href="`+d.PreferencesURL+`"`) {
					t.Errorf("HTML lacks the preferences link:\n%s", r.HTML)
				}
				at := strings.Index(r.HTML, "Musterstraße 1")
				if tc.after != "" && strings.Index(r.HTML, tc.after) > at {
					t.Errorf("footer comes before %q:\n%s", tc.after, r.HTML)
				}
				if tc.before != "" && strings.LastIndex(strings.ToLower(r.HTML), strings.ToLower(tc.before)) < at {
					t.Errorf("footer comes after %q:\n%s", tc.before, r.HTML)
				}
			}
		})
	}
}

func TestFooterLayoutErrors(t *testing.T) {
	for _, tc := range []struct{ name, layout, msg string }{
		{"in a condition", "<body>{{ content }}\n{{ if .Coupon }}{{ footer }}{{ end }}</body>", "line 2: {{ footer }} must not be inside"},
		{"in a range", "{{ content }}{{ range .Cart.Items }}{{ footer }}{{ end }}", "must not be inside"},
		{"twice", "{{ content }}{{ footer }}{{ footer }}", "once"},
		{"in a comment", "<body>{{ content }}<!-- {{ footer }} --></body>", "hides the unsubscribe link"},
		{"in the title", "<html><head><title>{{ footer }}</title></head><body>{{ content }}</body></html>", "hides"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(Source{Subject: "s", Markdown: "x", Layout: tc.layout, Footer: footer})
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Field != "layout" || !strings.Contains(e.Msg, tc.msg) {
				t.Fatalf("got %v, want a layout error containing %q", err, tc.msg)
			}
		})
	}
}

func TestUsesCoupon(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want bool
	}{
		{Source{Subject: "s", Markdown: "Code: {{ .Coupon }}"}, true},
		{Source{Subject: "s", Markdown: "{{ if .Coupon }}x{{ end }}"}, true},
		{Source{Subject: "Code {{ $.Coupon }}", Markdown: "x"}, true},
		{Source{Subject: "s", Markdown: "x", Layout: "<body>{{ content }}{{ .Coupon | upper }}</body>"}, true},
		{Source{Subject: "s", Markdown: "{{ .Name }} {{ .Attr \"Coupon\" }}"}, false},
	} {
		tc.src.Footer = footer
		if got := mustCompile(t, tc.src).UsesCoupon(); got != tc.want {
			t.Errorf("%+v: UsesCoupon = %v", tc.src, got)
		}
	}
}

// An existing customer (UWG § 7 (3)) is told in the footer, in their
// language, why they get the mail and that they may object at any time at
// no cost beyond base rates; a subscriber who consented is not. Both the
// fast and the standard executor (RenderTo, Render) agree; {{ .Points }}
// and {{ .ReferralURL }} print the loyalty fields.
func TestFooterExistingCustomer(t *testing.T) {
	tpl := mustCompile(t, Source{Subject: "s", Markdown: "Punkte: {{ .Points }} {{ .ReferralURL }}", Footer: footer})
	for _, tc := range []struct {
		locale   string
		existing bool
		want     string
	}{
		{"de", true, "Basistarifen"}, {"en", true, "base rates"},
		{"de", false, "angemeldet haben"}, {"en", false, "you subscribed at"},
	} {
		d := &Data{Locale: tc.locale, UnsubscribeURL: "https://treu.example/unsubscribe/x", ExistingCustomer: tc.existing,
			Points: 250, ReferralURL: "https://treu.example/r/abc"}
		var b Buffers
		if err := tpl.RenderTo(&b, d); err != nil {
			t.Fatal(err)
		}
		slow := mustRender(t, tpl, d)
		for name, text := range map[string]string{"HTML": b.HTML.String(), "text": b.Text.String(), "Render HTML": slow.HTML, "Render text": slow.Text} {
			if !strings.Contains(text, tc.want) {
				t.Errorf("%s %v %s lacks %q:\n%s", tc.locale, tc.existing, name, tc.want, text)
			}
			if other := "Basistarifen"; !tc.existing && strings.Contains(text, other) {
				t.Errorf("%s consent %s carries the existing-customer notice", tc.locale, name)
			}
			if !strings.Contains(text, "Punkte: 250 https://treu.example/r/abc") {
				t.Errorf("%s lacks points and referral link:\n%s", name, text)
			}
		}
	}
}
