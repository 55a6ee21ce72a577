package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

func TestUISignInAndOut(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()

	if r := c.get("/"); r.Status != http.StatusFound || r.Location != "/ui/" {
		t.Fatalf("GET / = %d %q, want a redirect to /ui/", r.Status, r.Location)
	}
	if r := c.get("/ui/"); r.Status != http.StatusSeeOther || r.Location != "/ui/login" {
		t.Fatalf("signed out GET /ui/ = %d %q, want the sign-in page", r.Status, r.Location)
	}

	tok := c.csrfOf("/ui/login")
	r := c.post("/ui/login", url.Values{"csrf": {tok}, "email": {env.email}, "password": {"wrong password!"}})
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong email or password.") {
		t.Fatalf("wrong password: %d\n%s", r.Status, r.Body)
	}
	if r.Location != "" || strings.Contains(r.Body, "Signed in as") {
		t.Fatal("a wrong password must not sign in")
	}

	c.signIn()
	var session *http.Cookie
	for _, ck := range c.c.Jar.Cookies(mustURL(env.ts.URL)) {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie after sign-in")
	}
	r = c.get("/ui/")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Signed in as <strong>"+env.email) {
		t.Fatalf("dashboard: %d\n%s", r.Status, r.Body)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("no CSP on UI pages: %q", r.Header.Get("Content-Security-Policy"))
	}

	r = c.post("/ui/logout", url.Values{"csrf": {c.csrfOf("/ui/")}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/login" {
		t.Fatalf("sign out: %d %q", r.Status, r.Location)
	}
	if r := c.get("/ui/"); r.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out GET /ui/ = %d, want a redirect to sign in", r.Status)
	}
}

func TestUISessionCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		base   string
		secure bool
	}{{"http://treu.test", false}, {"https://news.shop.example", true}} {
		t.Run(tc.base, func(t *testing.T) {
			env := newUIEnv(t, func(cfg *Config, _ *UIDeps) { cfg.BaseURL = tc.base })
			res, err := http.Get(env.ts.URL + "/ui/login")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			var ck *http.Cookie
			for _, x := range res.Cookies() {
				if x.Name == sessionCookie {
					ck = x
				}
			}
			if ck == nil {
				t.Fatal("the sign-in page sets no session cookie (its form needs a CSRF token)")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != tc.secure {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v, want true Lax %v", ck.HttpOnly, ck.SameSite, ck.Secure, tc.secure)
			}
		})
	}
}

func TestUILockout(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	tok := c.csrfOf("/ui/login")
	var r uiResp
	for i := 0; i < 6; i++ {
		r = c.post("/ui/login", url.Values{"csrf": {tok}, "email": {env.email}, "password": {"not the password"}})
	}
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "Too many failed sign-ins") {
		t.Fatalf("after 6 failures: %d\n%s", r.Status, r.Body)
	}
	// Locked means locked, even with the right password.
	r = c.post("/ui/login", url.Values{"csrf": {tok}, "email": {env.email}, "password": {env.password}})
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", r.Status)
	}
}

// TestUISignedOut: no page of the UI answers a signed-out browser with
// content, and no post changes anything.
func TestUISignedOut(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	for _, rt := range env.srv.echo.Routes() {
		if !strings.HasPrefix(rt.Path, "/ui/") || env.srv.guards[rt.Method+" "+rt.Path] == "signed-out" ||
			strings.HasSuffix(rt.Path, "/*") {
			continue
		}
		path := fillParams(rt.Path)
		t.Run(rt.Method+" "+path, func(t *testing.T) {
			var r uiResp
			switch rt.Method {
			case http.MethodGet:
				r = c.get(path)
			case http.MethodPost:
				// A valid token of the anonymous session: only requireUser stands in the way.
				r = c.post(path, url.Values{"csrf": {c.csrfOf("/ui/login")}, "name": {"x"}})
			default:
				t.Skipf("method %s not checked", rt.Method)
			}
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/ui/login") {
				t.Fatalf("signed out %s %s = %d %q, want a redirect to sign in", rt.Method, path, r.Status, r.Location)
			}
		})
	}
	tokens, err := env.accounts.Tokens(context.Background())
	if err != nil || len(tokens) != 0 {
		t.Fatalf("signed-out posts made tokens: %v %v", tokens, err)
	}
}

