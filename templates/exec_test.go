package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// sameAsStd renders d with the fast executor and with html/template and
// text/template and reports a difference. A recipient the fast executor
// declines is fine: RenderTo then uses the standard templates.
func sameAsStd(t testing.TB, tpl *Template, d *Data) (fast bool) {
	t.Helper()
	if tpl.fast == nil {
		return false
	}
	var f, s Buffers
	stdErr := tpl.renderStd(&s, d)
	if err := tpl.renderFast(&f, d); err != nil {
		if !errors.Is(err, errFallback) {
			t.Errorf("fast executor failed with %v, want errFallback", err)
		}
		return false
	}
	if stdErr != nil {
		t.Fatalf("fast executor rendered what the standard templates reject (%v)", stdErr)
	}
	for _, p := range []struct{ name, fast, std string }{
		{"subject", f.Subject.String(), s.Subject.String()},
		{"HTML", f.HTML.String(), s.HTML.String()},
		{"text", f.Text.String(), s.Text.String()},
	} {
		if p.fast != p.std {
			i := 0
			for i < len(p.fast) && i < len(p.std) && p.fast[i] == p.std[i] {
				i++
			}
			lo := max(0, i-80)
			t.Errorf("%s differs at byte %d:\nfast: %q\n std: %q", p.name, i, p.fast[lo:min(len(p.fast), i+80)], p.std[lo:min(len(p.std), i+80)])
		}
	}
	return true
}

type stringer struct{ s string }

func (s stringer) String() string { return "S:" + s.s }

func diffRecipients() []*Data {
	name := `<b>"Kim" & 'Jo'</b> +1`
	return append(samples(), kim(), realisticRecipient(), nil, &Data{},
		&Data{Locale: "en", Name: name, Email: "a+b@x.example", Coupon: "  ", UnsubscribeURL: "javascript:alert(1)", PreferencesURL: "https://x.example/p?a=1&b=<2>#f"},
		&Data{Locale: "de-AT", Name: " Kim  Muster ", UnsubscribeURL: "https://x.example/u/%41%zz/ä ö", Cart: &Cart{Currency: "usd", Total: -1234567.891}},
		&Data{Locale: "EN_gb", Attributes: map[string]any{
			"city": nil, "vip": false, "points": 0, "n": 3, "f": 2.5, "i64": int64(7), "f32": float32(1.5),
			"list": []any{"a", 1, nil, map[string]any{"x": "y"}}, "nested": map[string]any{"city": "Bonn", "zip": "53111"},
			"html": htmltemplate.HTML("<i>x</i>"), "url": htmltemplate.URL("javascript:ok()"), "str": stringer{"x"}, "ptr": &name,
			"strs": []string{"p", "q"}, "empty": "", "space": " ", "bad": "\x00\xff\ufdd0 x",
		}},
		&Data{Cart: &Cart{URL: "https://shop.example/c?x=1", Items: []Item{{Name: "<Tee>", URL: "https://s.example/a b", Price: 1e21, Quantity: 3}, {}}}},
		&Data{Data: map[string]any{"order_id": "A-17 <x>", "items": []any{map[string]any{"name": "Tee"}, "y"}}},
	)
}

