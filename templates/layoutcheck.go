package templates

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// A layout is HTML a marketer pastes in, and it wraps every mail. Markdown
// goes through bluemonday (markdown.go); a layout is a whole document with
// <head>, <style> and tables that policy would strip, so it is checked
// instead, for the same things: no scripts or active content, no event
// handlers, no javascript: (or other non-web) URLs, no script in CSS. A
// layout that has one is refused, naming the line, rather than cleaned
// silently: the marketer sees what would not work in a mail anyway.

// forbiddenElements are elements that run code, load other documents or
// take input; none of them works in a mail client.
var forbiddenElements = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true, "object": true,
	"embed": true, "applet": true, "form": true, "input": true, "button": true,
	"select": true, "textarea": true, "base": true, "portal": true, "svg": true,
	"math": true, "template": true, "noembed": true,
}

// urlAttrs are attributes whose value is followed or loaded as a URL.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "background": true,
	"poster": true, "cite": true, "longdesc": true, "lowsrc": true, "dynsrc": true,
	"xlink:href": true, "data": true, "codebase": true, "manifest": true, "ping": true,
}

var allowedSchemes = map[string]bool{"http": true, "https": true, "mailto": true, "tel": true, "cid": true}

var dataImageRE = regexp.MustCompile(`^data:image/(?:png|gif|jpe?g|webp);`)

// cssDanger is what makes CSS run code in old mail clients (IE's
// expression() and behavior, Firefox's -moz-binding) or load a script URL.
var cssDanger = []string{"expression(", "javascript:", "vbscript:", "behavior:", "-moz-binding"}

// checkLayoutHTML refuses a layout with active content, naming the line.
func checkLayoutHTML(layout string) error {
	src := inertActions(layout)
	z := html.NewTokenizer(strings.NewReader(src))
	line := 1
	style := false // the previous token opened a <style>: this one is CSS
	for {
		tt := z.Next()
		raw := string(z.Raw())
		start := line
		line += strings.Count(raw, "\n")
		css := style
		style = false
		switch tt {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				return nil
			}
			return invalid("layout", start, fmt.Sprintf("not readable as HTML: %v", z.Err()))
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if msg := checkTag(tok); msg != "" {
				return invalid("layout", start, msg)
			}
			style = tt == html.StartTagToken && tok.Data == "style"
		case html.TextToken:
			if css {
				if msg := checkCSS(raw); msg != "" {
					return invalid("layout", start, msg)
				}
			}
		}
	}
}

func checkTag(tok html.Token) string {
	name := strings.ToLower(tok.Data)
	if forbiddenElements[name] {
		return fmt.Sprintf("<%s> is not allowed in a layout: mail clients do not run or show it", name)
	}
	for _, a := range tok.Attr {
		key := strings.ToLower(a.Key)
		if a.Namespace != "" {
			key = strings.ToLower(a.Namespace) + ":" + key
		}
		switch {
		case strings.HasPrefix(key, "on"):
			return fmt.Sprintf("the event handler %s= on <%s> is not allowed in a layout", key, name)
		case urlAttrs[key] || key == "srcset":
			if msg := checkURL(a.Val); msg != "" {
				return fmt.Sprintf("%s= on <%s>: %s", key, name, msg)
			}
		case key == "style":
			if msg := checkCSS(a.Val); msg != "" {
				return fmt.Sprintf("style= on <%s>: %s", name, msg)
			}
		case name == "meta" && key == "http-equiv" && strings.EqualFold(strings.TrimSpace(a.Val), "refresh"):
			return "<meta http-equiv=\"refresh\"> is not allowed in a layout"
		}
	}
	return ""
}

// checkURL allows web, mail and phone links, relative links (a template
// action such as {{ .UnsubscribeURL }} stands as one) and inline raster
// images; html/template checks the values of actions again at send time.
func checkURL(v string) string {
	var b strings.Builder
	for _, r := range v {
		// Browsers ignore whitespace and control characters in a scheme:
		// "java\tscript:" is javascript:.
		if r > ' ' && r != 0x7f {
			b.WriteRune(r)
		}
	}
	u := strings.ToLower(b.String())
	i := strings.IndexAny(u, ":/?#")
	if i < 0 || u[i] != ':' {
		return ""
	}
	scheme := u[:i]
	if allowedSchemes[scheme] || (scheme == "data" && dataImageRE.MatchString(u)) {
		return ""
	}
	return fmt.Sprintf("%s: URLs are not allowed in a layout", scheme)
}

func checkCSS(css string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(css) {
		if r > ' ' && r != '\\' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	for _, d := range cssDanger {
		if strings.Contains(s, d) {
			return fmt.Sprintf("%q in CSS is not allowed in a layout", strings.TrimSuffix(d, "("))
		}
	}
	return ""
}

// inertActions replaces every template action with a harmless word of the
// same line count, so that quotes inside actions ({{ .Attr "url" }}) do not
// confuse the HTML tokenizer and errors keep their line numbers.
func inertActions(src string) string {
	var b strings.Builder
	last := 0
	for _, sp := range scanActions(src) {
		b.WriteString(src[last:sp[0]])
		b.WriteString("TreuAction")
		b.WriteString(strings.Repeat("\n", strings.Count(src[sp[0]:sp[1]], "\n")))
		last = sp[1]
	}
	b.WriteString(src[last:])
	return b.String()
}