// TestUICSRF: every state-changing route under /ui refuses a request without
// the session's CSRF token. Routes are taken from the router, so a new form
// is covered without touching this test.
func TestUICSRF(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	c.signIn()
	other := env.client()
	other.signIn()
	foreign := other.csrfOf("/ui/")
	n := 0
	for _, rt := range env.srv.echo.Routes() {
		switch rt.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		if !strings.HasPrefix(rt.Path, "/ui") {
			continue
		}
		n++
		path := fillParams(rt.Path)
		for _, tc := range []struct {
			name string
			form url.Values
		}{
			{"no token", url.Values{"name": {"x"}}},
			{"wrong token", url.Values{"csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "name": {"x"}}},
			{"another session's token", url.Values{"csrf": {foreign}, "name": {"x"}}},
		} {
			t.Run(rt.Method+" "+path+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(rt.Method, env.ts.URL+path, strings.NewReader(tc.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if r := c.do(req); r.Status != http.StatusForbidden {
					t.Fatalf("%s %s with %s = %d, want 403", rt.Method, path, tc.name, r.Status)
				}
			})
		}
	}
	if n < 4 {
		t.Fatalf("only %d state-changing UI routes found; is the UI mounted?", n)
	}
	// A right token from a foreign Origin is refused as well.
	req, _ := http.NewRequest(http.MethodPost, env.ts.URL+"/ui/settings/tokens",
		strings.NewReader(url.Values{"csrf": {c.csrfOf("/ui/")}, "name": {"evil"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := c.do(req); r.Status != http.StatusForbidden {
		t.Fatalf("cross-origin post = %d, want 403", r.Status)
	}
	if tokens, _ := env.accounts.Tokens(context.Background()); len(tokens) != 0 {
		t.Fatalf("refused posts made %d tokens", len(tokens))
	}
	// The header form (htmx) is accepted with the right token.
	req, _ = http.NewRequest(http.MethodPost, env.ts.URL+"/ui/settings/tokens",
		strings.NewReader(url.Values{"name": {"via header"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(csrfHeader, c.csrfOf("/ui/"))
	if r := c.do(req); r.Status != http.StatusOK {
		t.Fatalf("post with the token in %s = %d, want 200", csrfHeader, r.Status)
	}
}

func TestUISessionTampering(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	c.signIn()
	u := mustURL(env.ts.URL)
	var val string
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			val = ck.Value
		}
	}
	// Claim to be user 2 with the same signature.
	forged := "2" + val[strings.IndexByte(val, '.'):]
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: forged, Path: "/"}})
	if r := c.get("/ui/"); r.Status != http.StatusSeeOther {
		t.Fatalf("forged session: %d, want a redirect to sign in", r.Status)
	}
}

func TestUISessionExpires(t *testing.T) {
	env := newUIEnv(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	env.db.Now = func() time.Time { return now }
	c := env.client()
	c.signIn()
	if r := c.get("/ui/"); r.Status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.Status)
	}
	now = now.Add(sessionTTL + time.Minute)
	if r := c.get("/ui/"); r.Status != http.StatusSeeOther {
		t.Fatalf("expired session: %d, want a redirect to sign in", r.Status)
	}
}

func TestUINextIsSafe(t *testing.T) {
	env := newUIEnv(t)
	for _, tc := range []struct{ next, want string }{
		{"/ui/settings", "/ui/settings"},
		{"//evil.example/ui/", "/ui/"},
		{"https://evil.example/", "/ui/"},
		{"/ui/\\evil", "/ui/"},
		{"/uix", "/ui/"},
		{"", "/ui/"},
	} {
		c := env.client()
		tok := c.csrfOf("/ui/login")
		r := c.post("/ui/login", url.Values{"csrf": {tok}, "email": {env.email}, "password": {env.password}, "next": {tc.next}})
		if r.Location != tc.want {
			t.Errorf("next=%q: redirect to %q, want %q", tc.next, r.Location, tc.want)
		}
	}
	// A signed-out visit remembers where it was going.
	c := env.client()
	if r := c.get("/ui/settings?x=1"); r.Location != "/ui/login?next=%2Fui%2Fsettings%3Fx%3D1" {
		t.Fatalf("redirect to %q", r.Location)
	}
}

func TestUITokens(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/settings")
	r := c.post("/ui/settings/tokens", url.Values{"csrf": {tok}, "name": {"shop production"}})
	if r.Status != http.StatusOK {
		t.Fatalf("create token: %d\n%s", r.Status, r.Body)
	}
	secret := regexp.MustCompile(`id="new-secret">(treu_[A-Za-z0-9_-]+)<`).FindStringSubmatch(r.Body)
	if secret == nil {
		t.Fatalf("the new secret is not shown:\n%s", r.Body)
	}
	if _, err := env.accounts.Authenticate(context.Background(), secret[1]); err != nil {
		t.Fatalf("the shown secret does not authenticate: %v", err)
	}
	// Shown once: the settings page itself never has it.
	if r := c.get("/ui/settings"); strings.Contains(r.Body, secret[1]) {
		t.Fatal("the secret is shown again")
	}
	if r := c.post("/ui/settings/tokens", url.Values{"csrf": {tok}, "name": {""}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("empty name: %d, want 422", r.Status)
	}
	tokens, _ := env.accounts.Tokens(context.Background())
	if len(tokens) != 1 {
		t.Fatalf("%d tokens", len(tokens))
	}
	r = c.post("/ui/settings/tokens/"+itoa(tokens[0].ID)+"/revoke", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/settings?done=token-revoked" {
		t.Fatalf("revoke: %d %q", r.Status, r.Location)
	}
	if r := c.get(r.Location); !strings.Contains(r.Body, "Token revoked.") {
		t.Fatal("no confirmation after revoking")
	}
	if _, err := env.accounts.Authenticate(context.Background(), secret[1]); err == nil {
		t.Fatal("a revoked token still authenticates")
	}
	// The settings page shows the configuration, with the SMTP password masked.
	r = c.get("/ui/settings")
	if strings.Contains(r.Body, "s3cret") || !strings.Contains(r.Body, "smtp.example:587") {
		t.Fatalf("SMTP URL shown wrongly:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, "Hauptstr. 1") {
		t.Fatal("Impressum not shown")
	}
}

// TestUIEscapes: text users and shops typed is shown as text, never as markup.
func TestUIEscapes(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	c.signIn()
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	if _, _, err := env.accounts.CreateToken(context.Background(), evil, accounts.ScopeShop); err != nil {
		t.Fatal(err)
	}
	r := c.get("/ui/settings")
	if strings.Contains(r.Body, evil) || strings.Contains(r.Body, "<script>alert") || strings.Contains(r.Body, "<img src=x") {
		t.Fatalf("token name not escaped:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, "&lt;script&gt;") {
		t.Fatalf("token name not shown:\n%s", r.Body)
	}
	// The remembered email on the sign-in page, too.
	c2 := env.client()
	r = c2.post("/ui/login", url.Values{"csrf": {c2.csrfOf("/ui/login")}, "email": {`"><script>x()</script>`}, "password": {"x"}})
	if strings.Contains(r.Body, "<script>x()") {
		t.Fatal("email not escaped on the sign-in page")
	}
}

func TestUILanguage(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	c.signIn()
	if r := c.get("/ui/"); !strings.Contains(r.Body, `<html lang="en">`) || !strings.Contains(r.Body, ">Dashboard<") {
		t.Fatal("English is not the default")
	}
	r := c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/settings"}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/settings" {
		t.Fatalf("switch language: %d %q", r.Status, r.Location)
	}
	r = c.get("/ui/settings")
	if !strings.Contains(r.Body, `<html lang="de">`) || !strings.Contains(r.Body, "Einstellungen") || !strings.Contains(r.Body, "Übersicht") {
		t.Fatalf("not German:\n%s", r.Body)
	}
	// The outbox banner is translated too.
	if !strings.Contains(r.Body, "Es werden keine Mails verschickt.") {
		t.Fatal("outbox banner missing or English")
	}
}

func TestUIOutboxBanner(t *testing.T) {
	for _, outboxOnly := range []bool{true, false} {
		env := newUIEnv(t, func(cfg *Config, _ *UIDeps) { cfg.OutboxOnly = outboxOnly })
		c := env.client()
		c.signIn()
		r := c.get("/ui/")
		if got := strings.Contains(r.Body, `class="banner outbox"`); got != outboxOnly {
			t.Errorf("OutboxOnly=%v: banner shown=%v", outboxOnly, got)
		}
	}
}

func TestUIDashboardCounts(t *testing.T) {
	env := newUIEnv(t)
	ctx := context.Background()
	err := env.db.Tx(ctx, func(tx *store.Tx) error {
		for i, st := range []string{"active", "active", "pending", "unsubscribed", "active"} {
			_, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
				VALUES (?, ?, ?, 0, 0)`, "p"+itoa(int64(i))+"@x.example", "p"+itoa(int64(i))+"@x.example", st)
			if err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT id, 1, 'active', 0, 0 FROM subscribers WHERE status = 'active'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/")
	for _, want := range []string{`<div class="n">5</div><div>All subscribers`, `<div class="n">3</div><div><a href="/ui/subscribers?status=active">active`,
		`<div class="n">1</div><div><a href="/ui/subscribers?status=pending">`, `<td class="num">3</td>`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.Body)
	}
}

func TestUIStatic(t *testing.T) {
	env := newUIEnv(t)
	c := env.client()
	r := c.get("/ui/login")
	m := regexp.MustCompile(`href="(/static/ui\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no versioned stylesheet link:\n%s", r.Body)
	}
	css := c.get(m[1])
	if css.Status != http.StatusOK || !strings.Contains(css.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(css.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("GET %s: %d %v", m[1], css.Status, css.Header)
	}
	if r := c.get("/static/vendor/"); r.Status != http.StatusNotFound {
		t.Fatalf("directory listing: %d", r.Status)
	}
	if r := c.get("/static/vendor/htmx-2.0.11.min.js"); r.Status != http.StatusOK {
		t.Fatalf("htmx: %d", r.Status)
	}
}

// TestUITranslations: every string a template or handler translates has a
// German entry, so switching to German never shows half the page in English.
func TestUITranslations(t *testing.T) {
	var missing []string
	check := func(where, key string) {
		if _, ok := uiGerman[key]; !ok {
			missing = append(missing, where+": "+key)
		}
	}
	tmplRe := regexp.MustCompile(`\{\{-?\s*t\s+"([^"]+)"`)
	attrRe := regexp.MustCompile(`\(t\s+"([^"]+)"`)
	files, _ := filepath.Glob("views/ui/*.html")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tmplRe.FindAllStringSubmatch(string(b), -1) {
			check(f, m[1])
		}
		for _, m := range attrRe.FindAllStringSubmatch(string(b), -1) {
			check(f, m[1])
		}
	}
	goRe := regexp.MustCompile(`u\.tr\(c, "([^"]+)"\)`)
	goFiles, _ := filepath.Glob("ui_*.go")
	for _, f := range goFiles {
		b, _ := os.ReadFile(f)
		for _, m := range goRe.FindAllStringSubmatch(string(b), -1) {
			key, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			check(f, key)
		}
	}
	for _, v := range uiFlashes {
		check("uiFlashes", v)
	}
	for _, n := range uiNav {
		check("uiNav", n.Label)
	}
	for _, m := range missing {
		t.Errorf("no German for %s", m)
	}
}

func fillParams(path string) string {
	return regexp.MustCompile(`:[a-z]+`).ReplaceAllString(path, "1")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUIOutbox(t *testing.T) {
	env := newUIEnv(t)
	ctx := context.Background()
	for i := 0; i < outboxPage+3; i++ {
		err := env.outbox.Send(ctx, &mailer.Message{From: "news@shop.example", To: "kim" + itoa(int64(i)) + "@example.com",
			Subject: "Frühling " + itoa(int64(i)), Text: "Hallo Kim,\nneue Ware.",
			HTML:   `<p style="color:#333">Hallo <b>Kim</b></p><script>parent.document.title="pwned"</script>`,
			ListID: "newsletter.shop.example", UnsubscribeURL: "http://treu.test/unsubscribe/tok", Kind: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/outbox")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Frühling 52") || strings.Contains(r.Body, ">Frühling 2<") {
		t.Fatalf("first page:\n%s", r.Body)
	}
	older := regexp.MustCompile(`href="(/ui/outbox\?before=\d+)"`).FindStringSubmatch(r.Body)
	if older == nil {
		t.Fatal("no link to older mail")
	}
	r = c.get(older[1])
	if !strings.Contains(r.Body, ">Frühling 0<") || strings.Contains(r.Body, `href="/ui/outbox?before=`) {
		t.Fatalf("second page:\n%s", r.Body)
	}
	id := regexp.MustCompile(`href="/ui/outbox/(\d+)">Frühling 0<`).FindStringSubmatch(r.Body)
	if id == nil {
		t.Fatal("no link to the mail")
	}
	r = c.get("/ui/outbox/" + id[1])
	if r.Status != http.StatusOK {
		t.Fatalf("mail page: %d", r.Status)
	}
	// The HTML part only inside a sandboxed srcdoc, escaped; never live in the page.
	if !regexp.MustCompile(`<iframe class="mailframe" sandbox="" [^>]*srcdoc="&lt;p style=&#34;color:#333&#34;&gt;Hallo &lt;b&gt;Kim`).MatchString(r.Body) {
		t.Fatalf("HTML part not in a sandboxed srcdoc:\n%s", r.Body)
	}
	if strings.Contains(r.Body, "<script>parent") || strings.Contains(r.Body, "<b>Kim</b>") {
		t.Fatal("mail HTML is live in the UI page")
	}
	for _, want := range []string{"Hallo Kim,\nneue Ware.", "List-Unsubscribe-Post", "&lt;newsletter.shop.example&gt;"} {
		if !strings.Contains(strings.ReplaceAll(r.Body, "\r\n", "\n"), want) {
			t.Errorf("mail page lacks %q\n%s", want, r.Body)
		}
	}
	raw := c.get("/ui/outbox/" + id[1] + "/raw")
	if raw.Status != http.StatusOK || !strings.HasPrefix(raw.Header.Get("Content-Type"), "message/rfc822") || !strings.Contains(raw.Body, "Subject:") {
		t.Fatalf("raw: %d %s", raw.Status, raw.Header.Get("Content-Type"))
	}
	if r := c.get("/ui/outbox/999999"); r.Status != http.StatusNotFound {
		t.Fatalf("unknown mail: %d", r.Status)
	}
}

// nopQueue accepts confirmation mails and drops them; these tests enroll
// with proven consent and need no mail.
type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, *store.Tx, *mailer.Message) (int64, error) { return 1, nil }

func withSubscribers(t *testing.T) (uiOption, **subscribers.Service) {
	var svc *subscribers.Service
	return func(_ *Config, d *UIDeps) {
		d.Subscribers = lateSubscribers{&svc}
	}, &svc
}

// lateSubscribers lets a test build the service after the env's database.
type lateSubscribers struct{ s **subscribers.Service }

func (l lateSubscribers) Get(ctx context.Context, ref string) (subscribers.Subscriber, error) {
	return (*l.s).Get(ctx, ref)
}
func (l lateSubscribers) Erase(ctx context.Context, ref string) error { return (*l.s).Erase(ctx, ref) }
func (l lateSubscribers) Lists(ctx context.Context) ([]subscribers.List, error) {
	return (*l.s).Lists(ctx)
}
func (l lateSubscribers) CreateList(ctx context.Context, slug, name, desc string) (subscribers.List, error) {
	return (*l.s).CreateList(ctx, slug, name, desc)
}

func newSubscribersEnv(t *testing.T) (*uiEnv, *subscribers.Service) {
	opt, svc := withSubscribers(t)
	env := newUIEnv(t, opt)
	s, err := subscribers.New(env.db, nopQueue{}, subscribers.Config{BaseURL: "http://treu.test", From: "news@shop.example",
		Secret: []byte("0123456789abcdef0123456789abcdef")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	*svc = s
	return env, s
}

func enroll(t *testing.T, s *subscribers.Service, email, name string, lists ...string) subscribers.Subscriber {
	t.Helper()
	no := false
	sub, _, err := s.Enroll(context.Background(), subscribers.EnrollInput{Email: email, Name: name, Lists: lists,
		DoubleOptIn: &no, Consent: &subscribers.ConsentInput{Text: "Ja, ich will den Newsletter.", Source: "checkout", IP: "192.0.2.7"}},
		subscribers.Meta{Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestUISubscribers(t *testing.T) {
	env, svc := newSubscribersEnv(t)
	ctx := context.Background()
	if _, err := svc.CreateList(ctx, "vip", "VIP", ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < subscriberPage+5; i++ {
		lists := []string{"newsletter"}
		if i%10 == 0 {
			lists = append(lists, "vip")
		}
		enroll(t, svc, "kunde"+itoa(int64(i))+"@example.com", "Kim "+itoa(int64(i)), lists...)
	}
	evil := enroll(t, svc, "evil@example.com", `<script>alert(1)</script>`)
	c := env.client()
	c.signIn()

	r := c.get("/ui/subscribers")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "evil@example.com") || strings.Contains(r.Body, ">kunde0@example.com<") {
		t.Fatalf("first page:\n%s", r.Body)
	}
	if strings.Contains(r.Body, "<script>alert(1)") || !strings.Contains(r.Body, "&lt;script&gt;alert(1)") {
		t.Fatal("a subscriber's name is not escaped")
	}
	more := regexp.MustCompile(`href="/ui/subscribers\?([^"]*before=\d+[^"]*)"`).FindStringSubmatch(r.Body)
	if more == nil {
		t.Fatal("no next page link")
	}
	r = c.get("/ui/subscribers?" + strings.ReplaceAll(more[1], "&amp;", "&"))
	if !strings.Contains(r.Body, ">kunde0@example.com<") || strings.Contains(r.Body, "evil@example.com<") {
		t.Fatalf("second page:\n%s", r.Body)
	}

	for _, tc := range []struct {
		query   string
		want    []string
		wantNot []string
	}{
		{"q=KIM+42", []string{">kunde42@example.com<"}, []string{">kunde41@example.com<"}},
		{"q=kunde4", []string{">kunde4@example.com<", ">kunde49@example.com<"}, []string{">kunde5@example.com<"}},
		{"q=%25", nil, []string{">kunde1@example.com<"}}, // % is literal, not a wildcard
		{"list=vip", []string{">kunde0@example.com<", ">kunde50@example.com<"}, []string{">kunde1@example.com<"}},
		{"list=vip&q=kunde5", []string{">kunde50@example.com<"}, []string{">kunde0@example.com<"}},
		{"status=pending", []string{"No subscribers match."}, []string{">kunde1@example.com<"}},
		{"status=active&q=evil", []string{">evil@example.com<"}, []string{">kunde1@example.com<"}},
	} {
		r := c.get("/ui/subscribers?" + tc.query)
		for _, w := range tc.want {
			if !strings.Contains(r.Body, w) {
				t.Errorf("%s: lacks %s", tc.query, w)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(r.Body, w) {
				t.Errorf("%s: has %s", tc.query, w)
			}
		}
	}

	r = c.get("/ui/subscribers/" + itoa(evil.ID))
	for _, want := range []string{"Ja, ich will den Newsletter.", "checkout", "192.0.2.7", "newsletter"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("detail page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "<script>alert(1)") {
		t.Fatal("name not escaped on the detail page")
	}

	r = c.post("/ui/subscribers/"+itoa(evil.ID)+"/erase", url.Values{"csrf": {c.csrfOf("/ui/")}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/subscribers?done=subscriber-erased" {
		t.Fatalf("erase: %d %q", r.Status, r.Location)
	}
	if _, err := svc.Get(ctx, itoa(evil.ID)); err == nil {
		t.Fatal("erased subscriber still there")
	}
	if r := c.get("/ui/subscribers/" + itoa(evil.ID)); r.Status != http.StatusNotFound {
		t.Fatalf("erased subscriber's page: %d", r.Status)
	}

	// Lists: create one; a bad slug is explained on the form.
	tok := c.csrfOf("/ui/lists")
	r = c.post("/ui/lists", url.Values{"csrf": {tok}, "slug": {"Bad Slug"}, "name": {"x"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Fatalf("bad slug: %d\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/lists", url.Values{"csrf": {tok}, "slug": {"stammkunden"}, "name": {"Stammkunden"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("create list: %d\n%s", r.Status, r.Body)
	}
	if r := c.get(r.Location); !strings.Contains(r.Body, "<code>stammkunden</code>") || !strings.Contains(r.Body, "List created.") {
		t.Fatal("new list not shown")
	}
}

// newCampaignEnv wires the real campaign engine, sending into the outbox.
func newCampaignEnv(t *testing.T) (*uiEnv, *campaigns.Engine, *subscribers.Service) {
	t.Helper()
	return newCampaignEnvWith(t, nil)
}

// newCampaignEnvWith is newCampaignEnv with another transport than the
// outbox (nil: the outbox) and further options.
func newCampaignEnvWith(t *testing.T, tr campaigns.Transport, opts ...uiOption) (*uiEnv, *campaigns.Engine, *subscribers.Service) {
	t.Helper()
	var eng *campaigns.Engine
	var svc *subscribers.Service
	env := newUIEnv(t, append([]uiOption{func(_ *Config, d *UIDeps) {
		d.Campaigns = lateCampaigns{&eng}
		d.Subscribers = lateSubscribers{&svc}
	}}, opts...)...)
	if tr == nil {
		tr = env.outbox
	}
	s, err := subscribers.New(env.db, nopQueue{}, subscribers.Config{BaseURL: "http://treu.test", From: "news@shop.example",
		Secret: []byte("0123456789abcdef0123456789abcdef")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc = s
	eng = campaigns.New(env.db, campaigns.Config{From: "news@shop.example", BaseURL: "http://treu.test",
		Footer: func(context.Context) (templates.Footer, error) {
			return templates.Footer{ShopName: "Laden am Eck", Impressum: "Laden am Eck GmbH, Hauptstr. 1, 10115 Berlin"}, nil
		}}, []campaigns.Transport{tr}, s, slog.New(slog.DiscardHandler))
	return env, eng, s
}

// lateCampaigns lets a test build the engine after the env's database.
type lateCampaigns struct{ e **campaigns.Engine }

func (l lateCampaigns) List(ctx context.Context, o campaigns.ListOptions) ([]campaigns.Campaign, error) {
	return (*l.e).List(ctx, o)
}
func (l lateCampaigns) Get(ctx context.Context, id int64) (campaigns.Campaign, error) {
	return (*l.e).Get(ctx, id)
}
func (l lateCampaigns) Create(ctx context.Context, in campaigns.Input) (campaigns.Campaign, error) {
	return (*l.e).Create(ctx, in)
}
func (l lateCampaigns) Update(ctx context.Context, id int64, in campaigns.Input) (campaigns.Campaign, error) {
	return (*l.e).Update(ctx, id, in)
}
func (l lateCampaigns) Preview(ctx context.Context, in campaigns.Input, sample int64) (templates.Rendered, error) {
	return (*l.e).Preview(ctx, in, sample)
}
func (l lateCampaigns) Test(ctx context.Context, id int64, emails []string) error {
	return (*l.e).Test(ctx, id, emails)
}
func (l lateCampaigns) Start(ctx context.Context, id int64) (campaigns.Campaign, error) {
	return (*l.e).Start(ctx, id)
}
func (l lateCampaigns) Pause(ctx context.Context, id int64) (campaigns.Campaign, error) {
	return (*l.e).Pause(ctx, id)
}
func (l lateCampaigns) Resume(ctx context.Context, id int64) (campaigns.Campaign, error) {
	return (*l.e).Resume(ctx, id)
}
func (l lateCampaigns) Cancel(ctx context.Context, id int64) (campaigns.Campaign, error) {
	return (*l.e).Cancel(ctx, id)
}
func (l lateCampaigns) PickWinner(ctx context.Context, id int64, v int) (campaigns.Campaign, error) {
	return (*l.e).PickWinner(ctx, id, v)
}
func (l lateCampaigns) ListLayouts(ctx context.Context) ([]campaigns.Layout, error) {
	return (*l.e).ListLayouts(ctx)
}

func TestUICampaigns(t *testing.T) {
	env, eng, svc := newCampaignEnv(t)
	ctx := context.Background()
	enroll(t, svc, "kim@example.com", "Kim Berger")
	c := env.client()
	c.signIn()

	r := c.get("/ui/campaigns/new")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `hx-post="/ui/campaigns/preview"`) {
		t.Fatalf("composer: %d\n%s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, "Audience now: <strong>1</strong>") {
		t.Errorf("audience count missing:\n%s", r.Body)
	}
	tok := c.csrfOf("/ui/campaigns/new")

	// The preview renders what is typed, with the real renderer.
	r = c.post("/ui/campaigns/preview", url.Values{"csrf": {tok}, "subject": {"Frühling bei uns"}, "lists": {"newsletter"},
		"markdown": {"# Neu da\n\nHallo {{ .FirstName }}, <b>fett</b>?"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `srcdoc="`) || !strings.Contains(r.Body, "Neu da") ||
		!strings.Contains(r.Body, "Laden am Eck GmbH") || strings.Contains(r.Body, "<html") {
		t.Fatalf("preview fragment: %d\n%s", r.Status, r.Body)
	}
	// A template error comes back as a message in the fragment.
	r = c.post("/ui/campaigns/preview", url.Values{"csrf": {tok}, "subject": {"x"}, "markdown": {"Hallo {{ .Nope"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `class="msg err"`) {
		t.Fatalf("preview of a broken template: %d\n%s", r.Status, r.Body)
	}

	// Save a broken one: the form comes back with what was typed.
	r = c.post("/ui/campaigns", url.Values{"csrf": {tok}, "name": {"Frühling"}, "subject": {"Frühling"}, "lists": {"newsletter"},
		"markdown": {"Hallo {{ .Nope"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Hallo {{ .Nope") || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Fatalf("broken save: %d\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/campaigns", url.Values{"csrf": {tok}, "name": {"Frühling"}, "subject": {"Frühling bei uns"},
		"lists": {"newsletter"}, "markdown": {"Hallo {{ .FirstName }}!"}})
	if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Location, "?done=campaign-saved") {
		t.Fatalf("save: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	page := strings.TrimSuffix(r.Location, "?done=campaign-saved")
	list, err := eng.List(ctx, campaigns.ListOptions{})
	if err != nil || len(list) != 1 || list[0].Subject != "Frühling bei uns" {
		t.Fatalf("saved campaigns: %+v %v", list, err)
	}
	id := itoa(list[0].ID)

	r = c.post(page+"/test", url.Values{"csrf": {tok}, "emails": {"me@shop.example"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("test send: %d\n%s", r.Status, r.Body)
	}
	mails, _ := env.outbox.List(ctx, 10, 0)
	if len(mails) != 1 || mails[0].Recipient != "me@shop.example" || !strings.Contains(mails[0].Subject, "Frühling bei uns") {
		t.Fatalf("test mail in the outbox: %+v", mails)
	}

	// Start; the engine is not running, so it stays running with one pending delivery.
	r = c.post(page+"/start", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Location, "done=campaign-started") {
		t.Fatalf("start: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	r = c.get(r.Location)
	if !strings.Contains(r.Body, "Campaign started.") || !strings.Contains(r.Body, `<progress class="progress" max="1" value="0"`) ||
		!strings.Contains(r.Body, "/ui/campaigns/"+id+"/pause") {
		t.Fatalf("running campaign page:\n%s", r.Body)
	}
	if strings.Contains(r.Body, `hx-post="/ui/campaigns/preview"`) || !strings.Contains(r.Body, `hx-get="/ui/campaigns/`+id+`/preview"`) {
		t.Error("a running campaign should show its saved preview, not the live editor")
	}
	if r := c.get("/ui/campaigns/" + id + "/preview"); !strings.Contains(r.Body, "Hallo Kim") && !strings.Contains(r.Body, "Hallo ") {
		t.Errorf("saved preview:\n%s", r.Body)
	}
	// Starting twice is a conflict shown on the page.
	if r := c.post(page+"/start", url.Values{"csrf": {tok}}); r.Status != http.StatusConflict {
		t.Fatalf("second start: %d", r.Status)
	}
	for _, step := range []string{"pause", "resume", "cancel"} {
		r := c.post(page+"/"+step, url.Values{"csrf": {tok}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", step, r.Status, r.Body)
		}
	}
	if cp, _ := eng.Get(ctx, list[0].ID); cp.Status != campaigns.Cancelled {
		t.Fatalf("status after cancel: %s", cp.Status)
	}
	r = c.get("/ui/campaigns")
	if !strings.Contains(r.Body, `href="/ui/campaigns/`+id+`">Frühling</a>`) || !strings.Contains(r.Body, "badge cancelled") {
		t.Fatalf("campaign list:\n%s", r.Body)
	}
	if r := c.get("/ui/"); !strings.Contains(r.Body, "Frühling bei uns") {
		t.Fatal("dashboard lacks the recent campaign")
	}
}
