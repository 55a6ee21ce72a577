package templates

import (
	"bytes"
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"regexp"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/vanng822/go-premailer/premailer"

	"github.com/treu-mail/treu/internal/errs"
)

// Source is everything a mail is compiled from.
type Source struct {
	Subject   string
	Preheader string // the preview line mail clients show after the subject
	Markdown  string
	Layout    string // an HTML layout with one {{ content }}; "" means DefaultLayout
	Footer    Footer
	Locale    string // "de" or "en": the footer language for recipients without a known locale
}

// Footer is the sender as every mail must name it.
type Footer struct {
	ShopName  string
	Impressum string // multi-line: postal address, register, VAT id ...
	LogoURL   string // optional; shown instead of the name in the header
}

// Rendered is one recipient's mail.
type Rendered struct {
	Subject, HTML, Text string
}

// Template is a compiled mail. It is immutable and safe for concurrent use;
// Render only executes, all parsing and CSS inlining happened in Compile.
type Template struct {
	subject   *texttemplate.Template
	preheader *texttemplate.Template
	html      *htmltemplate.Template
	text      *texttemplate.Template
	shop      *Shop
	strings   map[string]*Strings
	lang      string        // fallback language
	fast      *[2]fastParts // de, en; nil: use the templates above (exec.go)

	usesCoupon  bool // see UsesCoupon
	usesLoyalty bool // see UsesLoyalty
}

//go:embed layout.html
var defaultLayout string

// DefaultLayout returns the built-in layout, a starting point for a shop's own.
func DefaultLayout() string { return defaultLayout }

// The plain-text part has a fixed frame; a layout is HTML only.
const textFooter = `

-- 
{{ .Shop.Name }}{{ range .Shop.Impressum }}
{{ . }}{{ end }}
{{ if .UnsubscribeURL }}
{{ if .ExistingCustomer }}{{ .L.Customer }}{{ else }}{{ .L.Reason }}{{ end }}
{{ if .PreferencesURL }}{{ .L.Preferences }}: {{ .PreferencesURL }}
{{ end }}{{ .L.Unsubscribe }}: {{ .UnsubscribeURL }}
{{ end }}`

var conv = newConverter()

