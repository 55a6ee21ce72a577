package templates

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// converter turns a mail's Markdown (with actions already replaced by tokens)
// into sanitised HTML and into plain text. It is immutable after
// newConverter and safe for concurrent use.
type converter struct {
	md       goldmark.Markdown
	policy   *bluemonday.Policy
	stripAll *bluemonday.Policy
}

func newConverter() *converter {
	return &converter{
		md: goldmark.New(
			goldmark.WithExtensions(extension.GFM),
			// Raw HTML is rendered and then the whole output goes through
			// bluemonday: that keeps harmless HTML (a centred <div>, a
			// button link) and removes scripts and handlers in one place.
			goldmark.WithRendererOptions(html.WithUnsafe()),
		),
		policy:   mailPolicy(),
		stripAll: bluemonday.StrictPolicy(),
	}
}

// mailPolicy allows what Markdown produces plus the few HTML extras a mail
// needs; no scripts, handlers, forms, iframes, styles or javascript: URLs.
func mailPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	// Relative URLs must pass: a token standing for {{ .Cart.URL }} looks like
	// one. html/template filters unsafe schemes in the value at send time.
	p.AllowStandardURLs()
	p.RequireNoFollowOnLinks(false)
	p.AllowURLSchemes("mailto", "http", "https", "tel")
	p.AllowElements("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
		"strong", "b", "em", "i", "u", "del", "s", "code", "pre", "blockquote",
		"ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
		"span", "div", "center", "sup", "sub", "small")
	p.AllowAttrs("href", "title").OnElements("a")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^button$`)).OnElements("a")
	p.AllowAttrs("src", "alt", "title").OnElements("img")
	p.AllowAttrs("width", "height").Matching(bluemonday.NumberOrPercent).OnElements("img")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`^(left|right|center)$`)).OnElements("p", "div", "td", "th", "img")
	p.AllowStyles("text-align").MatchingEnum("left", "right", "center").OnElements("th", "td", "p", "div")
	return p
}

// convert parses src once and returns its sanitised HTML and its plain text.
// Both still contain the action tokens of acts.
func (c *converter) convert(src []byte, acts *actions) (htmlOut, textOut string, err error) {
	doc := c.md.Parser().Parse(text.NewReader(src))
	var buf bytes.Buffer
	if err := c.md.Renderer().Render(&buf, src, doc); err != nil {
		return "", "", err
	}
	safe := c.policy.SanitizeBytes(buf.Bytes())
	htmlOut = unwrapControl(string(safe), acts)

	w := textWriter{src: src, c: c, acts: acts}
	textOut = w.blocks(doc, "\n\n")
	return htmlOut, textOut, nil
}

// unwrapControl lifts control actions that stand alone in a paragraph or a
// table row out of that element, so "{{ range .Cart.Items }}" on a line of
// its own repeats table rows or list items instead of leaving empty <p>s and
// broken markup. Lifted tokens are wrapped in HTML comments: the HTML parser
// of the CSS inliner would otherwise move text it finds between table rows
// out of the table. restore unwraps them again.
func unwrapControl(s string, acts *actions) string {
	if len(acts.list) == 0 {
		return s
	}
	tok := regexp.MustCompile(acts.prefix + `(\d+)X`)
	lift := func(re *regexp.Regexp) {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			toks := tok.FindAllStringSubmatch(m, -1)
			var b strings.Builder
			for _, t := range toks {
				i, _ := strconv.Atoi(t[1])
				if i >= len(acts.list) || !acts.list[i].control {
					return m
				}
				b.WriteString("<!--" + t[0] + "-->")
			}
			return b.String() + "\n"
		})
	}
	toks := `((?:\s*` + acts.prefix + `\d+X)+)\s*`
	lift(regexp.MustCompile(`<p>` + toks + `</p>\n?`))
	lift(regexp.MustCompile(`<tr>\s*<td[^>]*>` + toks + `</td>\s*(?:<td[^>]*>\s*</td>\s*)*</tr>\n?`))

	// A one-item list between lifted actions is what
	//   {{ range .Cart.Items }}
	//   - {{ .Name }}
	//   {{ end }}
	// becomes; move the actions inside the list so the items form one list.
	run := `((?:<!--` + acts.prefix + `\d+X-->)+)\n`
	list := regexp.MustCompile(run + `<(ul|ol)>\n(<li>(?s:.*?)</li>)\n</(?:ul|ol)>\n` + run)
	s = list.ReplaceAllStringFunc(s, func(m string) string {
		p := list.FindStringSubmatch(m)
		if strings.Contains(p[3][4:], "<li>") {
			return m
		}
		return "<" + p[2] + ">\n" + p[1] + p[3] + "\n" + p[4] + "</" + p[2] + ">\n"
	})
	return s
}

// isControl reports whether s consists of control tokens only.
func (a *actions) isControl(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for s != "" {
		if !strings.HasPrefix(s, a.prefix) {
			return false
		}
		n := len(a.prefix)
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		i, err := strconv.Atoi(s[len(a.prefix):n])
		if err != nil || n >= len(s) || s[n] != 'X' || i >= len(a.list) || !a.list[i].control {
			return false
		}
		s = strings.TrimLeft(s[n+1:], " \t\r\n")
	}
	return true
}

// separateControl gives a line holding only control actions blank lines
// around it, so that Markdown does not read it as the lazy continuation of a
// list item or paragraph. Next to a table row it stays put: there it is a
// row of its own, which unwrapControl lifts out.
func separateControl(md string, acts *actions) string {
	lines := strings.Split(md, "\n")
	tableRow := func(i int) bool { return i >= 0 && i < len(lines) && strings.Contains(lines[i], "|") }
	out := make([]string, 0, len(lines)+8)
	for i, l := range lines {
		if !acts.isControl(l) || tableRow(i-1) || tableRow(i+1) {
			out = append(out, l)
			continue
		}
		out = append(out, "", strings.TrimSpace(l), "")
	}
	return strings.Join(out, "\n")
}

// Markers the text writer leaves for Render's final pass, which knows the
// rendered width of a heading and can underline it exactly.
const (
	underline1 = "\x00="
	underline2 = "\x00-"
)

// textWriter renders a Markdown AST as readable plain text: links as
// "text (url)", list items with "- ", headings underlined, tables as rows of
// cells separated by " | ".
type textWriter struct {
	href string // target of the raw <a> being written
	src  []byte
	c    *converter
	acts *actions
}

// blocks joins the blocks below n with sep. A block of control actions only
// is glued to the start of the next block, so a {{ range }} repeats that
// block with its separator and an {{ if }} that is false leaves no gap.
func (w *textWriter) blocks(n ast.Node, sep string) string {
	var b strings.Builder
	glue := false
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		s := w.block(c)
		if s == "" {
			continue
		}
		if b.Len() > 0 && !glue {
			b.WriteString(sep)
		}
		b.WriteString(s)
		glue = w.acts.isControl(s)
	}
	return b.String()
}

func (w *textWriter) block(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return strings.TrimSpace(w.inlines(n))
	case *ast.Heading:
		s := strings.TrimSpace(w.inlines(n))
		if n.Level == 1 {
			return s + "\n" + underline1
		}
		return s + "\n" + underline2
	case *ast.ThematicBreak:
		return strings.Repeat("-", 20)
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		return indent(strings.TrimRight(string(n.Lines().Value(w.src)), "\n"), "    ", "    ")
	case *ast.Blockquote:
		return indent(w.blocks(n, "\n\n"), "> ", "> ")
	case *ast.List:
		sep := "\n"
		if !n.IsTight {
			sep = "\n\n"
		}
		var items []string
		num := n.Start
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			marker := "- "
			if n.IsOrdered() {
				marker = strconv.Itoa(num) + ". "
				num++
			}
			body := w.blocks(c, "\n\n")
			items = append(items, indent(body, marker, strings.Repeat(" ", len(marker))))
		}
		return strings.Join(items, sep)
	case *ast.HTMLBlock:
		raw := n.Lines().Value(w.src)
		if n.HasClosure() {
			raw = append(raw, n.ClosureLine.Value(w.src)...)
		}
		return strings.TrimSpace(unescape(w.c.stripAll.SanitizeBytes(raw)))
	case *east.Table:
		var rows []string
		glue := ""
		for r := n.FirstChild(); r != nil; r = r.NextSibling() {
			var cells []string
			for c := r.FirstChild(); c != nil; c = c.NextSibling() {
				cells = append(cells, strings.TrimSpace(w.inlines(c)))
			}
			if ctl := w.controlRow(cells); ctl != "" {
				// A row of control actions only: glue it to the next row.
				glue += ctl
				continue
			}
			row := strings.Join(cells, " | ")
			rows = append(rows, glue+row)
			glue = ""
			if _, ok := r.(*east.TableHeader); ok {
				rows = append(rows, strings.Repeat("-", max(3, utf8.RuneCountInString(row))))
			}
		}
		if glue != "" {
			rows = append(rows, glue)
		}
		return strings.Join(rows, "\n")
	default:
		if n.Type() == ast.TypeBlock && n.HasChildren() {
			return w.blocks(n, "\n\n")
		}
		return strings.TrimSpace(w.inlines(n))
	}
}

// controlRow returns the actions of a table row whose cells hold nothing
// but control actions, or "".
func (w *textWriter) controlRow(cells []string) string {
	var b strings.Builder
	for _, c := range cells {
		if c == "" {
			continue
		}
		if !w.acts.isControl(c) {
			return ""
		}
		b.WriteString(c)
	}
	return b.String()
}

func (w *textWriter) inlines(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		w.inline(&b, c)
	}
	return b.String()
}

func (w *textWriter) inline(b *strings.Builder, n ast.Node) {
	switch n := n.(type) {
	case *ast.Text:
		if n.IsRaw() {
			b.Write(n.Value(w.src))
		} else {
			b.WriteString(unescape(n.Value(w.src)))
		}
		if n.SoftLineBreak() || n.HardLineBreak() {
			b.WriteByte('\n')
		}
	case *ast.String:
		if n.IsCode() || n.IsRaw() {
			b.Write(n.Value)
		} else {
			b.WriteString(unescape(n.Value))
		}
	case *ast.CodeSpan:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if t, ok := c.(*ast.Text); ok {
				b.Write(t.Value(w.src))
			} else if s, ok := c.(*ast.String); ok {
				b.Write(s.Value)
			}
		}
	case *ast.Link:
		label := strings.TrimSpace(w.inlines(n))
		url := unescape(n.Destination)
		if label == "" || label == url {
			b.WriteString(url)
		} else {
			b.WriteString(label + " (" + url + ")")
		}
	case *ast.Image:
		b.WriteString(w.inlines(n))
	case *ast.AutoLink:
		if n.AutoLinkType == ast.AutoLinkEmail {
			b.Write(n.Label(w.src))
		} else {
			b.Write(n.URL(w.src))
		}
	case *ast.RawHTML:
		// Tags carry no text; the text between them is a sibling node.
		// Only a line break is worth keeping.
		// A raw link keeps its target: "Zum Warenkorb (https://...)".
		raw := string(n.Segments.Value(w.src))
		lower := strings.ToLower(raw)
		switch {
		case strings.HasPrefix(lower, "<br"):
			b.WriteByte('\n')
		case strings.HasPrefix(lower, "<a "):
			w.href = ""
			if m := hrefRE.FindStringSubmatch(raw); m != nil {
				w.href = unescape([]byte(m[1] + m[2]))
			}
		case strings.HasPrefix(lower, "</a") && w.href != "":
			b.WriteString(" (" + w.href + ")")
			w.href = ""
		}
	case *east.Strikethrough:
		// Keep the marks: "~~29,90~~ 19,90" without them would misstate a price.
		b.WriteString("~~" + w.inlines(n) + "~~")
	case *east.TaskCheckBox:
		if n.IsChecked {
			b.WriteString("[x] ")
		} else {
			b.WriteString("[ ] ")
		}
	default:
		b.WriteString(w.inlines(n))
	}
}

var hrefRE = regexp.MustCompile(`(?i)\shref\s*=\s*(?:"([^"]*)"|'([^']*)')`)

// unescape resolves backslash escapes and character references the way the
// HTML renderer does, without HTML-escaping the result.
func unescape(b []byte) string {
	b = util.UnescapePunctuations(b)
	b = util.ResolveNumericReferences(b)
	b = util.ResolveEntityNames(b)
	return string(b)
}

// indent prefixes the first line of s with first and the others with rest.
func indent(s, first, rest string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		p := rest
		if i == 0 {
			p = first
		}
		if l == "" && i > 0 {
			lines[i] = strings.TrimRight(p, " ")
			continue
		}
		lines[i] = p + l
	}
	return strings.Join(lines, "\n")
}
