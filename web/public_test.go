package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/subscribers"
)

type pubEnv struct {
	t    testing.TB
	db   *store.DB
	subs *subscribers.Service
	s    *Server
}

func newPubEnv(t testing.TB) *pubEnv {
	t.Helper()
	db := storetest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := mailer.NewQueue(db, nil, log, mailer.QueueConfig{})
	subs, err := subscribers.New(db, q, subscribers.Config{
		BaseURL: "https://news.shop.example", From: "news@shop.example", ShopName: "Beispiel-Shop",
		Secret: []byte("0123456789abcdef0123456789abcdef"), Erasers: []subscribers.Eraser{q},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{echo: echo.New(), db: db, log: log, now: db.Now}
	s.echo.HTTPErrorHandler = s.errorHandler
	s.publicRoutes(subs)
	return &pubEnv{t: t, db: db, subs: subs, s: s}
}

func (e *pubEnv) do(method, path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w
}

var confirmRE = regexp.MustCompile(`/confirm/([A-Za-z0-9_-]+)`)

func (e *pubEnv) confirmToken(id int64) string {
	e.t.Helper()
	var msg string
	if err := e.db.QueryRow(`SELECT message FROM mail_queue WHERE subscriber_id = ? AND kind = 'confirm' ORDER BY id DESC LIMIT 1`, id).Scan(&msg); err != nil {
		e.t.Fatal(err)
	}
	var m mailer.Message
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		e.t.Fatal(err)
	}
	return confirmRE.FindStringSubmatch(m.Text)[1]
}

func wantPage(t *testing.T, w *httptest.ResponseRecorder, status int, lang string, contains ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d; want %d\n%s", w.Code, status, w.Body)
	}
	b := w.Body.String()
	if !strings.Contains(b, `<html lang="`+lang+`">`) {
		t.Fatalf("page not in %s:\n%s", lang, b)
	}
	for _, c := range contains {
		if !strings.Contains(b, c) {
			t.Fatalf("page lacks %q:\n%s", c, b)
		}
	}
	if w.Header().Get("Location") != "" {
		t.Fatal("redirect")
	}
}

func TestSubscribeForm(t *testing.T) {
	e := newPubEnv(t)
	w := e.do("GET", "/subscribe", nil, "Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	wantPage(t, w, 200, "de", `name="email"`, `<label for="email">`, "Double-Opt-in", `name="website"`)
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("cacheable")
	}

	// A bot fills the honeypot: same answer, nothing stored.
	w = e.do("POST", "/subscribe", url.Values{"email": {"bot@example.com"}, "website": {"http://spam"}, "lang": {"de"}, "lists": {"newsletter"}})
	wantPage(t, w, 200, "de", "Fast geschafft")
	if _, err := e.subs.Get(context.Background(), "bot@example.com"); err == nil {
		t.Fatal("honeypot post enrolled")
	}

	w = e.do("POST", "/subscribe", url.Values{"email": {"not an address"}, "lang": {"en"}, "lists": {"newsletter"}})
	wantPage(t, w, 422, "en", "valid email address", `value="not an address"`)

	w = e.do("POST", "/subscribe", url.Values{"email": {"kim@example.com"}, "name": {"Kim"}, "locale": {"de"}, "lang": {"de"}, "lists": {"newsletter"}},
		"User-Agent", "TestBrowser/1")
	wantPage(t, w, 200, "de", "Fast geschafft")
	s, err := e.subs.Get(context.Background(), "kim@example.com")
	if err != nil || s.Status != subscribers.StatusPending || s.Locale != "de" {
		t.Fatalf("%+v %v", s, err)
	}
	c := s.Consents[0]
	if c.Channel != subscribers.ChannelForm || c.Text != consentText("de", "Beispiel-Shop") || c.IP != "192.0.2.1" || c.UserAgent != "TestBrowser/1" {
		t.Fatalf("consent = %+v", c)
	}
	// Enrolling again looks the same (nobody learns who subscribes).
	w = e.do("POST", "/subscribe", url.Values{"email": {"kim@example.com"}, "lang": {"de"}, "lists": {"newsletter"}})
	wantPage(t, w, 200, "de", "Fast geschafft")

	// Rate limit: 5 at once per address, then 429. Three used above (the invalid one counts too).
	for range 2 {
		e.do("POST", "/subscribe", url.Values{"email": {"x@example.com"}, "lists": {"newsletter"}})
	}
	w = e.do("POST", "/subscribe", url.Values{"email": {"y@example.com"}, "lang": {"en"}, "lists": {"newsletter"}})
	wantPage(t, w, 429, "en", "Too many")
}

