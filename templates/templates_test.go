package templates

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var footer = Footer{
	ShopName:  "Kaffee & Co. GmbH",
	Impressum: "Musterstraße 1\n10115 Berlin\nHRB 12345 B, Amtsgericht Charlottenburg\nUSt-IdNr. DE123456789",
}

const campaignMD = `# Hallo {{ .Name | default "Kundin, Kunde" }}!

Unsere **neue Röstung** ist da. Dein Gutschein: ` + "`{{ .Coupon }}`" + `

{{ if .Cart.Items }}
| Artikel | Menge | Preis |
|:--------|:-----:|------:|
{{ range .Cart.Items }}
| [{{ .Name }}]({{ .URL }}) | {{ .Quantity }} | {{ $.Money .Price }} |
{{ end }}

<a class="button" href="{{ .Cart.URL }}">Zum Warenkorb</a>
{{ end }}

## Warum Treu?

1. Frisch geröstet
2. ~~Teuer~~ Fair
- [x] bio

> Bester Kaffee in {{ .Attr "city" | default "Deutschland" }}.

Mehr unter https://shop.example/neu
`

func campaignSource() Source {
	return Source{
		Subject:   `{{ .FirstName | default "Hallo" }}, frisch geröstet`,
		Preheader: "Nur diese Woche",
		Markdown:  campaignMD,
		Footer:    footer,
	}
}

func kim() *Data {
	return &Data{
		Email: "kim@example.com", Name: "Kim Muster", Locale: "de",
		Attributes:     map[string]any{"city": "Köln"},
		UnsubscribeURL: "https://treu.example/unsubscribe/tok",
		PreferencesURL: "https://treu.example/preferences/tok",
		Coupon:         "ROEST10",
		Cart: &Cart{ID: "c1", URL: "https://shop.example/cart/c1", Currency: "EUR", Total: 1234.5,
			Items: []Item{
				{SKU: "a", Name: "Espresso", Price: 12.9, Quantity: 2, URL: "https://shop.example/p/a"},
				{SKU: "b", Name: "Filter", Price: 1208.7, Quantity: 1, URL: "https://shop.example/p/b"},
			}},
	}
}

func mustCompile(t testing.TB, src Source) *Template {
	t.Helper()
	tpl, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tpl
}

func mustRender(t testing.TB, tpl *Template, d *Data) Rendered {
	t.Helper()
	r, err := tpl.Render(d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return r
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./templates -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run go test ./templates -update and review the diff):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	tpl := mustCompile(t, campaignSource())
	de := mustRender(t, tpl, kim())
	golden(t, "campaign.de.golden.html", de.HTML)
	golden(t, "campaign.de.golden.txt", de.Subject+"\n\n"+de.Text)

	en := mustRender(t, tpl, &Data{Email: "jo@example.com", Locale: "en",
		UnsubscribeURL: "https://treu.example/unsubscribe/jo"})
	golden(t, "campaign.en.golden.html", en.HTML)
	golden(t, "campaign.en.golden.txt", en.Subject+"\n\n"+en.Text)

	for _, tc := range []struct{ kind, locale string }{
		{"confirm", "de"}, {"confirm", "en"}, {"welcome", "de"}, {"welcome", "en"},
	} {
		r, err := SystemMail(tc.kind, tc.locale, SystemVars{
			ShopName: footer.ShopName, Name: "Kim Muster", Footer: footer,
			ConfirmURL:     "https://treu.example/confirm/tok",
			PreferencesURL: "https://treu.example/preferences/tok",
			UnsubscribeURL: "https://treu.example/unsubscribe/tok",
		})
		if err != nil {
			t.Fatal(err)
		}
		base := tc.kind + "." + tc.locale + ".golden"
		golden(t, base+".html", r.HTML)
		golden(t, base+".txt", r.Subject+"\n\n"+r.Text)
	}
}

