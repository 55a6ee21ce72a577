package templates

// The escapers of html/template, for the fast executor (exec.go). html/template
// escapes a template once, by appending escaper functions such as
// _html_template_attrescaper to every action of its parse tree; the fast
// executor runs that escaped tree and needs the same functions, which
// html/template does not export. These are adapted from Go's
// src/html/template/{html,url,content}.go (Copyright 2011 The Go Authors,
// BSD-style licence) so that the output is byte-identical; only the escapers
// a mail can plausibly need are here. A template whose escaped tree uses any
// other escaper (JS, CSS, srcset, comments, attribute names) is executed by
// html/template itself. Typed content for which the original would have to
// strip tags makes the fast executor hand the recipient to html/template too.

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

type escaper uint8

const (
	escNone escaper = iota
	escHTML
	escAttr
	escRCDATA
	escNospace
	escURLFilter
	escURLNormalizer
	escURLEscaper
	escNonil // not an html/template escaper: the text templates' treuNonil
)

var escapers = map[string]escaper{
	"_html_template_htmlescaper":    escHTML,
	"_html_template_attrescaper":    escAttr,
	"_html_template_rcdataescaper":  escRCDATA,
	"_html_template_nospaceescaper": escNospace,
	"_html_template_urlfilter":      escURLFilter,
	"_html_template_urlnormalizer":  escURLNormalizer,
	"_html_template_urlescaper":     escURLEscaper,
}

// contentType mirrors html/template's content types as far as needed.
type contentType uint8

const (
	ctPlain contentType = iota
	ctHTML
	ctURL
)

const filterFailsafe = "ZgotmplZ"

// stringifyHTML is html/template's stringify for one argument.
func stringifyHTML(v value) (string, contentType, error) {
	switch v.k {
	case kNil:
		return "", ctPlain, nil
	case kString:
		return v.s, ctPlain, nil
	case kInt:
		return strconv.Itoa(v.n), ctPlain, nil
	case kBool:
		return strconv.FormatBool(v.n != 0), ctPlain, nil
	case kAny:
		switch a := v.a.(type) {
		case htmltemplate.HTML:
			return string(a), ctHTML, nil
		case htmltemplate.URL:
			return string(a), ctURL, nil
		case htmltemplate.CSS, htmltemplate.HTMLAttr, htmltemplate.JS, htmltemplate.JSStr, htmltemplate.Srcset:
			return "", ctPlain, errFallback
		}
		if reflect.TypeOf(v.a).Kind() == reflect.Pointer {
			return "", ctPlain, errFallback // html/template dereferences
		}
	}
	return fmt.Sprint(v.box()), ctPlain, nil
}

// stringifyText is str (treuNonil): nil prints "", everything else as fmt.
func stringifyText(v value) string {
	switch v.k {
	case kNil:
		return ""
	case kString:
		return v.s
	case kInt:
		return strconv.Itoa(v.n)
	}
	return str(v.box())
}

// escape applies e to s of content type t and returns plain text.
func (e escaper) escape(s string, t contentType) (string, error) {
	switch e {
	case escHTML:
		if t == ctHTML {
			return s, nil
		}
		return htmlReplacer(s, htmlReplacementTable, true), nil
	case escAttr:
		if t == ctHTML {
			return "", errFallback // html/template strips tags here
		}
		return htmlReplacer(s, htmlReplacementTable, true), nil
	case escRCDATA:
		if t == ctHTML {
			return htmlReplacer(s, htmlNormReplacementTable, true), nil
		}
		return htmlReplacer(s, htmlReplacementTable, true), nil
	case escNospace:
		if s == "" {
			return filterFailsafe, nil
		}
		if t == ctHTML {
			return "", errFallback
		}
		return htmlReplacer(s, htmlNospaceReplacementTable, false), nil
	case escURLFilter:
		if t == ctURL || isSafeURL(s) {
			return s, nil
		}
		return "#" + filterFailsafe, nil
	case escURLNormalizer:
		return urlProcessor(true, s), nil
	case escURLEscaper:
		return urlProcessor(t == ctURL, s), nil
	case escNonil:
		return s, nil
	}
	return "", errFallback
}

// escapeTo is escape writing its result to w; the last escaper of an action
// writes straight into the output.
func (e escaper) escapeTo(w *bytes.Buffer, s string, t contentType) error {
	switch {
	case e == escHTML && t != ctHTML, e == escAttr && t != ctHTML, e == escRCDATA && t != ctHTML:
		htmlReplaceTo(w, s, htmlReplacementTable, true)
		return nil
	}
	s, err := e.escape(s, t)
	w.WriteString(s)
	return err
}

