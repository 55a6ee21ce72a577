package templates

import (
	"embed"
	"fmt"
	"strings"
	"sync"
)

// The texts of the built-in mails live in one Markdown file per mail and
// language, so translators can find and edit them without reading Go.
//
//go:embed system/*.md
var systemFS embed.FS

// SystemVars are the values of a built-in mail.
type SystemVars struct {
	ShopName       string
	ConfirmURL     string // "confirm" only
	PreferencesURL string // "welcome" only
	UnsubscribeURL string // "welcome" only
	Name           string
	Footer         Footer // Footer.ShopName defaults to ShopName
}

// SystemMail renders a built-in mail: kind "confirm" (the double opt-in
// mail) or "welcome", in locale "de" or "en" (anything else is German).
// The confirmation mail carries no advertising and no unsubscribe footer,
// since the recipient has not subscribed yet; it names the sender with the
// Impressum like every mail.
func SystemMail(kind, locale string, v SystemVars) (Rendered, error) {
	if kind != "confirm" && kind != "welcome" {
		return Rendered{}, fmt.Errorf("templates: unknown system mail %q", kind)
	}
	l := lang(locale)
	if l == "" {
		l = "de"
	}
	f := v.Footer
	if f.ShopName == "" {
		f.ShopName = v.ShopName
	}
	t, err := systemCache.get(kind, l, f)
	if err != nil {
		return Rendered{}, err
	}
	d := &Data{Name: v.Name, Locale: l}
	if kind == "confirm" {
		d.ConfirmURL = v.ConfirmURL
	} else {
		d.PreferencesURL, d.UnsubscribeURL = v.PreferencesURL, v.UnsubscribeURL
	}
	return t.Render(d)
}

type systemKey struct {
	kind, lang string
	footer     Footer
}

// systemCache keeps compiled system mails: compiling costs milliseconds and
// confirmation mails go out on every sign-up, while a shop's footer rarely
// changes. It is bounded so changing footers cannot grow it without limit.
var systemCache = &compiledCache{m: map[systemKey]*Template{}}

type compiledCache struct {
	mu sync.Mutex
	m  map[systemKey]*Template
}

func (c *compiledCache) get(kind, lang string, f Footer) (*Template, error) {
	k := systemKey{kind, lang, f}
	c.mu.Lock()
	t := c.m[k]
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	src, err := systemSource(kind, lang)
	if err != nil {
		return nil, err
	}
	src.Footer = f
	if t, err = Compile(src); err != nil {
		return nil, fmt.Errorf("templates: system mail %s.%s: %w", kind, lang, err)
	}
	c.mu.Lock()
	if len(c.m) >= 32 {
		clear(c.m)
	}
	c.m[k] = t
	c.mu.Unlock()
	return t, nil
}

// systemSource reads system/KIND.LANG.md: "Subject:" and "Preheader:" header
// lines, a blank line, then the Markdown body.
func systemSource(kind, lang string) (Source, error) {
	b, err := systemFS.ReadFile("system/" + kind + "." + lang + ".md")
	if err != nil {
		return Source{}, fmt.Errorf("templates: %w", err)
	}
	head, body, _ := strings.Cut(string(b), "\n\n")
	src := Source{Markdown: body, Locale: lang}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "Subject":
			src.Subject = strings.TrimSpace(v)
		case "Preheader":
			src.Preheader = strings.TrimSpace(v)
		}
	}
	return src, nil
}
