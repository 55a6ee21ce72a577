package mailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// scripted is a hand-driven SMTP server for what go-smtp cannot be made to
// do (refuse DATA itself, answer 354 after refusing every recipient) and to
// see exactly what the client writes. It accepts one connection only: a
// client that redials fails.
type scripted struct {
	t    *testing.T
	addr string
	conn chan *textproto.Conn
}

func startScripted(t *testing.T) *scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc := &scripted{t: t, addr: l.Addr().String(), conn: make(chan *textproto.Conn, 1)}
	go func() {
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := textproto.NewConn(c)
		t.Cleanup(func() { tc.Close() })
		sc.conn <- tc
	}()
	t.Cleanup(func() { l.Close() })
	return sc
}

// session accepts the connection and does the greeting and EHLO.
func (sc *scripted) session(ehlo ...string) *textproto.Conn {
	sc.t.Helper()
	var tc *textproto.Conn
	select {
	case tc = <-sc.conn:
	case <-time.After(10 * time.Second):
		sc.t.Fatal("scripted: no connection")
	}
	sc.reply(tc, "220 scripted ESMTP")
	sc.expect(tc, "EHLO ")
	sc.reply(tc, append([]string{"250-scripted"}, ehlo...)...)
	return tc
}

// expect reads one line per prefix; each must start with it.
func (sc *scripted) expect(tc *textproto.Conn, prefixes ...string) {
	sc.t.Helper()
	for _, p := range prefixes {
		line, err := tc.ReadLine()
		if err != nil {
			sc.t.Fatalf("scripted: want %q: %v", p, err)
		}
		if !strings.HasPrefix(line, p) {
			sc.t.Fatalf("scripted: got %q, want %q", line, p)
		}
	}
}

// reply sends lines in one write, after the client has written everything
// expected so far: a client that waits for a reply before the next command
// of a group never gets one.
func (sc *scripted) reply(tc *textproto.Conn, lines ...string) {
	sc.t.Helper()
	for _, l := range lines {
		tc.W.WriteString(l + "\r\n")
	}
	if err := tc.W.Flush(); err != nil {
		sc.t.Fatal(err)
	}
}

// content reads the mail up to ".", undoing dot-stuffing.
func (sc *scripted) content(tc *textproto.Conn) []byte {
	sc.t.Helper()
	b, err := tc.ReadDotBytes()
	if err != nil {
		sc.t.Fatal(err)
	}
	return b
}

func sendAsync(s *SMTP, m *Message) chan error {
	errc := make(chan error, 1)
	go func() { errc <- s.Send(context.Background(), m) }()
	return errc
}

func wantSendError(t *testing.T, err error, code int, temporary bool, reply string) {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) || se.Code != code || se.Temporary != temporary || !strings.Contains(se.Reply, reply) {
		t.Fatalf("err = %v, want %d %q temporary=%v", err, code, reply, temporary)
	}
}