var diffSources = []Source{
	campaignSource(),
	realisticSource(),
	{Subject: "s", Markdown: "Hallo {{ .Name }}, [Link]({{ .Attr \"url\" }}) <a href=\"{{ .Attr \"url\" }}\" title=\"{{ .Name }}\">x</a>"},
	{Subject: "{{ .Attr \"n\" }} {{ .Attr \"f\" }} {{ .Attr \"i64\" }} {{ .Attr \"list\" }}", Markdown: "{{ .Attr \"html\" }} {{ .Attr \"url\" }} {{ .Attr \"str\" }} {{ .Attr \"ptr\" }} {{ .Attr \"bad\" }} {{ .Attr \"f32\" }} {{ .Attr \"nested\" }}\n\n<a href=\"{{ .Attr \"url\" }}\" title=\"{{ .Attr \"html\" }}\">u</a> <a href=\"/x?q={{ .Attr \"bad\" }}&r={{ .Name }}\">q</a>"},
	{Subject: "s", Markdown: "{{ with .Attributes.nested }}{{ .city }} {{ .zip }} {{ .missing }}{{ else }}none{{ end }} {{ with .Cart }}{{ .URL }}{{ end }} {{ with .Shop }}{{ .Name }}{{ end }}"},
	{Subject: "s", Markdown: "{{ range .Attributes.list }}[{{ . }}]{{ else }}empty{{ end }} {{ range .Attributes.nested }}<{{ . }}>{{ end }} {{ range .Attributes.strs }}{{ . }}{{ end }} {{ range .Cart.Items }}{{ .Name }}{{ else }}no items{{ end }}"},
	{Subject: "s", Markdown: "{{ if and .Coupon .Name }}A{{ end }}{{ if or .Coupon .Name }}B{{ end }}{{ if not .Coupon }}C{{ end }} {{ and .Name .Email }} {{ or .Coupon \"none\" }} {{ .Name | or .Coupon }}"},
	{Subject: "s", Markdown: "{{ if eq .Locale \"de\" \"en\" }}L{{ end }}{{ if ne .Name \"\" }}N{{ end }}{{ if lt (len .Name) 5 }}short{{ else if gt (len .Name) 9 }}long{{ else }}mid{{ end }} {{ len .Cart.Items }} {{ range .Cart.Items }}{{ if eq .Quantity 2 }}two{{ end }}{{ if ge .Price 100.0 }}dear{{ end }}{{ if eq .Name \"Tee\" }}tee{{ end }}{{ end }}"},
	{Subject: "s", Markdown: "{{ printf \"%s & %d\" .Name 3 }} {{ print .Name 1 2 }} {{ println .Email }} {{ index .Attributes \"city\" }} {{ upper .Name }} {{ .Name | lower }} {{ .Email | urlquery }} {{ js .Name }}"},
	{Subject: "s", Markdown: "{{ html .Name }} {{ .Name | html }}"},
	{Subject: "s", Markdown: "{{ .Attributes.city | default \"Berlin\" }} {{ .Attributes.empty | default \"e\" }} {{ .Attributes.space | default \"sp\" }} {{ .Attributes.vip | default \"v\" }} {{ .Attributes.points | default 9 }} {{ default \"x\" .Coupon }}"},
	{Subject: "s", Markdown: "Total {{ .Money .Cart.Total }} {{ $.Money 3 }} {{ .Money \"12.5\" }} {{ .Money .Attributes.f }} {{ .Money nil }} {{ .Cart.Total }} {{ .Data.order_id }} {{ .Data.missing }} {{ range .Data.items }}{{ .name }}{{ end }} {{ .Subject }} {{ .L.Lang }}"},
	{Subject: "{{ .Name }}\t{{ .Email }}", Preheader: "{{ .Coupon }} {{ .L.Reason }}", Markdown: "# {{ .FirstName }}\n\n## {{ .Name }}\n\n| a | {{ .Name }} |\n|---|---|\n| {{ .Email }} | x |\n"},
	{Subject: "s", Markdown: "<div style=\"text-align:center\">{{ .Name }}</div>\n\n![{{ .Name }}]({{ .Attr \"url\" }} \"{{ .Email }}\")\n\n```\n{{ .Name }}\n```\n"},
	{Subject: "s", Markdown: "x", Layout: `<html><head><title>{{ .Subject }}</title><style>.c p { color: #123456; }</style></head><body class="{{ .L.Lang }}"><div class="c" data-x={{ .Name }}>{{ content }}</div><img src="{{ .Shop.LogoURL }}" alt={{ .Shop.Name }}><p>{{ .Shop.Name }} · <a href="{{ .UnsubscribeURL }}?r={{ .Email }}">{{ .L.Unsubscribe }}</a>{{ range $i, $l := .Shop.Impressum }}{{ $l }}{{ end }}</p></body></html>`},
	{Subject: "s", Markdown: "x", Layout: `<html><body>{{ content }}<p title="{{ outlookEnd }}">{{ range .Shop.Impressum }}{{ . }}|{{ else }}none{{ end }}</p><a href="{{ .Shop.LogoURL }}">{{ if .Shop.LogoURL }}logo{{ else }}{{ .Shop.Name | upper }}{{ end }}</a></body></html>`},
}

func TestFastMatchesStandard(t *testing.T) {
	for _, f := range []Footer{footer, {}, {ShopName: "<Shop> & \"Co\"", Impressum: "a\n\nb < c", LogoURL: "https://shop.example/logo.png?x=1&y=2"}} {
		for i, src := range diffSources {
			src.Footer = f
			tpl, err := Compile(src)
			if err != nil {
				t.Fatalf("source %d: %v", i, err)
			}
			used := 0
			for _, d := range diffRecipients() {
				if sameAsStd(t, tpl, d) {
					used++
				}
			}
			if used == 0 && !strings.Contains(src.Layout, "$i") && !strings.Contains(src.Markdown, "html .Name") && !strings.Contains(src.Layout, "outlookEnd }}\">") {
				t.Errorf("source %d: the fast executor never ran (compiled: %v)", i, tpl.fast != nil)
			}
		}
	}
}

func TestFastUsedForSystemMailsAndCampaigns(t *testing.T) {
	for _, src := range []Source{campaignSource(), realisticSource()} {
		tpl := mustCompile(t, src)
		if tpl.fast == nil {
			t.Fatal("not compiled for the fast executor")
		}
		var b Buffers
		if err := tpl.renderFast(&b, kim()); err != nil {
			t.Fatalf("fast executor declined: %v", err)
		}
	}
	for _, kind := range []string{"confirm", "welcome"} {
		for _, l := range []string{"de", "en"} {
			src, err := systemSource(kind, l)
			if err != nil {
				t.Fatal(err)
			}
			src.Footer = footer
			tpl := mustCompile(t, src)
			if !sameAsStd(t, tpl, &Data{Name: "Kim", Locale: l, ConfirmURL: "https://t.example/c", UnsubscribeURL: "https://t.example/u"}) {
				t.Errorf("%s.%s: fast executor not used", kind, l)
			}
		}
	}
}