func TestPersonalization(t *testing.T) {
	for _, tc := range []struct {
		name, md string
		data     *Data
		want     string // in the text part
	}{
		{"name", "Hi {{ .Name }}", &Data{Name: "Kim Muster"}, "Hi Kim Muster"},
		{"first name", "Hi {{ .FirstName }}", &Data{Name: " Kim  Muster "}, "Hi Kim\n"},
		{"email", "{{ .Email }}", &Data{Email: "a@b.example"}, "a@b.example"},
		{"default used", `Hallo {{ .Name | default "Kundin, Kunde" }}`, &Data{}, "Hallo Kundin, Kunde"},
		{"default blank", `Hallo {{ .Name | default "Kundin, Kunde" }}`, &Data{Name: "  "}, "Hallo Kundin, Kunde"},
		{"default unused", `Hallo {{ .Name | default "Kundin, Kunde" }}`, &Data{Name: "Kim"}, "Hallo Kim"},
		{"attr", `{{ .Attr "city" }}`, &Data{Attributes: map[string]any{"city": "Köln"}}, "Köln"},
		{"attr missing", `[{{ .Attr "city" }}]`, &Data{}, "[]"},
		{"attr null", `[{{ .Attr "city" }}]`, &Data{Attributes: map[string]any{"city": nil}}, "[]"},
		{"attributes missing key", `[{{ .Attributes.city }}]`, &Data{}, "[]"},
		{"index missing key", `[{{ index .Attributes "city" }}]`, &Data{Attributes: map[string]any{}}, "[]"},
		{"attr default", `{{ .Attr "city" | default "Berlin" }}`, &Data{}, "Berlin"},
		{"coupon", "Code {{ .Coupon }}", &Data{Coupon: "X1"}, "Code X1"},
		{"no cart", "[{{ .Cart.URL }}]{{ range .Cart.Items }}x{{ end }}", &Data{}, "[]"},
		{"cart", "{{ range .Cart.Items }}{{ .Name }} {{ .Quantity }};{{ end }}", kim(), "Espresso 2;Filter 1;"},
		{"money de", "{{ .Money .Cart.Total }}", kim(), "1.234,50\u00a0€"},
		{"money en", "{{ .Money .Cart.Total }}", &Data{Locale: "en", Cart: &Cart{Total: 1234.5, Currency: "EUR"}}, "€1,234.50"},
		{"upper lower", `{{ upper .Name }} {{ lower .Name }}`, &Data{Name: "Kim"}, "KIM kim"},
		{"unsubscribe", "[Abmelden]({{ .UnsubscribeURL }})", &Data{UnsubscribeURL: "https://t.example/u/1"}, "Abmelden (https://t.example/u/1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: tc.md, Footer: footer}), tc.data)
			if !strings.Contains(r.Text, tc.want) {
				t.Errorf("text part lacks %q:\n%s", tc.want, r.Text)
			}
			for _, part := range []string{r.Subject, r.HTML, r.Text} {
				if strings.Contains(part, "no value") {
					t.Errorf("<no value> in\n%s", part)
				}
			}
		})
	}
}

func TestSubject(t *testing.T) {
	tpl := mustCompile(t, Source{Subject: `Hallo {{ .Name | default "du" }} & "Freunde"`, Markdown: "x"})
	if got := mustRender(t, tpl, &Data{Name: "A <b>\r\nBcc: x@y"}).Subject; got != `Hallo A <b>  Bcc: x@y & "Freunde"` {
		t.Errorf("subject = %q", got)
	}
	if got := mustRender(t, tpl, nil).Subject; got != `Hallo du & "Freunde"` {
		t.Errorf("subject = %q", got)
	}
}