var htmlReplacementTable = []string{
	0:    "\uFFFD",
	'"':  "&#34;",
	'&':  "&amp;",
	'\'': "&#39;",
	'+':  "&#43;",
	'<':  "&lt;",
	'>':  "&gt;",
}

var htmlNormReplacementTable = []string{
	0:    "\uFFFD",
	'"':  "&#34;",
	'\'': "&#39;",
	'+':  "&#43;",
	'<':  "&lt;",
	'>':  "&gt;",
}

var htmlNospaceReplacementTable = []string{
	0:    "&#xfffd;",
	'\t': "&#9;",
	'\n': "&#10;",
	'\v': "&#11;",
	'\f': "&#12;",
	'\r': "&#13;",
	' ':  "&#32;",
	'"':  "&#34;",
	'&':  "&amp;",
	'\'': "&#39;",
	'+':  "&#43;",
	'<':  "&lt;",
	'=':  "&#61;",
	'>':  "&gt;",
	'`':  "&#96;",
}

// htmlReplaceTo writes s to w with runes replaced as html/template's
// htmlReplacer does: per replacementTable, and when badRunes is false also
// the non-characters IE does not allow in unquoted attributes.
func htmlReplaceTo(w *bytes.Buffer, s string, replacementTable []string, badRunes bool) {
	if badRunes {
		// Only ASCII can be in the table (invalid UTF-8 decodes to
		// U+FFFD, which is not), so bytes will do.
		written := 0
		for i := 0; i < len(s); i++ {
			if c := s[i]; int(c) < len(replacementTable) {
				if repl := replacementTable[c]; repl != "" {
					w.WriteString(s[written:i])
					w.WriteString(repl)
					written = i + 1
				}
			}
		}
		w.WriteString(s[written:])
		return
	}
	written := 0
	r, n := rune(0), 0
	for i := 0; i < len(s); i += n {
		// Not "for range s": the width of invalid UTF-8 must be kept.
		r, n = utf8.DecodeRuneInString(s[i:])
		if int(r) < len(replacementTable) {
			if repl := replacementTable[r]; len(repl) != 0 {
				w.WriteString(s[written:i])
				w.WriteString(repl)
				written = i + n
			}
		} else if badRunes {
			// No-op.
		} else if 0xfdd0 <= r && r <= 0xfdef || 0xfff0 <= r && r <= 0xffff {
			fmt.Fprintf(w, "%s&#x%x;", s[written:i], r)
			written = i + n
		}
	}
	w.WriteString(s[written:])
}

// htmlReplacer is html/template's htmlReplacer.
func htmlReplacer(s string, replacementTable []string, badRunes bool) string {
	var b bytes.Buffer
	htmlReplaceTo(&b, s, replacementTable, badRunes)
	if b.Len() == len(s) && b.String() == s {
		return s
	}
	return b.String()
}

func isSafeURL(s string) bool {
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		if !strings.EqualFold(protocol, "http") && !strings.EqualFold(protocol, "https") && !strings.EqualFold(protocol, "mailto") {
			return false
		}
	}
	return true
}

// urlProcessor is html/template's urlProcessor after stringify.
func urlProcessor(norm bool, s string) string {
	// Most URLs need no change; find out without allocating.
	i := 0
	for i < len(s) && urlKeep(s, i, norm) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	written := 0
	for ; i < len(s); i++ {
		if urlKeep(s, i, norm) {
			continue
		}
		b.WriteString(s[written:i])
		fmt.Fprintf(&b, "%%%02x", s[i])
		written = i + 1
	}
	b.WriteString(s[written:])
	return b.String()
}

func urlKeep(s string, i int, norm bool) bool {
	switch urlClass[s[i]] {
	case urlUnreserved:
		return true
	case urlReserved:
		return norm
	case urlPercent:
		return norm && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])
	}
	return false
}

const (
	urlEscape     = iota // always percent-encoded
	urlUnreserved        // never
	urlReserved          // kept when normalising
	urlPercent           // kept when normalising and a valid escape
)

var urlClass = func() (t [256]uint8) {
	for _, c := range []byte("!#$&*+,/:;=?@[]") {
		t[c] = urlReserved
	}
	for _, c := range []byte("-._~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") {
		t[c] = urlUnreserved
	}
	t['%'] = urlPercent
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