func TestConfirmUnsubscribePreferencesPages(t *testing.T) {
	e := newPubEnv(t)
	ctx := context.Background()
	s, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "lea@example.com", Locale: "de"}, subscribers.Meta{Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.confirmToken(s.ID)
	// GET only shows the button (link scanners open every link); POST confirms.
	wantPage(t, e.do("GET", "/confirm/"+tok, nil), 200, "de", `method="post" action="/confirm/`+tok+`"`, "Anmeldung bestätigen")
	wantPage(t, e.do("GET", "/confirm/"+tok, nil), 200, "de", "Anmeldung bestätigen")
	if got, _ := e.subs.Get(ctx, "lea@example.com"); got.Status != subscribers.StatusPending {
		t.Fatalf("GET confirmed: status %s", got.Status)
	}
	wantPage(t, e.do("POST", "/confirm/"+tok, url.Values{}), 200, "de", "bestätigt")
	if got, _ := e.subs.Get(ctx, "lea@example.com"); got.Status != subscribers.StatusActive {
		t.Fatalf("POST did not confirm: status %s", got.Status)
	}
	wantPage(t, e.do("POST", "/confirm/"+tok, url.Values{}), 200, "de", "bestätigt") // twice is fine
	wantPage(t, e.do("GET", "/confirm/"+tok, nil), 200, "de", "Ihre Anmeldung ist bestätigt")
	wantPage(t, e.do("GET", "/confirm/AAAA"+tok[4:], nil, "Accept-Language", "en"), 404, "en", "not valid")
	wantPage(t, e.do("POST", "/confirm/AAAA"+tok[4:], url.Values{}, "Accept-Language", "en"), 404, "en", "not valid")
	wantPage(t, e.do("GET", "/confirm/x", nil, "Accept-Language", "de"), 404, "de", "ungültig")

	manage := e.subs.ManageToken(s.ID)
	// GET only shows the button.
	wantPage(t, e.do("GET", "/unsubscribe/"+manage, nil), 200, "de", `method="post"`, "Jetzt abmelden")
	if got, _ := e.subs.Get(ctx, "lea@example.com"); got.Status != subscribers.StatusActive {
		t.Fatal("GET unsubscribed")
	}
	// Preferences: switch language, keep the list.
	wantPage(t, e.do("GET", "/preferences/"+manage, nil), 200, "de", `value="newsletter" checked`, "lea@example.com")
	w := e.do("POST", "/preferences/"+manage, url.Values{"name": {"Lea"}, "locale": {"en"}, "lists": {"newsletter"}, "action": {"save"}})
	wantPage(t, w, 200, "en", "preferences are saved")
	w = e.do("POST", "/preferences/"+manage, url.Values{"name": {"Lea\x01"}, "locale": {"en"}, "lists": {"newsletter"}})
	wantPage(t, w, 422, "en", "at most 200 characters")

	// RFC 8058 one-click: 200, a page, no redirect.
	r := httptest.NewRequest("POST", "/unsubscribe/"+manage, strings.NewReader("List-Unsubscribe=One-Click"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	wantPage(t, w, 200, "en", "Unsubscribed")
	got, _ := e.subs.Get(ctx, "lea@example.com")
	if got.Status != subscribers.StatusUnsubscribed || got.Consents[len(got.Consents)-1].Channel != subscribers.ChannelOneClick {
		t.Fatalf("after one-click: %+v", got)
	}
	wantPage(t, e.do("POST", "/unsubscribe/"+manage, url.Values{"source": {"page"}}), 200, "en", "Unsubscribed")
	wantPage(t, e.do("POST", "/unsubscribe/"+manage[:10], nil), 404, "en")
}

func TestIPLimiterBounded(t *testing.T) {
	l := newIPLimiter(1, 2, 100)
	now := time.Unix(1000, 0)
	if !l.allow("2001:db8::1", now) || !l.allow("2001:db8::2", now) || l.allow("2001:db8::3", now) {
		t.Fatal("one /64 must share a bucket of 2")
	}
	for i := range 1000 {
		l.allow(netipFrom(i), now)
	}
	if len(l.buckets) > 100 {
		t.Fatalf("%d buckets; bound is 100", len(l.buckets))
	}
}

func netipFrom(i int) string {
	return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
}