func TestEscapesSubscriberValues(t *testing.T) {
	tpl := mustCompile(t, Source{Subject: "s", Markdown: "Hallo {{ .Name }}, [Link]({{ .Attr \"url\" }}) <a href=\"{{ .Attr \"url\" }}\" title=\"{{ .Name }}\">x</a>", Footer: footer})
	for _, name := range []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `' onmouseover='x`} {
		r := mustRender(t, tpl, &Data{Name: name, Attributes: map[string]any{"url": "javascript:alert(1)"}})
		for _, bad := range []string{"<script>", "<img src=x", "\"><img", "javascript:", "' onmouseover"} {
			if strings.Contains(r.HTML, bad) {
				t.Errorf("name %q: HTML contains %q", name, bad)
			}
		}
		if !strings.Contains(r.Text, name) {
			t.Errorf("text part should carry the name verbatim: %q", r.Text)
		}
	}
}

func TestSanitizesRawHTML(t *testing.T) {
	md := "<script>alert(1)</script>\n\n<p onclick=\"evil()\">Hi</p>\n\n<a href=\"javascript:alert(1)\">a</a> <iframe src=\"https://x.example\"></iframe>\n\n[b](javascript:alert(2)) <img src=\"https://x.example/i.png\" onerror=\"evil()\">\n\n<div style=\"position:fixed\" align=\"center\">ok</div>\n"
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: md, Footer: footer}), kim())
	for _, bad := range []string{"<script", "alert(1)", "onclick", "evil()", "javascript:", "<iframe", "position:fixed"} {
		if strings.Contains(r.HTML, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	for _, good := range []string{">Hi</p>", `src="https://x.example/i.png"`, `align="center"`, ">ok</div>"} {
		if !strings.Contains(r.HTML, good) {
			t.Errorf("HTML lacks %q", good)
		}
	}
}

func TestQuotesInActionsSurviveMarkdown(t *testing.T) {
	md := "*{{ .Name | default \"Kundin, Kunde\" }}* and {{ printf \"%s & %s\" `a` \"b\" }} in [a link]({{ .Attr \"url\" | default \"https://shop.example/?a=1&b=2\" }} \"{{ .Name }}\")\n\n> {{ \"}}\" }}\n"
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: md, Footer: footer}), &Data{})
	for _, want := range []string{"<em>Kundin, Kunde</em>", "a &amp; b", `href="https://shop.example/?a=1&amp;b=2"`, "}}"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if !strings.Contains(r.Text, "a & b") || !strings.Contains(r.Text, "a link (https://shop.example/?a=1&b=2)") {
		t.Errorf("text:\n%s", r.Text)
	}
}

func TestGFM(t *testing.T) {
	md := "| a | b |\n|---|--:|\n| 1 | 2 |\n\n~~old~~ new\n\nsee https://shop.example/x and www.shop.example\n\n- [x] done\n"
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: md, Footer: footer}), kim())
	for _, want := range []string{"<table", "<th", "text-align:right", "<del", `href="https://shop.example/x"`, `href="http://www.shop.example"`} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, want := range []string{"a | b\n-----\n1 | 2", "~~old~~ new", "https://shop.example/x", "- [x] done"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, r.Text)
		}
	}
}

func TestCartRange(t *testing.T) {
	tpl := mustCompile(t, campaignSource())
	r := mustRender(t, tpl, kim())
	if n := strings.Count(r.HTML, "<tr>"); n < 3 {
		t.Errorf("want a header row and two item rows, got %d rows:\n%s", n, r.HTML)
	}
	if !strings.Contains(r.Text, "Espresso (https://shop.example/p/a) | 2 | 12,90\u00a0€\nFilter (https://shop.example/p/b) | 1 | 1.208,70\u00a0€") {
		t.Errorf("text:\n%s", r.Text)
	}
	list := mustCompile(t, Source{Subject: "s", Markdown: "Im Korb:\n{{ range .Cart.Items }}\n- {{ .Name }}\n{{ end }}\nDanke\n", Footer: footer})
	r = mustRender(t, list, kim())
	if strings.Count(r.HTML, "<ul") != 1 || strings.Count(r.HTML, "<li") != 2 {
		t.Errorf("want one list of two items:\n%s", r.HTML)
	}
	if !strings.Contains(r.Text, "- Espresso\n\n- Filter") && !strings.Contains(r.Text, "- Espresso\n- Filter") {
		t.Errorf("text:\n%s", r.Text)
	}
}

