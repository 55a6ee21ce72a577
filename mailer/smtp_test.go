package mailer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer/smtptest"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want SMTPConfig
	}{
		{"smtp://mail.example.com", SMTPConfig{Host: "mail.example.com", Port: 587, TLS: "starttls", MaxConns: 4, Timeout: defaultTimeout}},
		{"smtp://u%40x:p%3Ass@mail.example.com?tls=tls", SMTPConfig{Host: "mail.example.com", Port: 465, TLS: "tls", Username: "u@x", Password: "p:ss", MaxConns: 4, Timeout: defaultTimeout}},
		{"smtp://localhost?tls=none", SMTPConfig{Host: "localhost", Port: 25, TLS: "none", MaxConns: 4, Timeout: defaultTimeout}},
		{"smtps://mail.example.com", SMTPConfig{Host: "mail.example.com", Port: 465, TLS: "tls", MaxConns: 4, Timeout: defaultTimeout}},
		{"smtp://u:p@[::1]:2525?tls=none&max_conns=10&rate=12.5&insecure_skip_verify=1&auth=plain&timeout=5s&helo=me.example",
			SMTPConfig{Host: "::1", Port: 2525, TLS: "none", Username: "u", Password: "p", Auth: "plain", MaxConns: 10, Rate: 12.5,
				InsecureSkipVerify: true, Timeout: 5 * time.Second, HELO: "me.example"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseSMTPURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{
		"", "http://mail.example.com", "smtp://", "smtp://h?tls=ssl", "smtp://h?max_conns=0",
		"smtp://h?max_conns=x", "smtp://h?rate=-1", "smtp://h?rate=NaN", "smtp://h:99999", "smtp://h?maxconns=3",
		"smtp://h/path", "smtp://user:secret@h?auth=magic",
	} {
		_, err := ParseSMTPURL(bad)
		if e, ok := errs.As(err); !ok || e.Field != "smtp_url" {
			t.Errorf("%q: err = %v, want Invalid smtp_url", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error leaks the password: %v", bad, err)
		}
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	f.Add("smtp://u:p@h:25?tls=none&max_conns=2&rate=1")
	f.Add("smtps://h")
	f.Add("smtp://[::1]:x")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseSMTPURL(s)
		if err != nil {
			if cfg != (SMTPConfig{}) {
				t.Fatal("config returned with an error")
			}
			return
		}
		if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 || cfg.MaxConns < 1 || cfg.Rate < 0 {
			t.Fatalf("accepted %q as %+v", s, cfg)
		}
	})
}

func newTestSMTP(t testing.TB, srv interface{ URL() string }, query string) *SMTP {
	t.Helper()
	cfg, err := ParseSMTPURL(srv.URL() + query)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSMTP(cfg, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func msgTo(to string) *Message {
	m := testMessage()
	m.To = to
	return m
}

func TestSMTPSendDelivers(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "")
	ctx := context.Background()
	if err := s.Send(ctx, testMessage()); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(1, 5*time.Second)
	if got[0].From != "news@shop.example" || len(got[0].To) != 1 || got[0].To[0] != "kunde@example.org" {
		t.Fatalf("envelope = %v", got[0])
	}
	p, err := ParseMessage(got[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != testMessage().Subject || p.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("received %q / %v", p.Subject, p.Header)
	}
}

func TestSMTPReusesConnections(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "&max_conns=3")
	ctx := context.Background()
	for i := range 10 {
		if err := s.Send(ctx, msgTo(fmt.Sprintf("seq%d@example.org", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Fatalf("sequential sends used %d connections, want 1", n)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 60)
	for i := range 60 {
		wg.Go(func() { errc <- s.Send(ctx, msgTo(fmt.Sprintf("par%d@example.org", i))) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	srv.WaitFor(70, 5*time.Second)
	if n := srv.Connections(); n > 3 {
		t.Fatalf("parallel sends opened %d connections, max_conns is 3", n)
	}
}

// TestSMTPErrorsClassified runs on both paths: pipelined (go-smtp offers
// PIPELINING) and one command at a time (the offer hidden).
func TestSMTPErrorsClassified(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) { testSMTPErrorsClassified(t, pipelining) })
	}
}

func testSMTPErrorsClassified(t *testing.T, pipelining bool) {
	srv := smtptest.Start(t)
	if !pipelining {
		srv.HidePipelining()
	}
	s := newTestSMTP(t, srv, "")
	ctx := context.Background()
	if err := s.Send(ctx, msgTo("first@example.org")); err != nil {
		t.Fatal(err)
	}
	if cn := <-s.idle; cn.pipelining != pipelining {
		t.Fatalf("connection pipelining = %v, want %v", cn.pipelining, pipelining)
	} else {
		s.idle <- cn
	}
	srv.Reset()
	srv.SetReply(func(rcpt string) error {
		switch {
		case strings.HasPrefix(rcpt, "later"):
			return smtptest.Temporary
		case strings.HasPrefix(rcpt, "gone"):
			return smtptest.Permanent
		}
		return nil
	})
	err := s.Send(ctx, msgTo("later@example.org"))
	var se *SendError
	if !errors.As(err, &se) || !se.Temporary || se.Code != 451 || !strings.Contains(se.Reply, "Try again later") || !IsTemporary(err) {
		t.Fatalf("451: err = %#v", err)
	}
	err = s.Send(ctx, msgTo("gone@example.org"))
	if !errors.As(err, &se) || se.Temporary || se.Code != 550 || !strings.Contains(se.Reply, "No such user") || IsTemporary(err) {
		t.Fatalf("550: err = %#v", err)
	}
	// Refused after the data, as content filters do.
	srv.SetDataReply(func(string) error { return smtptest.Permanent })
	if err := s.Send(ctx, msgTo("ok@example.org")); !errors.As(err, &se) || se.Code != 550 || se.Temporary {
		t.Fatalf("550 after DATA: err = %v", err)
	}
	srv.SetDataReply(func(string) error { return smtptest.Temporary })
	if err := s.Send(ctx, msgTo("ok@example.org")); !errors.As(err, &se) || se.Code != 451 || !se.Temporary {
		t.Fatalf("451 after DATA: err = %v", err)
	}
	srv.SetDataReply(nil)
	// The connection survived all four refusals.
	if err := s.Send(ctx, msgTo("ok@example.org")); err != nil {
		t.Fatal(err)
	}
	if n := srv.Connections(); n != 1 {
		t.Fatalf("refusals cost connections: %d, want 1", n)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].To[0] != "ok@example.org" {
		t.Fatalf("accepted %v", got)
	}
	if err := s.Send(ctx, &Message{From: "a@b.example", To: "x", Subject: "s", Text: "t"}); !errs.Is(err, errs.Invalid) || IsTemporary(err) {
		t.Fatalf("invalid message: err = %v", err)
	}
}

func TestSMTPDowntimeAndReconnect(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "")
	ctx := context.Background()
	if err := s.Send(ctx, msgTo("a@example.org")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	err := s.Send(ctx, msgTo("b@example.org"))
	var se *SendError
	if !errors.As(err, &se) || !se.Temporary || se.Code != 0 {
		t.Fatalf("server down: err = %#v, want temporary without code", err)
	}
	srv.Restart()
	// The pooled connection died with the old server; Send must notice and redial.
	if err := s.Send(ctx, msgTo("c@example.org")); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got := srv.Messages(); len(got) != 2 || got[1].To[0] != "c@example.org" {
		t.Fatalf("messages %v", got)
	}
}

func TestSMTPStaleConnectionRetriedOnce(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "")
	ctx := context.Background()
	if err := s.Send(ctx, msgTo("a@example.org")); err != nil {
		t.Fatal(err)
	}
	// The server drops idle connections (restart) while we keep ours pooled.
	srv.Stop()
	srv.Restart()
	if err := s.Send(ctx, msgTo("b@example.org")); err != nil {
		t.Fatalf("stale connection not replaced: %v", err)
	}
	if n := srv.Connections(); n != 2 {
		t.Fatalf("connections = %d, want 2", n)
	}
}

func TestSMTPCloseAndCancel(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "&max_conns=1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cn, _ := s.acquire(context.Background()) // hold the only connection
	if err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
	s.release(cn)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage()); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestSMTPRateConfigured(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "&rate=500")
	if s.limiter == nil || s.limiter.Limit() != 500 || s.limiter.Burst() != 5 {
		t.Fatalf("limiter = %v", s.limiter)
	}
	if u := newTestSMTP(t, srv, ""); u.limiter != nil {
		t.Fatal("rate 0 must mean unlimited")
	}
}

func TestMultiFailsOver(t *testing.T) {
	up, down := smtptest.Start(t), smtptest.Start(t)
	a, b := newTestSMTP(t, up, ""), newTestSMTP(t, down, "")
	down.Stop()
	m := NewMulti(a, b)
	for i := range 6 {
		if err := m.Send(context.Background(), msgTo(fmt.Sprintf("r%d@example.org", i))); err != nil {
			t.Fatal(err)
		}
	}
	up.WaitFor(6, 5*time.Second)
	// A refusal by a working server is the answer, not a reason to try the next one.
	up.SetReply(func(string) error { return smtptest.Permanent })
	if err := m.Send(context.Background(), testMessage()); IsTemporary(err) || err == nil {
		t.Fatalf("permanent refusal: %v", err)
	}
}

// smallMessage is a ~3 KB newsletter (3,0xx bytes built), the size the
// campaign engine's throughput target is stated for.
func smallMessage() *Message {
	m := testMessage()
	m.Text = strings.Repeat("Unsere neuen Angebote für Sie: Äpfel, Birnen und mehr. https://shop.example/p/123\n", 10)
	m.HTML = strings.Repeat(`<tr><td style="padding:8px"><a href="https://shop.example/p/123">Äpfel</a> nur 1,99 €</td></tr>`+"\n", 9)
	return m
}

// BenchmarkSMTPSend pushes mail through the pool to an in-process go-smtp
// sink over loopback TCP (which shares the CPU with the sender), pipelined
// and, with the server's PIPELINING offer hidden, one command at a time.
// There are twice as many senders as connections, as when the campaign
// engine's workers outnumber the pool, so a connection never waits for a
// message to be built.
func BenchmarkSMTPSend(b *testing.B) {
	for _, size := range []struct {
		name string
		m    func() *Message
	}{{"3k", smallMessage}, {"17k", benchMessage}} {
		for _, pipelining := range []bool{true, false} {
			for _, conns := range []int{4, 8} {
				name := fmt.Sprintf("size=%s/pipelining=%v/conns=%d", size.name, pipelining, conns)
				b.Run(name, func(b *testing.B) {
					srv := smtptest.Start(b)
					srv.Discard()
					if !pipelining {
						srv.HidePipelining()
					}
					benchSend(b, newTestSMTP(b, srv, fmt.Sprintf("&max_conns=%d", conns)), size.m(), conns)
				})
			}
		}
	}
}

var benchAddr = flag.String("smtp-addr", "", "host:port of an SMTP sink (plain text, no auth) for BenchmarkSMTPSendAddr, e.g. Postfix's smtp-sink")

// BenchmarkSMTPSendAddr is BenchmarkSMTPSend against an outside sink:
//
//	smtp-sink -c 127.0.0.1:2525 1000 &
//	go test -run - -bench SMTPSendAddr ./mailer -args -smtp-addr 127.0.0.1:2525
func BenchmarkSMTPSendAddr(b *testing.B) {
	if *benchAddr == "" {
		b.Skip("no -smtp-addr")
	}
	for _, conns := range []int{4, 8} {
		b.Run(fmt.Sprintf("size=3k/conns=%d", conns), func(b *testing.B) {
			benchSend(b, newTestSMTP(b, &fakeURL{*benchAddr}, fmt.Sprintf("&max_conns=%d", conns)), smallMessage(), conns)
		})
	}
}

func benchSend(b *testing.B, s *SMTP, m *Message, conns int) {
	if err := s.Send(context.Background(), m); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	raw, _ := Build(m, t0)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.SetParallelism(max(1, 2*conns/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
