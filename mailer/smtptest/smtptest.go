// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port for tests: it records what it receives, can refuse chosen
// recipients with 4xx or 5xx, and can be stopped and started to simulate an
// outage.
//
//	srv := smtptest.Start(t)
//	tr, _ := mailer.NewSMTP(must(mailer.ParseSMTPURL(srv.URL())), log)
//	srv.SetReply(func(rcpt string) error { return smtptest.Temporary })
//	got := srv.WaitFor(3, 5*time.Second)
package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Received is one accepted message.
type Received struct {
	From string
	To   []string
	Data []byte // as received, CRLF line ends, dot-stuffing removed
}

// Ready-made refusals for SetReply.
var (
	Temporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	Permanent = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
)

// Server is an SMTP server on 127.0.0.1. Its methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	l        net.Listener
	msgs     []Received
	count    int           // accepted messages, kept or not
	discard  bool          // count only (benchmarks)
	changed  chan struct{} // closed and replaced whenever count grows
	reply    func(rcpt string) error
	dataFail func(rcpt string) error

	conns        atomic.Int64
	noPipelining atomic.Bool
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, changed: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// URL is a --smtp-url for this server (plain text, no auth).
func (s *Server) URL() string { return "smtp://" + s.addr + "?tls=none" }

// SetReply decides per recipient at RCPT time: nil accepts, an error refuses
// (Temporary, Permanent, or any *smtp.SMTPError). nil f accepts everyone.
func (s *Server) SetReply(f func(rcpt string) error) {
	s.mu.Lock()
	s.reply = f
	s.mu.Unlock()
}

// SetDataReply is like SetReply but answers after the message data, the way
// content filters refuse.
func (s *Server) SetDataReply(f func(rcpt string) error) {
	s.mu.Lock()
	s.dataFail = f
	s.mu.Unlock()
}

// Share refuses every nth call with err, for "a share of recipients fails".
func Share(n int, err error) func(string) error {
	var c atomic.Int64
	return func(string) error {
		if c.Add(1)%int64(n) == 0 {
			return err
		}
		return nil
	}
}

// Messages returns a copy of everything accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Count is the number of messages accepted, including discarded ones.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Discard makes the server count messages without keeping them, so a
// benchmark can push a million through without holding them in memory.
func (s *Server) Discard() {
	s.mu.Lock()
	s.discard = true
	s.mu.Unlock()
}

// Reset forgets the messages received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.msgs, s.count = nil, 0
	s.mu.Unlock()
}

// HidePipelining makes connections opened from now on leave PIPELINING
// (RFC 2920) out of the EHLO reply, so a client must wait for each reply.
// go-smtp always offers it (and accepts pipelined commands either way).
func (s *Server) HidePipelining() { s.noPipelining.Store(true) }

// Connections counts the connections accepted since Start.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// WaitFor waits until at least n messages have arrived and returns the kept
// ones; it fails the test after timeout. Call it from the test goroutine.
func (s *Server) WaitFor(n int, timeout time.Duration) []Received {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if s.count >= n {
			got := append([]Received(nil), s.msgs...)
			s.mu.Unlock()
			return got
		}
		changed, have := s.changed, s.count
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("smtptest: %d messages after %v, want %d", have, timeout, n)
			return nil
		}
	}
}

// Stop closes the listener and every open connection: the server is down.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, l := s.srv, s.l
	s.srv, s.l = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Close the listener ourselves too: go-smtp registers it only once its
		// Serve goroutine runs, which may be after this Close.
		_ = l.Close()
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	// Go listens with SO_REUSEADDR, so the port is free again at once.
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("smtptest: restart on %s: %v", s.addr, err)
	}
	s.serve(l)
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.conns.Add(1)
		return &session{s: s}, nil
	}))
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 32 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused connections after Stop are expected
	s.mu.Lock()
	s.srv, s.l = srv, l
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(listener{l, s}); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.t.Logf("smtptest: serve: %v", err)
		}
	}()
}

// listener hands go-smtp connections that can hide PIPELINING.
type listener struct {
	net.Listener
	s *Server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.s.noPipelining.Load() {
		return c, err
	}
	return hidingConn{c}, nil
}

// hidingConn drops the EHLO reply's PIPELINING line. go-smtp writes and
// flushes every reply line on its own, so that line is one whole Write.
type hidingConn struct{ net.Conn }

func (c hidingConn) Write(p []byte) (int, error) {
	if string(p) == "250-PIPELINING\r\n" {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	f := ss.s.reply
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.s.mu.Lock()
	discard := ss.s.discard
	ss.s.mu.Unlock()
	var buf bytes.Buffer
	w := io.Writer(&buf)
	if discard {
		w = io.Discard
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if f := ss.s.dataFail; f != nil && len(ss.to) > 0 {
		if err := f(ss.to[0]); err != nil {
			return err
		}
	}
	ss.s.count++
	if !ss.s.discard {
		ss.s.msgs = append(ss.s.msgs, Received{From: ss.from, To: append([]string(nil), ss.to...), Data: buf.Bytes()})
	}
	close(ss.s.changed)
	ss.s.changed = make(chan struct{})
	return nil
}

// String is for failure messages.
func (r Received) String() string {
	return fmt.Sprintf("from %s to %v, %d bytes", r.From, r.To, len(r.Data))
}