func TestTextPart(t *testing.T) {
	md := "# Title\n\nSome *emphasis* and a [link](https://shop.example/a).\n\n## Sub\n\n- one\n- two\n  continued\n\n1. first\n2. second\n\n> quoted\n\n```\ncode {{ .Coupon }}\n```\n\n![alt text](https://shop.example/i.png)\n\nAT&amp;T &lt;3 \\*not em\\*\n"
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: md, Footer: footer}), &Data{Coupon: "C1", Locale: "en", UnsubscribeURL: "https://u.example/x"})
	for _, want := range []string{
		"Title\n=====\n", "Sub\n---\n", "Some emphasis and a link (https://shop.example/a).",
		"- one\n- two\n  continued", "1. first\n2. second", "> quoted", "    code C1", "alt text",
		"AT&T <3 *not em*", "\n-- \nKaffee & Co. GmbH\nMusterstraße 1\n", "Unsubscribe: https://u.example/x",
	} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, r.Text)
		}
	}
	if strings.Contains(r.Text, "<") && !strings.Contains(r.Text, "<3") {
		t.Errorf("text has markup:\n%s", r.Text)
	}
}

func TestFooterLocale(t *testing.T) {
	tpl := mustCompile(t, Source{Subject: "s", Markdown: "x", Footer: footer, Locale: "en"})
	for _, tc := range []struct{ locale, want string }{
		{"de", "Abmelden"}, {"de-AT", "Einstellungen ändern"}, {"en", "Manage preferences"},
		{"fr", "Unsubscribe"}, {"", "You receive this mail because you subscribed at Kaffee &amp; Co. GmbH."},
	} {
		r := mustRender(t, tpl, &Data{Locale: tc.locale, UnsubscribeURL: "https://u.example/1", PreferencesURL: "https://u.example/p"})
		if !strings.Contains(r.HTML, tc.want) {
			t.Errorf("locale %q: HTML lacks %q", tc.locale, tc.want)
		}
		if !strings.Contains(r.HTML, "Musterstraße 1<br/>10115 Berlin") {
			t.Errorf("locale %q: Impressum missing", tc.locale)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   Source
		field string
		msg   string
	}{
		{"syntax", Source{Markdown: "a\n\nb {{ .Name \n"}, "markdown", "line 3"},
		{"unknown field", Source{Markdown: "a\nb\n{{ .Nme }}"}, "markdown", `line 3: Treu has no value called .Nme.`},
		{"unknown field in if", Source{Markdown: "{{ if .Coupon }}\n{{ .Cupon }}\n{{ end }}"}, "markdown", `line 2: `},
		{"unknown in range", Source{Markdown: "{{ range .Cart.Items }}\n{{ .Titel }}{{ end }}"}, "markdown", "line 2:"},
		{"unknown func", Source{Markdown: "x\n{{ shout .Name }}"}, "markdown", `line 2: "shout" is not something Treu can do in a template; check the spelling. (function "shout" not defined)`},
		{"unclosed", Source{Markdown: "{{ if .Coupon }}x"}, "markdown", "line 1: An {{ if }}, {{ range }} or {{ with }} has no {{ end }}."},
		{"unclosed action", Source{Markdown: "Hallo {{ .Name"}, "markdown", "line 1: A {{ is not closed: add }} after it."},
		{"define", Source{Markdown: "x\n{{ define \"y\" }}z{{ end }}"}, "markdown", "line 2:"},
		{"subject", Source{Subject: "Hi {{ .Foo }}", Markdown: "x"}, "subject", "line 1:"},
		{"subject newline", Source{Subject: "a\nb", Markdown: "x"}, "subject", "line 1:"},
		{"preheader", Source{Preheader: "{{ .Foo", Markdown: "x"}, "preheader", "line 1:"},
		{"layout without content", Source{Markdown: "x", Layout: "<p>{{ .Name }}</p>"}, "layout", "content"},
		{"layout twice", Source{Markdown: "x", Layout: "{{ content }}{{ content }}"}, "layout", "content"},
		{"layout field", Source{Markdown: "x", Layout: "<p>\n{{ .Nope }}</p>{{ content }}"}, "layout", "line 2:"},
		{"html context", Source{Markdown: "x", Layout: "{{ content }}<a href=\"{{ if .Coupon }}x\">{{ end }}"}, "layout", "line 1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.src)
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("want errs.Invalid, got %v", err)
			}
			if e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got field %q msg %q, want %q containing %q", e.Field, e.Msg, tc.field, tc.msg)
			}
			if strings.Contains(e.Msg, "templates.view") {
				t.Errorf("message leaks internals: %q", e.Msg)
			}
		})
	}
}

