package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/store"
)

// instance is a whole Treu started in-process on a free port with its data in
// a temp dir: the real binary minus os.Exit.
type instance struct {
	t     testing.TB
	base  string
	data  string
	token string
	app   *app
	stop  func()
}

// eventually waits until cond holds: the queue workers deliver in the
// background, so the test nudges them and re-checks (no scheduler involved).
func (in *instance) eventually(what string, cond func() bool) {
	in.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			in.t.Fatalf("timed out waiting for %s", what)
		}
		in.app.queue.Wake()
		time.Sleep(10 * time.Millisecond)
	}
}

// tickFlows does what the scheduler does at its next tick, now.
func (in *instance) tickFlows() {
	in.t.Helper()
	if _, err := in.app.flows.Tick(context.Background(), in.app.db.Now()); err != nil {
		in.t.Fatal(err)
	}
	in.app.queue.Wake()
}

func startTreu(t testing.TB, env map[string]string, args ...string) *instance {
	t.Helper()
	data := t.TempDir()
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "--data", data}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"token", "create", "--data", data, "--name", "test"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return serveTreu(t, data, strings.TrimSpace(out.String()), env, args...)
}

// serveTreu runs serve on an existing data dir (again, after a stop: a restart).
func serveTreu(t testing.TB, data, tok string, env map[string]string, args ...string) *instance {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		// The contact policy is off unless a test turns it on (its flags come
		// later and win): the other tests mail one person several times a
		// day, at whatever hour they run.
		base := []string{"--data", data, "--listen", "127.0.0.1:0", "--contact-per-day", "0", "--contact-per-week", "0", "--quiet-hours", "off"}
		done <- serve(ctx, append(base, args...), getenv, io.Discard, logs, ready)
	}()
	var a *app
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	in := &instance{t: t, base: "http://" + a.addr, data: data, token: tok, app: a}
	in.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}
	t.Cleanup(func() {
		if in.stop != nil {
			in.stop()
		}
	})
	return in
}

