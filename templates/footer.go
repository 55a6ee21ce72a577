package templates

import (
	"fmt"
	"regexp"
	"strings"
	"text/template/parse"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/treu-mail/treu/internal/errs"
)

// footerHTML is what {{ footer }} stands for in a layout: the sender with the
// Impressum inline, and the preference and unsubscribe links (§ 5 DDG, § 7
// UWG, RFC 8058). A layout may place it; where it does not, Compile puts it
// in anyway, so no layout can send a mail without it. The inline styles make
// it readable in a layout whose CSS knows nothing of .footer.
const footerHTML = `<table role="presentation" class="container" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;width:100%;max-width:600px;background-color:#ffffff">
<tr><td class="footer" style="padding:24px 32px;font-family:Helvetica, Arial, sans-serif;font-size:12px;line-height:1.5;color:#71717a">
<p style="margin:0 0 8px 0"><strong>{{ .Shop.Name }}</strong>{{ range .Shop.Impressum }}<br>{{ . }}{{ end }}</p>
{{ if .UnsubscribeURL }}<p style="margin:0 0 8px 0">{{ if .ExistingCustomer }}{{ .L.Customer }}{{ else }}{{ .L.Reason }}{{ end }}</p>
<p style="margin:0 0 8px 0">{{ if .PreferencesURL }}<a href="{{ .PreferencesURL }}" style="color:#71717a;text-decoration:underline">{{ .L.Preferences }}</a> · {{ end }}<a href="{{ .UnsubscribeURL }}" style="color:#71717a;text-decoration:underline">{{ .L.Unsubscribe }}</a></p>{{ end }}
</td></tr>
</table>`

var footerRE = regexp.MustCompile(`^\{\{-?\s*footer\s*-?\}\}$`)

// placeFooter returns layout with exactly one {{ footer }} outside any
// {{ if }}, {{ range }} or {{ with }}: the one the layout has, or one put in
// before the last </body> (or at the end) where it has none. A footer placed
// inside a condition could be skipped for some recipients, so it is refused.
func placeFooter(layout string) (string, error) {
	tree, err := parse.New("layout").Parse(layout, "", "", map[string]*parse.Tree{}, map[string]any(htmlFuncs()))
	if err != nil {
		return "", templateError("layout", err)
	}
	var (
		top, nested int
		nestedPos   parse.Pos
	)
	var walk func(n parse.Node, depth int)
	walk = func(n parse.Node, depth int) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c, depth)
			}
		case *parse.ActionNode:
			if isFooterAction(n) {
				if depth == 0 {
					top++
				} else {
					nested++
					nestedPos = n.Pos
				}
			}
		case *parse.IfNode:
			walk(n.List, depth+1)
			walk(n.ElseList, depth+1)
		case *parse.RangeNode:
			walk(n.List, depth+1)
			walk(n.ElseList, depth+1)
		case *parse.WithNode:
			walk(n.List, depth+1)
			walk(n.ElseList, depth+1)
		}
	}
	walk(tree.Root, 0)
	switch {
	case nested > 0:
		line := 1 + strings.Count(layout[:nestedPos], "\n")
		return "", invalid("layout", line, "{{ footer }} must not be inside {{ if }}, {{ range }} or {{ with }}: every mail carries the Impressum and the unsubscribe link")
	case top > 1:
		return "", errs.Invalidf("layout", "line 1: a layout may place {{ footer }} once, found %d", top)
	case top == 1:
		return layout, nil
	}
	// No footer: put it before the last </body> that is plain layout text,
	// not inside an action or a condition.
	at := -1
	if tree.Root != nil {
		for _, n := range tree.Root.Nodes {
			if tn, ok := n.(*parse.TextNode); ok {
				if i := lastIndexFold(string(tn.Text), "</body"); i >= 0 {
					at = int(tn.Pos) + i
				}
			}
		}
	}
	if at < 0 {
		return layout + "\n{{ footer }}\n", nil
	}
	return layout[:at] + "{{ footer }}\n" + layout[at:], nil
}

func isFooterAction(n *parse.ActionNode) bool {
	if len(n.Pipe.Decl) != 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
		return false
	}
	id, ok := n.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "footer"
}

func lastIndexFold(s, sub string) int {
	return strings.LastIndex(strings.ToLower(s), sub)
}

// spliceFooter replaces the layout's {{ footer }} token with the footer, its
// actions protected like the layout's own.
func spliceFooter(layout string, acts *actions) (string, error) {
	for i, a := range acts.list {
		if a.field != "layout" || !footerRE.MatchString(a.text) {
			continue
		}
		first := len(acts.list)
		frag, err := acts.protect(footerHTML, "layout")
		if err != nil {
			return "", err
		}
		for j := first; j < len(acts.list); j++ {
			acts.list[j].line = a.line // errors point at the {{ footer }}
		}
		return strings.Replace(layout, acts.token(i), frag, 1), nil
	}
	return "", errs.Invalidf("layout", "line 1: the layout has no {{ footer }}")
}

// checkFooter renders the full sample recipient and checks that the footer
// really is in the mail's body, as links and text a reader sees: not dropped
// in an HTML comment, a <title> or a <style>.
func (t *Template) checkFooter() error {
	d := samples()[0]
	var b Buffers
	if err := t.renderStd(&b, d); err != nil {
		return err
	}
	doc, err := html.Parse(strings.NewReader(b.HTML.String()))
	if err != nil {
		return fmt.Errorf("templates: footer check: %w", err)
	}
	links := map[string]bool{}
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Head, atom.Title, atom.Style, atom.Script, atom.Template, atom.Noscript:
				return
			case atom.A:
				for _, a := range n.Attr {
					if a.Namespace == "" && a.Key == "href" {
						links[a.Val] = true
					}
				}
			}
		case html.TextNode:
			text.WriteString(n.Data)
			text.WriteByte('\n')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	missing := ""
	switch {
	case !links[d.UnsubscribeURL]:
		missing = "the unsubscribe link"
	case !links[d.PreferencesURL]:
		missing = "the preferences link"
	case !strings.Contains(text.String(), t.shop.Name):
		missing = "the shop's name"
	}
	for _, l := range t.shop.Impressum {
		if missing == "" && !strings.Contains(text.String(), l) {
			missing = "the Impressum"
		}
	}
	if missing != "" {
		return errs.Invalidf("layout", "line 1: the layout hides %s; place {{ footer }} in the visible body", missing)
	}
	return nil
}