func TestCustomLayout(t *testing.T) {
	layout := `<html><head><style>.c p { color: #123456; }</style></head><body><div class="c">{{ content }}</div><p>{{ .Shop.Name }} · <a href="{{ .UnsubscribeURL }}">{{ .L.Unsubscribe }}</a></p></body></html>`
	if err := ValidateLayout(layout); err != nil {
		t.Fatal(err)
	}
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: "Hallo {{ .Name }}", Layout: layout, Footer: footer}), kim())
	for _, want := range []string{`<p style="color:#123456">Hallo Kim Muster</p>`, `href="https://treu.example/unsubscribe/tok"`, ">Abmelden<"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
		}
	}
	if !strings.Contains(DefaultLayout(), "{{ content }}") {
		t.Error("DefaultLayout has no content placeholder")
	}
}

func TestLiteralBracesFromEntities(t *testing.T) {
	// &#123;&#123; must come out as text, never become an action.
	r := mustRender(t, mustCompile(t, Source{Subject: "s", Markdown: "&#123;&#123; .Email }} &#123;{{ .Name }}", Footer: footer}), &Data{Email: "secret@x.example", Name: "Kim"})
	if strings.Contains(r.HTML, "secret@x.example") || strings.Contains(r.Text, "secret@x.example") {
		t.Error("entity braces were executed")
	}
	if !strings.Contains(r.Text, "{{ .Email }} {Kim") {
		t.Errorf("text:\n%s", r.Text)
	}
}

