package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/static"
)

//go:embed views/ui/*.html
var uiViews embed.FS

// uiLangs are the UI's languages; the first is the default.
var uiLangs = []string{"en", "de"}

// navItem is one entry of the main navigation.
type navItem struct{ Key, Label, Href string }

// uiNav is the main navigation, in the order marketers work through it.
var uiNav = []navItem{
	{"dashboard", "Dashboard", "/ui/"},
	{"subscribers", "Subscribers", "/ui/subscribers"},
	{"import", "Import", "/ui/import"},
	{"lists", "Lists", "/ui/lists"},
	{"segments", "Segments", "/ui/segments"},
	{"campaigns", "Campaigns", "/ui/campaigns"},
	{"layouts", "Layouts", "/ui/layouts"},
	{"tx", "Transactional mail", "/ui/tx"},
	{"flows", "Flows", "/ui/flows"},
	{"retention", "Retention", "/ui/retention"},
	{"coupons", "Coupons", "/ui/coupons"},
	{"outbox", "Outbox", "/ui/outbox"},
	{"webhooks", "Webhooks", "/ui/webhooks"},
	{"settings", "Settings", "/ui/settings"},
}

// uiPage is what every page template sees. Page-specific data is in Data.
type uiPage struct {
	Lang       string
	Title      string // an English UI string; the layout translates it
	Nav        string // which navigation entry is current
	User       *accounts.User
	CSRF       string
	OutboxOnly bool
	Path       string // where the language switch returns to; default the request's URL
	Flash      string // a success message
	Error      string // a message about what the user just did
	Data       any
}

// Can says whether the signed-in user's role reaches role ("editor",
// "admin"), so pages show only the buttons the user may press; the routes
// check again (web/access.go).
func (p uiPage) Can(role string) bool {
	return p.User != nil && p.User.Role.AtLeast(accounts.Role(role))
}

// parseUIPages parses each page with the layout once per language. Each page
// gets its own template set because every page defines "content"; the
// translation function is bound per language so templates just say {{t "…"}}.
func parseUIPages(assets map[string]string, loc *time.Location) (map[string]map[string]*template.Template, error) {
	names, err := fs.Glob(uiViews, "views/ui/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*template.Template{}
	for _, lang := range uiLangs {
		out[lang] = map[string]*template.Template{}
		for _, n := range names {
			base := strings.TrimSuffix(n[len("views/ui/"):], ".html")
			if base == "layout" || base == "partials" {
				continue
			}
			t, err := template.New(base).Funcs(uiFuncs(lang, assets, loc)).
				ParseFS(uiViews, "views/ui/layout.html", "views/ui/partials.html", n)
			if err != nil {
				return nil, fmt.Errorf("web: parse %s: %w", n, err)
			}
			out[lang][base] = t
		}
	}
	return out, nil
}

func uiFuncs(lang string, assets map[string]string, loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...any) string {
			s := translate(lang, key)
			if len(args) > 0 {
				return fmt.Sprintf(s, args...)
			}
			return s
		},
		"navItems": func() []navItem { return uiNav },
		"asset": func(name string) string {
			if u, ok := assets[name]; ok {
				return u
			}
			return "/static/" + name
		},
		"when": func(t any) string { return formatWhen(lang, loc, t) },
		// zone names the shop's time zone in hints beside times and crons.
		"zone": func() string { return loc.String() },
		"num":  func(n any) string { return formatNum(lang, n) },
		// stage names a ladder stage (retention.Stages) in the page's language.
		"stage": func(s string) string { return translate(lang, stageLabel(s)) },
		"rate":  func(part, whole int64) string { return formatRate(lang, part, whole) },
		"money": func(v float64) string { return formatMoney(lang, v) },
		"indentJSON": func(raw []byte) string {
			var b bytes.Buffer
			if json.Indent(&b, raw, "", "  ") != nil {
				return string(raw)
			}
			return b.String()
		},
		"deref":      func(p *int64) int64 { return *p },
		"deref_bool": func(p *bool) bool { return p != nil && *p },
		"statuses":   func() []string { return subscriberStatuses },
		"pct": func(part, whole int64) int64 {
			if whole <= 0 {
				return 0
			}
			return part * 100 / whole
		},
		"has": slices.Contains[[]string],
		// The A/B test's letters and metrics (ui_abtest.go).
		"letter":    variantLetter,
		"metrics":   abMetrics,
		"hasPrefix": strings.HasPrefix,
	}
}