// Compile parses and checks a mail once, so that sending only executes it.
// A mistake in a template is an errs.Invalid naming the field ("subject",
// "preheader", "markdown", "layout") and the line. Unknown fields are found
// by executing the templates against sample recipients.
func Compile(src Source) (*Template, error) {
	t := &Template{
		shop: &Shop{Name: strings.TrimSpace(src.Footer.ShopName), LogoURL: strings.TrimSpace(src.Footer.LogoURL)},
		strings: map[string]*Strings{
			"de": footerStrings("de", strings.TrimSpace(src.Footer.ShopName)),
			"en": footerStrings("en", strings.TrimSpace(src.Footer.ShopName)),
		},
		lang: lang(src.Locale),
	}
	if t.lang == "" {
		t.lang = "de"
	}
	for _, l := range strings.Split(strings.ReplaceAll(src.Footer.Impressum, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			t.shop.Impressum = append(t.shop.Impressum, l)
		}
	}
	layout := src.Layout
	if strings.TrimSpace(layout) == "" {
		layout = defaultLayout
	}

	var err error
	if t.subject, err = t.parseText("subject", src.Subject); err != nil {
		return nil, err
	}
	if strings.ContainsAny(src.Subject, "\r\n") {
		return nil, errs.Invalidf("subject", "line 1: a subject is one line")
	}
	if t.preheader, err = t.parseText("preheader", src.Preheader); err != nil {
		return nil, err
	}
	// Parsing the Markdown as a template before it is converted finds
	// syntax errors and unknown fields at the lines the marketer wrote.
	if _, err = t.parseText("markdown", src.Markdown); err != nil {
		return nil, err
	}
	if layout, err = placeFooter(layout); err != nil {
		return nil, err
	}
	if err := ValidateLayout(layout); err != nil {
		return nil, err
	}

	acts := newActions(src.Markdown, layout, footerHTML)
	md, err := acts.protect(src.Markdown, "markdown")
	if err != nil {
		return nil, err
	}
	body, plain, err := conv.convert([]byte(separateControl(md, acts)), acts)
	if err != nil {
		return nil, fmt.Errorf("templates: markdown: %w", err)
	}

	lay, err := acts.protect(layout, "layout")
	if err != nil {
		return nil, err
	}
	if lay, err = spliceFooter(lay, acts); err != nil {
		return nil, err
	}
	doc, err := splice(lay, body, acts)
	if err != nil {
		return nil, err
	}
	// Inline the CSS once here, never per recipient: many mail clients
	// (Gmail on some apps, Outlook) ignore <style>. Rules that cannot be
	// inlined (media queries) stay in <head>.
	pm, err := premailer.NewPremailerFromString(doc, premailer.NewOptions())
	if err != nil {
		return nil, errs.Invalidf("layout", "line 1: %v", err)
	}
	if doc, err = pm.Transform(); err != nil {
		return nil, errs.Invalidf("layout", "line 1: %v", err)
	}
	doc = acts.restore(doc, "&#123;")
	t.html, err = htmltemplate.New("html").Funcs(htmlFuncs()).Parse(doc)
	if err != nil {
		return nil, lateError(acts, doc, err)
	}

	txt := acts.restore(plain, `{{"{"}}`) + textFooter
	if t.text, err = t.parseText("text", txt); err != nil {
		return nil, lateError(acts, txt, err)
	}

	// Executing once per sample also lets html/template escape the whole
	// document now, where its context errors can still be reported.
	var buf Buffers
	for _, d := range samples() {
		if err := t.RenderTo(&buf, d); err != nil {
			return nil, lateError(acts, doc, err)
		}
	}
	if err := t.checkFooter(); err != nil {
		return nil, err
	}
	t.usesCoupon = usesField("Coupon", t.subject.Tree, t.preheader.Tree, t.text.Tree, t.html.Tree)
	t.usesLoyalty = usesField("Points", t.subject.Tree, t.preheader.Tree, t.text.Tree, t.html.Tree) ||
		usesField("ReferralURL", t.subject.Tree, t.preheader.Tree, t.text.Tree, t.html.Tree)
	t.fast = t.compileFast()
	if t.fast != nil && !t.fastAgrees() {
		t.fast = nil
	}
	return t, nil
}

// fastAgrees renders the samples with both executors; they must agree.
func (t *Template) fastAgrees() bool {
	var fast, std Buffers
	for _, d := range samples() {
		if err := t.renderStd(&std, d); err != nil {
			return false
		}
		if err := t.renderFast(&fast, d); err != nil {
			continue // that recipient would use the standard templates
		}
		if fast.Subject.String() != std.Subject.String() || fast.HTML.String() != std.HTML.String() || fast.Text.String() != std.Text.String() {
			return false
		}
	}
	return true
}

// parseText parses a text/template and trial-executes it against the samples.
// Every output action gets a final nonil so a missing value prints "".
func (t *Template) parseText(field, src string) (*texttemplate.Template, error) {
	tt, err := texttemplate.New(field).Funcs(funcs()).Parse(src)
	if err != nil {
		return nil, templateError(field, err)
	}
	if tt.Tree == nil {
		tt, _ = texttemplate.New(field).Parse("")
	}
	nonil(tt.Tree.Root)
	for _, d := range samples() {
		v := t.view(d)
		if err := tt.Execute(io.Discard, v); err != nil {
			return nil, templateError(field, err)
		}
	}
	return tt, nil
}

// nonil appends the nonil function to every action that prints.
func nonil(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			nonil(c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 {
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
				NodeType: parse.NodeCommand, Pos: n.Pos,
				Args: []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: n.Pos, Ident: nonilFunc}},
			})
		}
	case *parse.IfNode:
		nonil(n.List)
		nonil(n.ElseList)
	case *parse.RangeNode:
		nonil(n.List)
		nonil(n.ElseList)
	case *parse.WithNode:
		nonil(n.List)
		nonil(n.ElseList)
	}
}

var contentRE = regexp.MustCompile(`^\{\{-?\s*content\s*-?\}\}$`)