func TestSystemMail(t *testing.T) {
	r, err := SystemMail("confirm", "de", SystemVars{ShopName: "Laden", ConfirmURL: "https://t.example/confirm/x", UnsubscribeURL: "https://t.example/u"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.HTML, `href="https://t.example/confirm/x"`) || !strings.Contains(r.Text, "https://t.example/confirm/x") {
		t.Error("confirm link missing")
	}
	if strings.Contains(r.HTML, "t.example/u") || strings.Contains(r.Text, "Abmelden") {
		t.Error("the confirmation mail must not carry a marketing footer")
	}
	if _, err := SystemMail("promo", "de", SystemVars{}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestRenderToReusesBuffers(t *testing.T) {
	tpl := mustCompile(t, campaignSource())
	var b Buffers
	if err := tpl.RenderTo(&b, kim()); err != nil {
		t.Fatal(err)
	}
	first := b.HTML.String()
	if err := tpl.RenderTo(&b, &Data{Locale: "en"}); err != nil {
		t.Fatal(err)
	}
	if err := tpl.RenderTo(&b, kim()); err != nil {
		t.Fatal(err)
	}
	if b.HTML.String() != first {
		t.Error("RenderTo leaked state between recipients")
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		lang, cur string
		amount    float64
		want      string
	}{
		{"de", "EUR", 0.5, "0,50\u00a0€"}, {"de", "EUR", 1234567.891, "1.234.567,89\u00a0€"},
		{"en", "USD", 1234.5, "$1,234.50"}, {"en", "CHF", 12, "CHF 12.00"}, {"de", "", -3, "-3,00\u00a0€"},
	} {
		if got := formatMoney(tc.lang, tc.cur, tc.amount); got != tc.want {
			t.Errorf("formatMoney(%q, %q, %v) = %q, want %q", tc.lang, tc.cur, tc.amount, got, tc.want)
		}
	}
}

func FuzzCompile(f *testing.F) {
	f.Add("# Hi {{ .Name }}", "Hi {{ .FirstName }}")
	f.Add(campaignMD, "{{ .Name | default \"x\" }}")
	f.Add("{{ range .Cart.Items }}\n- {{ .Name }}\n{{ end }}", "")
	f.Add("<script>{{ .Name }}</script>[x]({{ .Coupon }})", "{{")
	f.Add("| a |\n|---|\n{{ if .Coupon }}\n| b |\n{{ end }}", "")
	f.Add("&#123;{{ .Name }} TreuAct0X {{/* c }} */}}", "")
	for _, src := range diffSources {
		f.Add(src.Markdown, src.Subject)
	}
	f.Fuzz(func(t *testing.T, md, subject string) {
		tpl, err := Compile(Source{Subject: subject, Markdown: md, Footer: footer})
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid {
				t.Fatalf("error is not errs.Invalid: %v", err)
			}
			return
		}
		for _, d := range diffRecipients() {
			sameAsStd(t, tpl, d)
			if _, err := tpl.Render(d); err != nil {
				// Runtime errors are possible (e.g. index out of range on
				// a recipient's data) but must not panic.
				continue
			}
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	src := campaignSource()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	tpl := mustCompile(b, campaignSource())
	d := kim()
	var buf Buffers
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := tpl.RenderTo(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkRenderStd is BenchmarkRender on html/template and text/template
// alone, for comparison with the fast executor.
func BenchmarkRenderStd(b *testing.B) {
	tpl := mustCompile(b, campaignSource())
	d := kim()
	var buf Buffers
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := tpl.renderStd(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// realisticMD is a typical weekly newsletter of about 3 KB: greeting,
// personalised links, a VIP block, a cart reminder, product teasers.
const realisticMD = `# Hallo {{ .FirstName | default "liebe Kaffeefreundin, lieber Kaffeefreund" }}!

Der Herbst ist da, und mit ihm unsere **neue Röstung "Ernte 2026"**: ein
kräftiger Espresso aus Brasilien und Äthiopien mit Noten von dunkler
Schokolade, Haselnuss und einem Hauch Kirsche. Wir haben sie zwei Monate lang
probiert, verworfen, verbessert – und sind jetzt richtig stolz.

{{ if .Coupon }}
Als Dankeschön für Ihre Treue schenken wir Ihnen **10 % Rabatt** auf Ihre
nächste Bestellung. Ihr persönlicher Gutscheincode: ` + "`{{ .Coupon }}`" + `
{{ end }}

{{ if .Attr "vip" }}
> **Für unsere VIPs:** Sie bekommen die Ernte 2026 schon heute, drei Tage vor
> allen anderen. Ihre Punkte: {{ .Attr "points" | default 0 }}.
{{ end }}

{{ if .Cart.Items }}
## Noch in Ihrem Warenkorb

| Artikel | Menge | Preis |
|:--------|:-----:|------:|
{{ range .Cart.Items }}
| [{{ .Name }}]({{ .URL }}) | {{ .Quantity }} | {{ $.Money .Price }} |
{{ end }}

Summe: **{{ .Money .Cart.Total }}**

<a class="button" href="{{ .Cart.URL }}">Zum Warenkorb</a>
{{ end }}

## Neu im Sortiment

![Ernte 2026](https://shop.example/img/ernte-2026.jpg "Ernte 2026")

1. **Ernte 2026 Espresso** – kräftig, schokoladig, 250 g für 12,90 €
2. **Ernte 2026 Filter** – fruchtig und klar, 250 g für 11,90 €
3. **Probierset** – beide Sorten und ein Handfilter, ~~39,90 €~~ 29,90 €

[Jetzt entdecken](https://shop.example/neu?utm_source=newsletter&utm_medium=email&utm_campaign=ernte-2026)

## Aus der Rösterei

Jeden Donnerstag rösten wir in kleinen Chargen von 15 kg. Wer dabei zusehen
möchte: Die Rösterei in {{ .Attr "city" | default "Berlin" }} ist
donnerstags von 10 bis 16 Uhr geöffnet, auf einen Espresso laden wir Sie
gern ein. Und wer lieber liest, findet in unserem Blog einen ausführlichen
Artikel über die Reise zu unseren Farmern in Minas Gerais.

- Röstprotokolle und Herkunft jeder Bohne
- Brühanleitungen für Siebträger, French Press und Aeropress
- Rezepte: Affogato, Espresso Tonic, Kaffeekirschen-Limonade

## Termine im Oktober

| Datum | Veranstaltung | Ort |
|:------|:--------------|:----|
| 5.10. | Cupping: Ernte 2026 | Rösterei |
| 12.10. | Latte-Art-Kurs für Einsteiger | Rösterei |
| 19.10. | Barista-Abend mit Live-Musik | Café am Markt |

Anmeldung unter [shop.example/termine](https://shop.example/termine?kunde={{ .Email | urlquery }}),
die Plätze sind wie immer begrenzt. {{ if eq .Locale "de" }}Wir freuen uns auf Sie!{{ end }}

---

Sie haben Fragen zu Ihrer Bestellung? Antworten Sie einfach auf diese
E-Mail, {{ .FirstName | default "wir" }} – hier schreiben echte Menschen.

PS: Unser Kaffee-Abo liefert Ihnen alle zwei oder vier Wochen frisch
gerösteten Kaffee nach Hause, versandkostenfrei und jederzeit kündbar.
[Mehr zum Abo](https://shop.example/abo?utm_source=newsletter&utm_campaign=ernte-2026)

Herzliche Grüße aus der Rösterei
Ihr Team von Kaffee & Co.
`

func realisticSource() Source {
	return Source{
		Subject:   `{{ .FirstName | default "Hallo" }}, die Ernte 2026 ist da`,
		Preheader: `{{ if .Coupon }}Mit Ihrem Gutschein {{ .Coupon }}: 10 % auf die neue Röstung{{ else }}Unsere neue Röstung ist da{{ end }}`,
		Markdown:  realisticMD,
		Footer:    footer,
	}
}

func realisticRecipient() *Data {
	d := kim()
	d.Attributes = map[string]any{"city": "Köln", "vip": true, "points": 120.0}
	return d
}

// BenchmarkRenderRealistic renders a ~3 KB personalised newsletter for one
// recipient, the send engine's hot path.
func BenchmarkRenderRealistic(b *testing.B) {
	if n := len(realisticMD); n < 2800 {
		b.Fatalf("the benchmark's Markdown has %d bytes, want about 3 KB", n)
	}
	tpl := mustCompile(b, realisticSource())
	d := realisticRecipient()
	var buf Buffers
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := tpl.RenderTo(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(buf.HTML.Len()+buf.Text.Len()), "out-bytes")
}

func BenchmarkRenderRealisticStd(b *testing.B) {
	tpl := mustCompile(b, realisticSource())
	d := realisticRecipient()
	var buf Buffers
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := tpl.renderStd(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkRenderRealisticString is BenchmarkRenderRealistic through
// Render, which returns strings (what the campaign engine calls).
func BenchmarkRenderRealisticString(b *testing.B) {
	tpl := mustCompile(b, realisticSource())
	d := realisticRecipient()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := tpl.Render(d); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}