func TestSMTPPipelinedTransactions(t *testing.T) {
	sc := startScripted(t)
	s := newTestSMTP(t, &fakeURL{sc.addr}, "&timeout=10s")
	cmds := []string{"MAIL FROM:<news@shop.example> BODY=8BITMIME", "RCPT TO:<", "DATA"}

	// A refused recipient: DATA refused too, no content, RSET, verdict 550.
	errc := sendAsync(s, msgTo("gone@example.org"))
	tc := sc.session("250-PIPELINING", "250 8BITMIME")
	sc.expect(tc, cmds...) // all three before any reply: pipelined
	sc.reply(tc, "250 2.1.0 Ok", "550 5.1.1 No such user here", "554 5.5.1 Error: no valid recipients")
	sc.expect(tc, "RSET")
	sc.reply(tc, "250 2.0.0 Ok")
	wantSendError(t, <-errc, 550, false, "No such user here")

	// DATA itself refused with 451: no content, RSET, temporary.
	errc = sendAsync(s, msgTo("later@example.org"))
	sc.expect(tc, cmds...)
	sc.reply(tc, "250 2.1.0 Ok", "250 2.1.5 Ok", "451 4.3.0 Try again later")
	sc.expect(tc, "RSET")
	sc.reply(tc, "250 2.0.0 Ok")
	wantSendError(t, <-errc, 451, true, "Try again later")

	// A server that answers 354 although the only recipient was refused
	// (RFC 2920 3.1) gets an empty message, not the mail.
	errc = sendAsync(s, msgTo("gone@example.org"))
	sc.expect(tc, cmds...)
	sc.reply(tc, "250 2.1.0 Ok", "550 5.1.1 No such user here", "354 End data with <CR><LF>.<CR><LF>")
	sc.expect(tc, ".")
	sc.reply(tc, "554 5.5.1 Error: no valid recipients")
	sc.expect(tc, "RSET")
	sc.reply(tc, "250 2.0.0 Ok")
	wantSendError(t, <-errc, 550, false, "No such user here")

	// MAIL refused: the RCPT and DATA replies are read too, then RSET.
	errc = sendAsync(s, msgTo("x@example.org"))
	sc.expect(tc, cmds...)
	sc.reply(tc, "452 4.3.1 Insufficient system storage", "503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need RCPT command")
	sc.expect(tc, "RSET")
	sc.reply(tc, "250 2.0.0 Ok")
	wantSendError(t, <-errc, 452, true, "Insufficient system storage")

	// Delivered, on the same connection, with a multi-line reply and a line
	// that needs dot-stuffing.
	m := msgTo("kunde@example.org")
	m.HTML = ""
	m.Text = "Hallo,\n.\n..zwei Punkte\nEnde\n"
	errc = sendAsync(s, m)
	sc.expect(tc, cmds...)
	sc.reply(tc, "250 2.1.0 Ok", "250-2.1.5 Ok", "250 2.1.5 really", "354 go ahead")
	got := sc.content(tc)
	sc.reply(tc, "250 2.0.0 Ok: queued as 1")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, []byte("\n\nHallo,\n.\n..zwei Punkte\nEnde\n")) {
		t.Fatalf("content ends %q", got[max(0, len(got)-60):])
	}
}

// A server without PIPELINING gets one command at a time: the scripted
// server replies to each before the next may come.
func TestSMTPWithoutPipelining(t *testing.T) {
	sc := startScripted(t)
	s := newTestSMTP(t, &fakeURL{sc.addr}, "&timeout=10s")
	errc := sendAsync(s, testMessage())
	tc := sc.session("250 8BITMIME")
	for _, step := range [][2]string{
		{"MAIL FROM:<news@shop.example> BODY=8BITMIME", "250 Ok"},
		{"RCPT TO:<kunde@example.org>", "250 Ok"},
		{"DATA", "354 go ahead"},
	} {
		sc.expect(tc, step[0])
		sc.reply(tc, step[1])
	}
	sc.content(tc)
	sc.reply(tc, "250 Ok")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// The connection breaks after a refusal was read: the refusal is the
// verdict, and the next mail gets a fresh connection.
func TestSMTPPipelinedBrokenAfterRefusal(t *testing.T) {
	sc := startScripted(t)
	s := newTestSMTP(t, &fakeURL{sc.addr}, "&timeout=10s")
	errc := sendAsync(s, msgTo("gone@example.org"))
	tc := sc.session("250 PIPELINING")
	sc.expect(tc, "MAIL", "RCPT", "DATA")
	sc.reply(tc, "250 Ok", "550 5.1.1 No such user here")
	tc.Close()
	wantSendError(t, <-errc, 550, false, "No such user here")
	if len(s.idle) != 0 {
		t.Fatal("broken connection kept in the pool")
	}
}

// Under load the next mail's commands follow the last one's content in the
// same write (pipelining across mails), and every sender still gets its own
// verdict: a refusal at the end of data reaches the mail it was about.
func TestSMTPPipelinedAcrossMails(t *testing.T) {
	sc := startScripted(t)
	s := newTestSMTP(t, &fakeURL{sc.addr}, "&timeout=10s&max_conns=1")
	const n = 60
	errcs := make([]chan error, n)
	for i := range n {
		to := fmt.Sprintf("kunde%d@example.org", i)
		if i%7 == 3 {
			to = fmt.Sprintf("gone%d@example.org", i)
		}
		errcs[i] = sendAsync(s, msgTo(to))
	}
	tc := sc.session("250-PIPELINING", "250 8BITMIME")
	// A server that answers each command as it reads it, and notes when the
	// next mail's commands had arrived with the content (before its reply).
	var rcpt string
	ahead := 0
	for done := 0; done < n; {
		line, err := tc.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(line, "MAIL FROM:"):
			sc.reply(tc, "250 2.1.0 Ok")
		case strings.HasPrefix(line, "RCPT TO:"):
			rcpt = line
			sc.reply(tc, "250 2.1.5 Ok")
		case line == "DATA":
			sc.reply(tc, "354 go ahead")
			sc.content(tc)
			if tc.R.Buffered() > 0 {
				ahead++
			}
			if strings.Contains(rcpt, "gone") {
				sc.reply(tc, "550 5.1.1 "+rcpt[8:]+" unknown")
			} else {
				sc.reply(tc, "250 2.0.0 Ok")
			}
			done++
		default:
			t.Fatalf("unexpected %q", line)
		}
	}
	for i, errc := range errcs {
		err := <-errc
		if i%7 == 3 {
			wantSendError(t, err, 550, false, fmt.Sprintf("<gone%d@example.org> unknown", i))
		} else if err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
	}
	if ahead == 0 {
		t.Fatal("no mail's commands followed the last one's content")
	}
	t.Logf("%d of %d mails arrived pipelined behind the last one's content", ahead, n)
}