// ValidateLayout checks a layout before it is stored: it must parse as an
// html/template with exactly one {{ content }}, at most one {{ footer }}
// outside conditions, use only known fields, and hold nothing a mail must
// not (scripts, event handlers, javascript: URLs; layoutcheck.go).
func ValidateLayout(layout string) error {
	if err := checkLayoutHTML(layout); err != nil {
		return err
	}
	if _, err := placeFooter(layout); err != nil {
		return err
	}
	n := 0
	for _, sp := range scanActions(layout) {
		if contentRE.MatchString(layout[sp[0]:sp[1]]) {
			n++
		}
	}
	if n != 1 {
		return errs.Invalidf("layout", "line 1: a layout needs exactly one {{ content }}, found %d", n)
	}
	ht, err := htmltemplate.New("layout").Funcs(htmlFuncs()).Parse(layout)
	if err != nil {
		return templateError("layout", err)
	}
	t := &Template{shop: &Shop{Name: "Shop"}, strings: map[string]*Strings{
		"de": footerStrings("de", "Shop"), "en": footerStrings("en", "Shop")}, lang: "de"}
	for _, d := range samples() {
		if err := ht.Execute(io.Discard, t.view(d)); err != nil {
			return templateError("layout", err)
		}
	}
	return nil
}

// splice puts the converted Markdown where the layout's {{ content }} token is.
func splice(layout, body string, acts *actions) (string, error) {
	for i, a := range acts.list {
		if a.field == "layout" && contentRE.MatchString(a.text) {
			tok := acts.token(i)
			return strings.Replace(layout, tok, body, 1), nil
		}
	}
	return "", errs.Invalidf("layout", "line 1: a layout needs exactly one {{ content }}")
}

// lateError reports an error found after conversion (an html/template
// context error, say) at the source line of the action it names.
func lateError(acts *actions, restored string, err error) error {
	line, msg := splitTemplateError(err)
	if a, ok := acts.at(restored, line); ok {
		return invalid(a.field, a.line, msg)
	}
	return errs.Invalidf("markdown", "%s", msg)
}

func invalid(field string, line int, msg string) error {
	return errs.Invalidf(field, "line %d: %s", line, msg)
}

func htmlFuncs() htmltemplate.FuncMap {
	f := htmltemplate.FuncMap(funcs())
	// Outlook on Windows ignores max-width; the usual fix is a fixed-width
	// table only it sees, inside conditional comments. html/template strips
	// comments from the template text, so they come from these functions.
	f["outlookBegin"] = outlookBegin
	f["outlookEnd"] = outlookEnd
	return f
}

func outlookBegin(width int) htmltemplate.HTML {
	return htmltemplate.HTML(fmt.Sprintf(`<!--[if mso]><table role="presentation" width="%d" align="center" cellpadding="0" cellspacing="0" border="0"><tr><td><![endif]-->`, width))
}

func outlookEnd() htmltemplate.HTML {
	return `<!--[if mso]></td></tr></table><![endif]-->`
}

func (t *Template) view(d *Data) *view {
	if d == nil {
		d = &Data{}
	}
	v := &view{recipientData: d, Cart: d.Cart, Shop: t.shop, L: t.strings[t.lang]}
	if v.Cart == nil {
		v.Cart = &Cart{}
	}
	if l := lang(d.Locale); l != "" {
		v.L = t.strings[l]
	}
	return v
}

// Buffers are reusable output buffers for RenderTo, one set per send worker.
type Buffers struct {
	Subject, HTML, Text bytes.Buffer
	scratch             bytes.Buffer
	view                view  // the recipient's view, reused
	state               state // the fast executor's, reused
}

// Render executes the mail for one recipient.
func (t *Template) Render(d *Data) (Rendered, error) {
	b := bufferPool.Get().(*Buffers)
	defer func() {
		b.view, b.state.root = view{}, nil // keep no recipient in the pool
		bufferPool.Put(b)
	}()
	if err := t.RenderTo(b, d); err != nil {
		return Rendered{}, err
	}
	return Rendered{Subject: b.Subject.String(), HTML: b.HTML.String(), Text: b.Text.String()}, nil
}

// bufferPool keeps Render from growing fresh buffers for every recipient.
var bufferPool = sync.Pool{New: func() any { return new(Buffers) }}