// do sends a request with the API token and decodes a JSON answer into out.
func (in *instance) do(method, path string, body any, out any) int {
	in.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, in.base+path, r)
	req.Header.Set("Authorization", "Bearer "+in.token)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			in.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestHealthMetricsAndAuth(t *testing.T) {
	in := startTreu(t, nil)
	var h map[string]string
	if st := in.do("GET", "/healthz", nil, &h); st != 200 || h["status"] != "ok" {
		t.Fatalf("healthz = %d %v", st, h)
	}
	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "treu_http_requests_total") || !strings.Contains(string(body), "treu_mail_queue") || !strings.Contains(string(body), "treu_subscribers") {
		t.Fatalf("metrics = %d\n%s", resp.StatusCode, body)
	}

	for _, auth := range []string{"", "Bearer ", "Bearer treu_wrong", "Basic abc"} {
		req, _ := http.NewRequest("GET", in.base+"/api/subscribers/1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 401 || e.Error == "" {
			t.Errorf("auth %q: status %d error %q; want 401 with a JSON error", auth, resp.StatusCode, e.Error)
		}
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	var cfg config
	fs := newFlagSet("serve", &cfg)
	env := map[string]string{"TREU_LISTEN": "0.0.0.0:9", "TREU_SHOP_NAME": "Env Shop", "TREU_FLOW_TICK": "5s"}
	if err := parseFlags(fs, []string{"--listen", "127.0.0.1:7"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7" || cfg.ShopName != "Env Shop" || cfg.FlowTick != 5*time.Second {
		t.Fatalf("cfg = %+v", cfg)
	}
	if err := parseFlags(newFlagSet("serve", &cfg), nil, func(k string) string {
		return map[string]string{"TREU_FLOW_TICK": "soon"}[k]
	}); err == nil || !strings.Contains(err.Error(), "TREU_FLOW_TICK") {
		t.Fatalf("bad env value: err = %v; want one naming TREU_FLOW_TICK", err)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"')\]]+/(confirm|unsubscribe|preferences)/[A-Za-z0-9_\-.]+`)

// link finds the first customer link of kind in a mail's text part.
func link(t *testing.T, p *mailer.Parsed, kind string) string {
	t.Helper()
	for _, m := range linkRE.FindAllStringSubmatch(p.Text, -1) {
		if m[1] == kind {
			return m[0]
		}
	}
	t.Fatalf("no %s link in mail %q:\n%s", kind, p.Subject, p.Text)
	return ""
}

func parse(t *testing.T, r smtptest.Received) *mailer.Parsed {
	t.Helper()
	p, err := mailer.ParseMessage(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnrollmentJourney walks a customer through everything the foundation
// promises: enroll, confirmation mail over SMTP, confirm, welcome mail with
// the list headers, one-click unsubscribe; then export and erase.
func TestEnrollmentJourney(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example",
		"--shop-name", "Bäckerei Süß", "--impressum", `Bäckerei Süß GmbH\nHauptstr. 1, 10115 Berlin`)

	var sub struct {
		ID     int64  `json:"id"`
		Email  string `json:"email"`
		Status string `json:"status"`
	}
	body := map[string]any{"email": "Kim@Example.com", "name": "Kim Müller", "locale": "de",
		"consent": map[string]string{"text": "Ja, ich möchte den Newsletter.", "ip": "203.0.113.7",
			"user_agent": "Firefox", "source": "checkout"}}
	if st := in.do("POST", "/api/subscribers", body, &sub); st != 201 || sub.Status != "pending" {
		t.Fatalf("enroll = %d %+v", st, sub)
	}
	// Idempotent: the same address again (any case) is the same subscriber.
	var again struct{ ID int64 }
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "kim@example.com"}, &again); st != 200 || again.ID != sub.ID {
		t.Fatalf("re-enroll = %d id %d, want 200 id %d", st, again.ID, sub.ID)
	}

	confirm := parse(t, smtpd.WaitFor(1, 20*time.Second)[0])
	if !strings.Contains(confirm.To, "<Kim@example.com>") || confirm.Header.Get("List-Unsubscribe") != "" {
		t.Fatalf("confirmation mail to %q with List-Unsubscribe %q", confirm.To, confirm.Header.Get("List-Unsubscribe"))
	}
	if !strings.Contains(confirm.Text, "Bäckerei Süß GmbH") {
		t.Errorf("confirmation mail lacks the Impressum:\n%s", confirm.Text)
	}
	confirmURL := link(t, confirm, "confirm")

	// A forged or altered token is a 4xx page and changes nothing.
	for _, bad := range []string{confirmURL[:len(confirmURL)-2] + "xx", in.base + "/confirm/abc", in.base + "/unsubscribe/" + strings.Repeat("A", 46)} {
		resp, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("GET %s = %d, want 4xx", bad, resp.StatusCode)
		}
	}

	// GET only shows the button: a link scanner confirms nobody.
	resp, err := http.Get(confirmURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `lang="de"`) || !strings.Contains(string(page), `method="post"`) {
		t.Fatalf("confirm page = %d\n%s", resp.StatusCode, page)
	}
	var pending struct{ Status string }
	if in.do("GET", "/api/subscribers/kim@example.com", nil, &pending); pending.Status != "pending" {
		t.Fatalf("GET /confirm confirmed: status %q", pending.Status)
	}
	resp, err = http.PostForm(confirmURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "bestätigt") {
		t.Fatalf("confirm = %d\n%s", resp.StatusCode, page)
	}
	var got struct {
		Status   string `json:"status"`
		Consents []struct {
			Action string `json:"action"`
		} `json:"consents"`
	}
	in.do("GET", "/api/subscribers/kim@example.com", nil, &got)
	if got.Status != "active" {
		t.Fatalf("after confirm status = %q", got.Status)
	}
	actions := map[string]bool{}
	for _, c := range got.Consents {
		actions[c.Action] = true
	}
	for _, want := range []string{"signup", "confirmation_sent", "confirmed"} {
		if !actions[want] {
			t.Errorf("consent log lacks %q: %+v", want, got.Consents)
		}
	}

	// The welcome mail is a marketing mail with every header API.md promises.
	in.tickFlows()
	welcome := parse(t, smtpd.WaitFor(2, 20*time.Second)[1])
	h := welcome.Header
	unsub := h.Get("List-Unsubscribe")
	if !strings.HasPrefix(unsub, "<"+in.base+"/unsubscribe/") || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
		h.Get("List-Id") == "" || h.Get("Message-Id") == "" || h.Get("Date") == "" || !strings.Contains(h.Get("Message-Id"), "@shop.example>") {
		t.Fatalf("welcome headers:\n%v", h)
	}
	if len(welcome.PartTypes) < 2 || welcome.PartTypes[0] != "text/plain" || welcome.PartTypes[1] != "text/html" {
		t.Errorf("welcome parts = %v, want text then HTML", welcome.PartTypes)
	}
	if !strings.Contains(welcome.Text, "Hauptstr. 1") || !strings.Contains(welcome.HTML, "Hauptstr. 1") {
		t.Errorf("welcome lacks the Impressum in the footer")
	}

	// GET only shows the page: a link scanner unsubscribes nobody.
	unsubURL := strings.Trim(strings.Fields(unsub)[0], "<>,")
	resp, err = http.Get(unsubURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	in.do("GET", "/api/subscribers/"+strconv.FormatInt(sub.ID, 10), nil, &got)
	if resp.StatusCode != 200 || got.Status != "active" {
		t.Fatalf("GET unsubscribe = %d, status %q; want 200 and still active", resp.StatusCode, got.Status)
	}
	// RFC 8058: one POST, no cookie, 200, never a redirect.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Post(unsubURL, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click POST = %d, want 200", resp.StatusCode)
	}
	in.do("GET", "/api/subscribers/"+strconv.FormatInt(sub.ID, 10), nil, &got)
	if got.Status != "unsubscribed" {
		t.Fatalf("after one-click status = %q", got.Status)
	}

	var exp map[string]any
	if st := in.do("GET", "/api/subscribers/kim@example.com/export", nil, &exp); st != 200 || exp["consents"] == nil {
		t.Fatalf("export = %d %v", st, exp)
	}
	if st := in.do("DELETE", "/api/subscribers/kim@example.com", nil, nil); st != 204 {
		t.Fatalf("erase = %d", st)
	}
	if st := in.do("GET", "/api/subscribers/kim@example.com", nil, nil); st != 404 {
		t.Fatalf("after erase get = %d, want 404", st)
	}
}

func TestSecondServeOnSameDataRefused(t *testing.T) {
	in := startTreu(t, nil)
	err := serve(context.Background(), []string{"--data", in.data, "--listen", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "another treu serve") {
		t.Fatalf("second serve: %v; want refused", err)
	}
}

func TestBackupWhileRunning(t *testing.T) {
	in := startTreu(t, nil)
	if st := in.do("POST", "/api/subscribers", `{"email":"keep@example.com"}`, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := run(context.Background(), []string{"backup", "--data", in.data, out}, func(string) string { return "" }, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file %v, %v; want mode 0600", st, err)
	}
	db, err := store.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM subscribers WHERE email = 'keep@example.com'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("backup holds %d, %v", n, err)
	}
	if err := run(context.Background(), []string{"backup", "--data", in.data, out}, func(string) string { return "" }, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}
}
