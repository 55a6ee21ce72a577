package templates

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Goldmark, bluemonday and the CSS inliner all rewrite text: they would turn
// the quotes in {{ .Name | default "Kunde" }} into &quot; and URL-encode an
// action used as a link target. So every action is swapped for an inert
// alphanumeric token before those steps and put back afterwards, just before
// html/template and text/template parse the result.

// action is one {{ ... }} found in a source.
type action struct {
	text    string // the action as written, delimiters included
	line    int    // 1-based line in its source
	field   string // which Source field it came from
	control bool   // produces no output (if, range, end, comments, ...)
}

// actions collects the actions of all of a mail's sources and hands out the
// tokens that stand for them.
type actions struct {
	prefix string
	list   []action
}

func newActions(sources ...string) *actions {
	// The prefix must not occur in any source, or restoring would invent
	// actions; in the rare case it does, lengthen it until it does not.
	prefix := "TreuAct"
	for {
		clash := false
		for _, s := range sources {
			if strings.Contains(s, prefix) {
				clash = true
				break
			}
		}
		if !clash {
			return &actions{prefix: prefix}
		}
		prefix += "Q"
	}
}

func (a *actions) token(i int) string { return a.prefix + strconv.Itoa(i) + "X" }

var controlRE = regexp.MustCompile(`^\{\{-?\s*(?:/\*|(?:if|else|end|range|with|break|continue)\b|\$\w*\s*:?=)`)

var forbiddenRE = regexp.MustCompile(`^\{\{-?\s*(define|block|template)\b`)

// protect replaces every action in src with a token. It assumes src already
// parsed as a text/template, so action boundaries are well-formed.
func (a *actions) protect(src, field string) (string, error) {
	var b strings.Builder
	last := 0
	for _, sp := range scanActions(src) {
		text := src[sp[0]:sp[1]]
		line := 1 + strings.Count(src[:sp[0]], "\n")
		if m := forbiddenRE.FindStringSubmatch(text); m != nil {
			// Named templates would let a mail redefine or recurse into the
			// layout; a mail needs none of that.
			return "", invalid(field, line, fmt.Sprintf("%q is not supported in a mail", m[1]))
		}
		b.WriteString(src[last:sp[0]])
		b.WriteString(a.token(len(a.list)))
		a.list = append(a.list, action{text: text, line: line, field: field, control: controlRE.MatchString(text)})
		last = sp[1]
	}
	b.WriteString(src[last:])
	return b.String(), nil
}

// scanActions returns the [start, end) byte spans of the {{ ... }} actions in
// src, following text/template's lexer: "}}" inside a string, raw string,
// character constant or comment does not end an action.
func scanActions(src string) [][2]int {
	var spans [][2]int
	i := 0
	for {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			return spans
		}
		start := i + j
		p := start + 2
		if len(src) > p+1 && src[p] == '-' && isSpace(src[p+1]) {
			p += 2
		}
		if strings.HasPrefix(src[p:], "/*") {
			k := strings.Index(src[p+2:], "*/")
			if k < 0 {
				return spans
			}
			p = p + 2 + k + 2
			k = strings.Index(src[p:], "}}")
			if k < 0 {
				return spans
			}
			spans = append(spans, [2]int{start, p + k + 2})
			i = p + k + 2
			continue
		}
		end := -1
	scan:
		for p < len(src) {
			switch c := src[p]; c {
			case '"', '\'':
				p++
				for p < len(src) && src[p] != c && src[p] != '\n' {
					if src[p] == '\\' {
						p++
					}
					p++
				}
				p++
			case '`':
				k := strings.IndexByte(src[p+1:], '`')
				if k < 0 {
					return spans
				}
				p += k + 2
			case '}':
				if strings.HasPrefix(src[p:], "}}") {
					end = p + 2
					break scan
				}
				p++
			default:
				p++
			}
		}
		if end < 0 {
			return spans
		}
		spans = append(spans, [2]int{start, end})
		i = end
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// restore puts the actions back in place of their tokens. Before that it
// neutralises any "{{" that the Markdown or HTML steps produced on their own
// (from entities such as &#123;), since that text must never become an
// action: literal is the escaped form of "{" for the target language.
func (a *actions) restore(s, literal string) string {
	s = strings.ReplaceAll(s, "{{", literal+literal)
	s = strings.ReplaceAll(s, "<!--"+a.prefix, a.prefix)
	s = strings.ReplaceAll(s, "X-->", "X")
	var b strings.Builder
	b.Grow(len(s) + 16*len(a.list))
	for {
		j := strings.Index(s, a.prefix)
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		k := j + len(a.prefix)
		n := k
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		idx, err := strconv.Atoi(s[k:n])
		if err != nil || n >= len(s) || s[n] != 'X' || idx >= len(a.list) {
			b.WriteString(s[:k])
			s = s[k:]
			continue
		}
		pre := s[:j]
		if strings.HasSuffix(pre, "{") {
			// "{" right before an action would read as "{{{".
			pre = pre[:len(pre)-1] + literal
		}
		b.WriteString(pre)
		b.WriteString(a.list[idx].text)
		s = s[n+1:]
	}
}

// at returns the action restored at line of a template built by restore, for
// pointing an error found late (by html/template's escaper) at its source.
func (a *actions) at(restored string, line int) (action, bool) {
	lines := strings.Split(restored, "\n")
	if line < 1 || line > len(lines) {
		return action{}, false
	}
	l := lines[line-1]
	for _, act := range a.list {
		if strings.Contains(l, act.text) {
			return act, true
		}
	}
	return action{}, false
}

var (
	tmplErrRE = regexp.MustCompile(`^(?:html/)?template: ?[^:]*:(\d+)(?::\d+)?: ?(.*)$`)
	execRE    = regexp.MustCompile(`executing "[^"]*" at <([^>]*)>: `)
	startedRE = regexp.MustCompile(`started at [^:\s]*:(\d+)`)
	fieldRE   = regexp.MustCompile(`can't evaluate field (\w+) in type \S+`)
)

// templateError turns a text/template or html/template error into the
// errs.Invalidf(field, "line N: ...") a marketer can act on; line numbers are
// those of the source the template was parsed from.
func templateError(field string, err error) error {
	line, msg := splitTemplateError(err)
	return invalid(field, line, msg)
}

func splitTemplateError(err error) (int, string) {
	msg := err.Error()
	line := 1
	if m := tmplErrRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if m := fieldRE.FindStringSubmatch(msg); m != nil {
		msg = fieldRE.ReplaceAllString(msg, fmt.Sprintf("unknown field or method %q", m[1]))
	}
	msg = execRE.ReplaceAllString(msg, "at <$1>: ")
	msg = startedRE.ReplaceAllString(msg, "started at line $1")
	return line, plainWords(msg)
}