// RenderTo executes the mail for one recipient into b, reusing its memory;
// the send engine keeps one Buffers per worker.
func (t *Template) RenderTo(b *Buffers, d *Data) error {
	if t.fast != nil && t.renderFast(b, d) == nil {
		return nil
	}
	// Not compiled for the fast executor, or this recipient's data took it
	// somewhere it does not go: the standard templates decide (and report
	// any error).
	return t.renderStd(b, d)
}

// renderStd executes the mail with text/template and html/template.
func (t *Template) renderStd(b *Buffers, d *Data) error {
	b.Subject.Reset()
	b.HTML.Reset()
	b.Text.Reset()
	v := t.view(d)
	if err := t.subject.Execute(&b.Subject, v); err != nil {
		return fmt.Errorf("templates: subject: %w", err)
	}
	// A value with a line break must not end up as a second header line.
	oneLine(&b.Subject)
	v.Subject = b.Subject.String()
	b.scratch.Reset()
	if err := t.preheader.Execute(&b.scratch, v); err != nil {
		return fmt.Errorf("templates: preheader: %w", err)
	}
	v.Preheader = strings.TrimSpace(b.scratch.String())
	if t.html != nil {
		if err := t.html.Execute(&b.HTML, v); err != nil {
			return fmt.Errorf("templates: html: %w", err)
		}
	}
	if t.text != nil {
		if err := t.text.Execute(&b.Text, v); err != nil {
			return fmt.Errorf("templates: text: %w", err)
		}
		finishText(&b.Text, &b.scratch)
	}
	return nil
}

func oneLine(b *bytes.Buffer) {
	s := b.Bytes()
	for i, c := range s {
		if c == '\r' || c == '\n' || c == '\t' {
			s[i] = ' '
		}
	}
	trimmed := bytes.TrimSpace(s)
	if len(trimmed) != len(s) {
		tmp := append([]byte(nil), trimmed...)
		b.Reset()
		b.Write(tmp)
	}
}

// finishText tidies the executed plain text: it underlines headings now that
// their width is known, collapses the blank lines that false {{ if }}s leave,
// and strips trailing spaces.
func finishText(b, scratch *bytes.Buffer) {
	scratch.Reset()
	all := b.Bytes()
	scratch.Grow(len(all))
	var prev []byte
	blank := true // suppress leading blank lines
	// Lines that stay as they are are copied in runs: all[run:pos].
	run, pos := 0, 0
	for pos < len(all) {
		src := all[pos:]
		i := bytes.IndexByte(src, '\n')
		var line []byte
		next := len(all)
		if i < 0 {
			line = src
		} else {
			line, next = src[:i], pos+i+1
		}
		n := len(line)
		for n > 0 && (line[n-1] == ' ' || line[n-1] == '\t' || line[n-1] == '\r') {
			n--
		}
		if n == len(line) && n > 0 && i >= 0 && line[0] != 0 && string(line) != "--" {
			// An ordinary line: it stays.
			blank = false
			prev = line
			pos = next
			continue
		}
		scratch.Write(all[run:pos])
		pos, run = next, next
		line = line[:n]
		if n == 2 && line[0] == 0 {
			w := utf8.RuneCount(prev)
			if w == 0 {
				continue
			}
			if line[1] == '=' || line[1] == '-' {
				rule := equalsRule
				if line[1] == '-' {
					rule = dashRule
				}
				for ; w > len(rule); w -= len(rule) {
					scratch.WriteString(rule)
				}
				scratch.WriteString(rule[:w])
			} else {
				for range w {
					scratch.WriteByte(line[1])
				}
			}
			scratch.WriteByte('\n')
			continue
		}
		if n == 0 {
			if !blank {
				scratch.WriteByte('\n')
			}
			blank = true
			prev = nil
			continue
		}
		// "-- " is the signature separator; its trailing space matters.
		if string(line) == "--" {
			line = sigSeparator
		}
		scratch.Write(line)
		scratch.WriteByte('\n')
		blank = false
		prev = line
	}
	scratch.Write(all[run:pos])
	b.Reset()
	b.Write(scratch.Bytes())
}

var (
	sigSeparator = []byte("-- ")
	equalsRule   = strings.Repeat("=", 64)
	dashRule     = strings.Repeat("-", 64)
)
