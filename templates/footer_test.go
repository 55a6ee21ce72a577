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
