package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// uiEnv is a running Treu HTTP server on a real database, with one UI user.
type uiEnv struct {
	outbox   *mailer.Outbox
	queue    *mailer.Queue // single mails (invitations); run with queue.ProcessDue
	t        *testing.T
	srv      *Server
	ts       *httptest.Server
	db       *store.DB
	accounts *accounts.Service
	email    string
	password string
}

type uiOption func(*Config, *UIDeps)

func newUIEnv(t *testing.T, opts ...uiOption) *uiEnv {
	t.Helper()
	db := storetest.Open(t)
	cfg := Config{BaseURL: "http://treu.test", OutboxOnly: true}
	deps := UIDeps{
		SessionKey: []byte("0123456789abcdef0123456789abcdef-test-only"),
		Settings: UISettings{ShopName: "Laden am Eck", SMTPURL: "smtp://mailer:s3cret@smtp.example:587?tls=starttls",
			From: "news@shop.example", BaseURL: "http://treu.test", Impressum: "Laden am Eck GmbH\nHauptstr. 1\n10115 Berlin"},
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	if deps.Outbox == nil {
		deps.Outbox = mailer.NewOutbox(db, log)
	}
	ob, _ := deps.Outbox.(*mailer.Outbox)
	var queue *mailer.Queue
	var accOpts []accounts.Option
	if ob != nil {
		// Invitations go through the queue into the outbox, as without SMTP.
		queue = mailer.NewQueue(db, ob, log, mailer.QueueConfig{})
		accOpts = append(accOpts, accounts.WithInvitations(accounts.InviteConfig{
			Secret: deps.SessionKey, Mail: queue, From: "treu@shop.example", BaseURL: cfg.BaseURL}))
	}
	acc := accounts.New(db, accOpts...)
	srv := New(cfg, Deps{DB: db, Accounts: acc, Metrics: NewMetrics(), Log: log, UI: deps})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	env := &uiEnv{t: t, outbox: ob, queue: queue, srv: srv, ts: ts, db: db, accounts: acc,
		email: "maria@shop.example", password: "correct horse battery"}
	if _, err := acc.AddUser(context.Background(), env.email, env.password, accounts.RoleOwner); err != nil {
		t.Fatal(err)
	}
	return env
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// uiClient is a browser without JavaScript: a cookie jar, and redirects are
// not followed so tests can assert on them.
type uiClient struct {
	env *uiEnv
	c   *http.Client
}

func (e *uiEnv) client() *uiClient {
	jar, _ := cookiejar.New(nil)
	return &uiClient{env: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type uiResp struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func (c *uiClient) do(req *http.Request) uiResp {
	c.env.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return uiResp{Status: res.StatusCode, Body: string(b), Location: res.Header.Get("Location"), Header: res.Header}
}

func (c *uiClient) get(path string) uiResp {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.env.ts.URL+path, nil)
	return c.do(req)
}

// post sends a form. The CSRF token is whatever form contains: tests that
// want a valid one take it from a page with csrfOf.
func (c *uiClient) post(path string, form url.Values) uiResp {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.env.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of the forms on page path.
func (c *uiClient) csrfOf(path string) string {
	c.env.t.Helper()
	r := c.get(path)
	m := csrfRe.FindStringSubmatch(r.Body)
	if m == nil {
		c.env.t.Fatalf("GET %s: no CSRF token in page (status %d)", path, r.Status)
	}
	return m[1]
}

// signIn signs the client in as the env's user.
func (c *uiClient) signIn() {
	c.env.t.Helper()
	tok := c.csrfOf("/ui/login")
	r := c.post("/ui/login", url.Values{"csrf": {tok}, "email": {c.env.email}, "password": {c.env.password}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/" {
		c.env.t.Fatalf("sign in: %d %q\n%s", r.Status, r.Location, r.Body)
	}
}