// formatWhen shows a time in the shop's time zone (--timezone), with the
// zone's abbreviation (CET, CEST): marketers in one country read it at a
// glance, and nothing depends on the browser's zone.
func formatWhen(lang string, loc *time.Location, v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "–"
		}
		t = *x
	case int64:
		if x == 0 {
			return "–"
		}
		t = time.Unix(x, 0)
	default:
		return "–"
	}
	if t.IsZero() {
		return "–"
	}
	if loc == nil {
		loc = time.UTC
	}
	if lang == "de" {
		return t.In(loc).Format("02.01.2006 15:04 MST")
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// formatNum groups thousands: 1,234,567 in English, 1.234.567 in German.
func formatNum(lang string, v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := ","
	if lang == "de" {
		sep = "."
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// assetURLs versions each static file's URL by its content, so browsers may
// cache the files for good and still see a new release at once.
func assetURLs() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = "/static/" + p + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	return out, err
}

// serveStatic serves the embedded assets. A versioned URL never changes
// content, so it may be cached for a year.
func serveStatic() echo.HandlerFunc {
	files := http.FileServer(http.FS(static.FS))
	return func(c echo.Context) error {
		p := c.Param("*")
		if p == "" || strings.HasSuffix(p, "/") {
			return echo.ErrNotFound // no directory listings
		}
		if c.QueryParam("v") != "" {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "no-cache")
		}
		r := c.Request().Clone(c.Request().Context())
		r.URL.Path = "/" + p
		files.ServeHTTP(c.Response(), r)
		return nil
	}
}

// lang is the UI language: the lang cookie, else English.
func (u *ui) lang(c echo.Context) string {
	if ck, err := c.Cookie(langCookie); err == nil && ck.Value == "de" {
		return "de"
	}
	return "en"
}

// tr translates one UI string for the request's language.
func (u *ui) tr(c echo.Context, key string) string { return translate(u.lang(c), key) }

// render writes a full page. It executes into a buffer first, so a template
// error becomes a clean 500 instead of half a page.
func (u *ui) render(c echo.Context, status int, name string, p uiPage) error {
	lang := u.lang(c)
	t := u.pages[lang][name]
	if t == nil {
		return fmt.Errorf("web: no UI page %q", name)
	}
	p.Lang = lang
	if user, ok := c.Get(ctxUser).(accounts.User); ok {
		p.User = &user
	}
	if s, ok := c.Get(ctxSession).(session); ok {
		p.CSRF = u.sess.csrfToken(s)
	}
	p.OutboxOnly = u.cfg.OutboxOnly
	if p.Path == "" {
		p.Path = c.Request().URL.RequestURI()
		if c.Request().Method != http.MethodGet {
			// The answer to a post: the language switch must not return to
			// the post's URL, which has no page.
			p.Path = "/ui/"
			for _, n := range uiNav {
				if n.Key == p.Nav {
					p.Path = n.Href
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// renderFragment writes one named template of a page without the layout, for
// htmx to swap into the page.
func (u *ui) renderFragment(c echo.Context, page, block string, data any) error {
	t := u.pages[u.lang(c)][page]
	if t == nil {
		return fmt.Errorf("web: no UI page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		return fmt.Errorf("web: render %s/%s: %w", page, block, err)
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// uiFlashes are the success messages a redirect after a change may show. The
// URL carries only a code from this table, so a link cannot put arbitrary
// text on a Treu page.
var uiFlashes = map[string]string{
	"token-revoked":      "Token revoked.",
	"campaign-saved":     "Campaign saved.",
	"campaign-started":   "Campaign started.",
	"campaign-scheduled": "Campaign scheduled.",
	"campaign-paused":    "Campaign paused.",
	"campaign-resumed":   "Campaign resumed.",
	"campaign-cancelled": "Campaign cancelled.",
	"test-sent":          "Test mail sent.",
	"list-created":       "List created.",
	"list-saved":         "List saved.",
	"subscriber-erased":  "Subscriber erased. Only an anonymous suppression entry is kept.",
	"user-invited":       "Invitation sent.",
	"user-role":          "Role changed.",
	"user-removed":       "User removed.",
	"password-changed":   "Password changed. Every other session is signed out.",
}

// redirectDone answers a successful form post with a redirect (so reloading
// does not post again) to a page that shows the flash for code.
func (u *ui) redirectDone(c echo.Context, path, code string) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return c.Redirect(http.StatusSeeOther, path+sep+"done="+code)
}

// flash is the translated message for the request's done= code, if any.
func (u *ui) flash(c echo.Context) string {
	if key, ok := uiFlashes[c.QueryParam("done")]; ok {
		return u.tr(c, key)
	}
	return ""
}
