package campaigns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// sink is a real SMTP server on loopback that keeps what it receives.
type sink struct {
	addr string
	srv  *smtp.Server

	mu    sync.Mutex
	got   map[string][]*mailer.Parsed // by recipient
	froms map[string]string           // envelope sender by recipient
	tries map[string]int              // RCPT attempts by recipient

	count atomic.Int64 // messages accepted
	down  atomic.Bool  // refuse everything: new connections are closed, MAIL gets 421
	// policy, if set, answers RCPT TO for a recipient's n-th attempt (1-based).
	policy func(rcpt string, n int) *smtp.SMTPError
	// onMessage, if set, runs after each accepted message with the running count.
	onMessage func(n int64)
	keepRaw   bool
}

func newSink(tb testing.TB, configure func(*sink)) *sink {
	tb.Helper()
	s := &sink{got: map[string][]*mailer.Parsed{}, froms: map[string]string{}, tries: map[string]int{}, keepRaw: true}
	if configure != nil {
		configure(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.ErrorLog = discardLogger{}
	go s.srv.Serve(&downListener{Listener: l, down: &s.down})
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// downListener closes new connections while the server is "down".
type downListener struct {
	net.Listener
	down *atomic.Bool
}

func (l *downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		c.Close()
	}
}

type sinkSession struct {
	s          *sink
	from, rcpt string
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpt = "", "" }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.down.Load() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available"}
	}
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.tries[to]++
	n := ss.s.tries[to]
	ss.s.mu.Unlock()
	if ss.s.policy != nil {
		if e := ss.s.policy(to, n); e != nil {
			return e
		}
	}
	ss.rcpt = to
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.keepRaw {
		p, err := mailer.ParseMessage(raw)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		ss.s.mu.Lock()
		ss.s.got[ss.rcpt] = append(ss.s.got[ss.rcpt], p)
		ss.s.froms[ss.rcpt] = ss.from
		ss.s.mu.Unlock()
	} else {
		ss.s.mu.Lock()
		ss.s.got[ss.rcpt] = append(ss.s.got[ss.rcpt], nil)
		ss.s.mu.Unlock()
	}
	n := ss.s.count.Add(1)
	if ss.s.onMessage != nil {
		ss.s.onMessage(n)
	}
	return nil
}

func (s *sink) received() map[string][]*mailer.Parsed {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]*mailer.Parsed, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

func (s *sink) smtpTransport(tb testing.TB, conns int) *mailer.SMTP {
	tb.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	tr, err := mailer.NewSMTP(mailer.SMTPConfig{Host: host, Port: p, TLS: "none", MaxConns: conns, Timeout: 5 * time.Second}, testLog())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

func testLog() *slog.Logger {
	if os.Getenv("TREU_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeLinks makes recognisable per-subscriber links.
type fakeLinks struct{}

func (fakeLinks) ManageURLs(id int64) (string, string) {
	return "https://shop.example/unsubscribe/tok" + strconv.FormatInt(id, 10),
		"https://shop.example/preferences/tok" + strconv.FormatInt(id, 10)
}

// person is one seeded subscriber.
type person struct {
	email, name, status string // status: active, pending, unsubscribed
	listStatus          string // on 'newsletter': active, unsubscribed, "" (none)
	city                string
	suppressed          bool
}

// seed inserts people fast, in one transaction.
func seed(tb testing.TB, db *store.DB, people []person) {
	tb.Helper()
	ctx := context.Background()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at)
			VALUES (?, lower(?), ?, 'de', json_object('city', ?), ?, 0, 0) RETURNING id`)
		if err != nil {
			return err
		}
		sub, err := tx.PrepareContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			VALUES (?, (SELECT id FROM lists WHERE slug = 'newsletter'), ?, 0, 0)`)
		if err != nil {
			return err
		}
		sup, err := tx.PrepareContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) VALUES (treu_sha256_hex(lower(?)), 'bounce', 0)`)
		if err != nil {
			return err
		}
		for _, p := range people {
			var id int64
			if err := ins.QueryRowContext(ctx, p.email, p.email, p.name, p.city, p.status).Scan(&id); err != nil {
				return err
			}
			if p.listStatus != "" {
				if _, err := sub.ExecContext(ctx, id, p.listStatus); err != nil {
					return err
				}
			}
			if p.suppressed {
				if _, err := sup.ExecContext(ctx, p.email); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func activePeople(n int) []person {
	out := make([]person, n)
	for i := range out {
		out[i] = person{email: fmt.Sprintf("kunde%d@example.com", i), name: fmt.Sprintf("Kim Muster%d", i),
			status: "active", listStatus: "active", city: "Berlin"}
	}
	return out
}

// testConfig is fast: short backoffs and polls so tests finish quickly.
func testConfig() Config {
	return Config{
		From: "news@shop.example", FromName: "Shop", BaseURL: "https://shop.example",
		BatchSize: 100, RetryBackoff: time.Millisecond, DownBackoff: 20 * time.Millisecond,
		MaxDownBackoff: 100 * time.Millisecond, DownAfter: 5, PollInterval: 50 * time.Millisecond,
		FlushInterval: 10 * time.Millisecond, Lease: 3 * time.Second,
	}
}

// harness is a database, an SMTP sink and an engine running against them.
type harness struct {
	db  *store.DB
	snk *sink
	e   *Engine
}

func newHarness(t *testing.T, cfg Config, configure func(*sink)) *harness {
	t.Helper()
	h := &harness{db: storetest.Open(t)}
	h.snk = newSink(t, configure)
	h.e = New(h.db, cfg, []Transport{h.snk.smtpTransport(t, 4)}, fakeLinks{}, testLog())
	return h
}

// run starts the engine's workers until the test ends.
func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func (h *harness) wait(t *testing.T, id int64, want ...Status) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := h.e.Wait(ctx, id, want...)
	if err != nil {
		t.Fatalf("waiting for campaign %d (status %s): %v", id, st, err)
	}
	return st
}

// eventually waits for a condition the engine reaches by itself (a condition
// wait, not a sleep standing in for a scheduler).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) deliveryCounts(t *testing.T, id int64) map[string]int {
	t.Helper()
	rows, err := h.db.Query(`SELECT status, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY status`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		rows.Scan(&s, &n)
		out[s] = n
	}
	return out
}

func mustCreate(t *testing.T, e *Engine, in Input) Campaign {
	t.Helper()
	c, err := e.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const personalMarkdown = `# Hallo {{ .FirstName }}!

Unsere Angebote für {{ .Attr "city" }}, exklusiv für {{ .Email }}.

* Eins
* Zwei

[Abmelden]({{ .UnsubscribeURL }})
`

var errStop = errors.New("stop")

func checkStatsAddUp(t *testing.T, s Stats) {
	t.Helper()
	if s.Sent+s.Failed+s.Pending+s.Skipped+s.Capped+s.Cancelled != s.Audience {
		t.Fatalf("stats do not add up: %+v", s)
	}
}

func has(s, sub string) bool { return strings.Contains(s, sub) }