type fakeURL struct{ addr string }

func (f *fakeURL) URL() string { return "smtp://" + f.addr + "?tls=none" }

// appendDotStuffed must send what textproto's DotWriter sends. (Bare CRs
// apart: DotWriter turns "\r\r\n" into "\r\r\r\n", we keep the CRLF. A
// built message has no bare CR.)
func FuzzDotStuffed(f *testing.F) {
	f.Add("", "a\r\n.b\r\n")
	f.Add("DKIM-Signature: x\r\n", ".\r\n..\r\nlast")
	f.Add("sig\r", "\n.x\nbare\ncr\n")
	f.Add("", "")
	f.Add(".", "\r\n\n.")
	f.Fuzz(func(t *testing.T, sig, raw string) {
		if strings.Contains(strings.ReplaceAll(sig+raw, "\r\n", ""), "\r") {
			t.Skip()
		}
		var want bytes.Buffer
		w := textproto.NewWriter(bufio.NewWriter(&want)).DotWriter()
		w.Write([]byte(sig))
		w.Write([]byte(raw))
		w.Close()
		got := appendDotStuffed([]byte("junk")[:0], sig, []byte(raw))
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("sig %q raw %q:\ngot  %q\nwant %q", sig, raw, got, want.Bytes())
		}
	})
}

// readReply must read what textproto's ReadResponse reads, to the same
// errors. (A malformed reply is not a reply for either; textproto can turn a
// malformed multi-line one into an Error with code 0, readReply does not.)
func FuzzReadReply(f *testing.F) {
	f.Add("250 2.1.0 Ok\r\n", 250)
	f.Add("250-a\r\n250-b\r\n250 c\r\n", 25)
	f.Add("550-5.1.1 No such\r\n550 5.1.1 user\r\n", 25)
	f.Add("451-a\r\n452 b\r\n451 c\r\n", 354)
	f.Add("354 go ahead\n", 354)
	f.Add("25 short\r\n", 0)
	f.Add("2x0 bad\r\n", 2)
	f.Add("100 ", 0) // no LF before EOF
	f.Add("250-"+strings.Repeat("x", 5000)+"\r\n250 end\r\n", 250)
	f.Fuzz(func(t *testing.T, in string, expect int) {
		_, _, want := textproto.NewReader(bufio.NewReader(strings.NewReader(in))).ReadResponse(expect)
		got := readReply(bufio.NewReader(strings.NewReader(in)), expect)
		wte, wantReply := want.(*textproto.Error)
		switch {
		case want == nil:
			if got != nil {
				t.Fatalf("%q: got %v, want nil", in, got)
			}
		case wantReply && wte.Code >= 100:
			if gte, ok := got.(*textproto.Error); !ok || *gte != *wte {
				t.Fatalf("%q: got %#v, want %#v", in, got, want)
			}
		default:
			if isReply(got) && !wantReply {
				t.Fatalf("%q: got %#v, want %#v", in, got, want)
			}
		}
	})
}
