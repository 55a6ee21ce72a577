package retention_test

import (
	"strings"
	"testing"

	"github.com/treu-mail/treu/retention"
)

func TestSurveyLinks(t *testing.T) {
	l := retention.NewSurveyLinks([]byte("0123456789abcdef0123456789abcdef"), "https://shop.example/")
	urls := l.URLs(42, "order-7")
	if len(urls) != 11 || !strings.HasPrefix(urls[0], "https://shop.example/nps/") || !strings.HasSuffix(urls[10], "/10") {
		t.Fatalf("urls %v", urls)
	}
	tok := l.Token(42, "order-7")
	id, survey, err := l.Parse(tok)
	if err != nil || id != 42 || survey != "order-7" {
		t.Fatalf("Parse = %d %q %v", id, survey, err)
	}
	other := retention.NewSurveyLinks([]byte("another secret, another key....."), "https://shop.example")
	for _, bad := range []string{"", "x", tok[:20] + flip(tok[20]) + tok[21:], other.Token(42, "order-7"), strings.Repeat("A", 400)} {
		if _, _, err := l.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzSurveyToken(f *testing.F) {
	l := retention.NewSurveyLinks([]byte("0123456789abcdef0123456789abcdef"), "https://shop.example")
	f.Add(l.Token(1, ""))
	f.Add(l.Token(99, "o-1"))
	f.Add("!!")
	f.Fuzz(func(t *testing.T, tok string) {
		id, survey, err := l.Parse(tok)
		if err == nil && l.Token(id, survey) != tok {
			t.Fatalf("accepted %q, which is not the token of %d %q", tok, id, survey)
		}
	})
}

func flip(c byte) string {
	if c == 'B' {
		return "C"
	}
	return "B"
}
