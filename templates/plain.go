package templates

import (
	"regexp"
	"strings"
)

// plainWords puts a sentence a marketer understands in front of the
// template engine's message, which stays behind it in brackets for whoever
// knows Go templates. Only the mistakes people make while typing a mail are
// translated; anything else is left as it was.
func plainWords(msg string) string {
	for _, p := range plainRules {
		if m := p.re.FindStringSubmatch(msg); m != nil {
			s := p.say
			for i, g := range m[1:] {
				s = strings.ReplaceAll(s, "$"+string(rune('1'+i)), g)
			}
			return s + " (" + msg + ")"
		}
	}
	return msg
}

var plainRules = []struct {
	re  *regexp.Regexp
	say string
}{
	{regexp.MustCompile(`unknown field or method "([^"]+)"`),
		`Treu has no value called .$1. Use .Name, .FirstName, .Email, .Coupon, .Cart or {{ .Attr "key" }} for an attribute.`},
	{regexp.MustCompile(`function "([^"]+)" not defined`),
		`"$1" is not something Treu can do in a template; check the spelling.`},
	{regexp.MustCompile(`unclosed action`),
		`A {{ is not closed: add }} after it.`},
	{regexp.MustCompile(`unexpected EOF|unexpected end`),
		`An {{ if }}, {{ range }} or {{ with }} has no {{ end }}.`},
	{regexp.MustCompile(`unexpected \{\{end\}\}`),
		`There is an {{ end }} without an {{ if }}, {{ range }} or {{ with }} before it.`},
}