func TestRenderToFallsBack(t *testing.T) {
	// A pointer value makes the fast executor hand over to html/template.
	name := "Kim"
	tpl := mustCompile(t, Source{Subject: "s", Markdown: "Hallo {{ .Attr \"p\" }}", Footer: footer})
	d := &Data{Attributes: map[string]any{"p": &name}}
	var b Buffers
	if err := tpl.renderFast(&b, d); !errors.Is(err, errFallback) {
		t.Fatalf("renderFast = %v, want errFallback", err)
	}
	r := mustRender(t, tpl, d)
	if !strings.Contains(r.HTML, "Hallo Kim") {
		t.Errorf("HTML: %s", r.HTML)
	}
}

func TestRenderConcurrently(t *testing.T) {
	tpl := mustCompile(t, realisticSource())
	want := mustRender(t, tpl, realisticRecipient())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var b Buffers
			for i := range 50 {
				d := realisticRecipient()
				if i%2 == 1 {
					d = &Data{Locale: "en", Name: "Jo"}
				}
				if err := tpl.RenderTo(&b, d); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 && b.HTML.String() != want.HTML {
					t.Error("concurrent render differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

// finishTextOrig and formatMoneyOrig are the implementations before they
// were tuned; the tuned ones must produce the same bytes.
func finishTextOrig(b *bytes.Buffer) {
	var scratch bytes.Buffer
	src := b.Bytes()
	var prev []byte
	blank := true
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		var line []byte
		if i < 0 {
			line, src = src, nil
		} else {
			line, src = src[:i], src[i+1:]
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 2 && line[0] == 0 {
			w := utf8.RuneCount(prev)
			if w == 0 {
				continue
			}
			for range w {
				scratch.WriteByte(line[1])
			}
			scratch.WriteByte('\n')
			continue
		}
		if len(line) == 0 {
			if !blank {
				scratch.WriteByte('\n')
			}
			blank = true
			prev = nil
			continue
		}
		if string(line) == "--" {
			line = append(line[:len(line):len(line)], ' ')
		}
		scratch.Write(line)
		scratch.WriteByte('\n')
		blank = false
		prev = line
	}
	b.Reset()
	b.Write(scratch.Bytes())
}

func formatMoneyOrig(lang, currency string, amount float64) string {
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return ""
	}
	currency = strings.ToUpper(currency)
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	neg := amount < 0
	cents := int64(math.Round(math.Abs(amount) * 100))
	whole := strconv.FormatInt(cents/100, 10)
	frac := fmt.Sprintf("%02d", cents%100)
	thousands, decimal := ",", "."
	if lang == "de" {
		thousands, decimal = ".", ","
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if lang != "de" {
		b.WriteString(sym)
		if len(sym) > 1 && !strings.ContainsAny(sym, "€$£") {
			b.WriteByte(' ')
		}
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(r)
	}
	b.WriteString(decimal)
	b.WriteString(frac)
	if lang == "de" {
		b.WriteString("\u00a0")
		b.WriteString(sym)
	}
	return b.String()
}

func TestTunedHelpersMatchOriginals(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", " ", "\t", "\r", "\n", "\n\n", "--", "-- ", "\x00=", "\x00-", "\x00*", "Überschrift", "a", "ab c", "x\x00", strings.Repeat("é", 70), strings.Repeat("w", 130)}
	for range 20000 {
		var in strings.Builder
		for range rnd.IntN(12) {
			in.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		var got, want, scratch bytes.Buffer
		got.WriteString(in.String())
		want.WriteString(in.String())
		finishText(&got, &scratch)
		finishTextOrig(&want)
		if got.String() != want.String() {
			t.Fatalf("finishText(%q) = %q, want %q", in.String(), got.String(), want.String())
		}
	}
	amounts := []float64{0, 0.004, 0.005, 0.5, 1, 12.9, 999.995, 1000, 1234.5, -3, -0.001, 1e6, 123456789.01, 1e15, 1e19, 1e300, -1e300, math.NaN(), math.Inf(1), math.MaxFloat64}
	for range 2000 {
		amounts = append(amounts, rnd.NormFloat64()*math.Pow(10, float64(rnd.IntN(12))))
	}
	for _, a := range amounts {
		for _, l := range []string{"de", "en"} {
			for _, c := range []string{"", "EUR", "usd", "GBP", "CHF", "SEK", "xy"} {
				if got, want := formatMoney(l, c, a), formatMoneyOrig(l, c, a); got != want {
					t.Fatalf("formatMoney(%q, %q, %v) = %q, want %q", l, c, a, got, want)
				}
			}
		}
	}
}
