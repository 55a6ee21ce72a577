package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
)

// Pipelined transactions (RFC 2920).
//
// Without PIPELINING a mail costs four round trips: MAIL, RCPT, DATA and the
// end of data each wait for their reply. On loopback or a LAN the round trip,
// not the CPU, then bounds a connection: the profile showed the sender idle
// most of the time. With PIPELINING the client may send MAIL, RCPT and DATA
// in one write (DATA must end the group: its 354 decides whether the content
// may follow), so a mail costs two round trips and two writes:
//
//	C: MAIL FROM:<a> ... RCPT TO:<b> ... DATA      (one write)
//	S: 250, 250, 354                               (three replies, all read)
//	C: dot-stuffed content and "."                 (one write)
//	S: 250
//
// go-mail's smtp.Client has no PIPELINING, but it exports its connection
// (Client.Text, a *textproto.Conn) "to allow for clients to add extensions";
// we write to Text.W and read replies from Text.R with readReply, which
// returns the errors textproto's ReadResponse would (*textproto.Error for a
// refusal), so classification is the same on both paths, and allocates
// nothing for an expected reply. The connection is ours alone while a
// transaction runs (the pool hands it to one Send), so go-mail's mutex is
// not needed. Each mail is one buffered write of the commands and one of the
// content: 2 writes and, against Postfix, ~2.4 reads instead of 4 and ~4.5.
//
// Across mails (RFC 2920 3.1: the content may be the first "command" of a
// group) the content of one mail and the commands of the next on the same
// connection go out together, and the next sender reads both mails' replies:
//
//	C: content of mail 1, ".", MAIL, RCPT, DATA of mail 2   (one write)
//	S: 250 (mail 1), 250, 250, 354
//
// so under load a mail costs one round trip and one write. Send stays
// synchronous: a sender whose content is ready hands the connection (with
// the content not yet written, conn.out) to a Send waiting for a connection
// and waits for its verdict, which that Send reads first and passes on
// (pendingEnd). With nobody waiting it writes and reads itself, as before.
// Who holds a connection owns its pending reply: release and drop settle it,
// so no sender waits for a reply nobody will read. A connection thus has at
// most two mails in flight, which is what a kill -9 can send twice.

// pendingEnd is a mail whose content is on (or bound for) a connection and
// whose reply another holder of the connection will read.
type pendingEnd struct {
	done chan error // the verdict: nil or a *SendError, exactly once
}

// errConnLost is the verdict of a mail whose connection broke or was dropped
// before its reply was read.
var errConnLost = errors.New("connection lost before the reply to the message")

// resolve settles cn's pending mail: it writes the content if it is still
// unwritten, reads the reply and passes the verdict to the waiting sender.
func (s *SMTP) resolve(cn *conn) {
	if cn.pending == nil {
		return
	}
	if cn.c == nil {
		s.drop(cn)
		return
	}
	text := cn.c.Text
	var err error
	if len(cn.out) > 0 {
		if _, err = text.W.Write(cn.out); err == nil {
			err = text.W.Flush()
		}
		cn.out = nil
	}
	if err == nil {
		err = readReply(text.R, 250)
	}
	s.settle(cn, err)
}

// settle passes err, the reply to cn's pending mail, to its sender. A
// connection that broke or is being closed (421) is dropped.
func (s *SMTP) settle(cn *conn, err error) {
	p := cn.pending
	cn.pending = nil
	if !isReply(err) || replyCode(err) == 421 {
		s.drop(cn)
	} else if err == nil {
		cn.sent++
		cn.lastUsed = s.now()
	}
	if err != nil {
		p.done <- classify(err)
	} else {
		p.done <- nil
	}
}

// mailParams are the MAIL FROM parameters go-mail's Client.Mail would add for
// the extensions c advertises (we set no DSN options).
func mailParams(has func(string) (bool, string), skipUTF8 bool) string {
	var p string
	if ok, _ := has("8BITMIME"); ok {
		p += " BODY=8BITMIME"
	}
	if ok, _ := has("SMTPUTF8"); ok && !skipUTF8 {
		p += " SMTPUTF8"
	}
	return p
}

// errLineBreak is what go-mail's Mail and Rcpt return for such an address;
// Validate already refuses them, so this only guards the protocol.
var errLineBreak = errors.New("smtp: A line must not contain CR or LF")

// maxKeptBuffer bounds the scratch buffer a connection keeps between mails.
const maxKeptBuffer = 256 << 10

// pipelined runs one transaction on a connection that advertised PIPELINING.
// Its results mean what transaction's do: the stage that failed and the
// client error. A reply error leaves the connection usable (after RSET for a
// stage before the body) unless it is 421; if the connection broke after a
// refusal was read, pipelined drops it itself and reports the refusal, which
// is the message's verdict.
//
// A mail whose content is ready comes back as p, its content in cn.out and
// its reply unread (cn.pending = p): Send hands the connection on or
// releases it, and the verdict comes on p.done. A pending mail of the last
// sender is written before and answered ahead of this one's commands.
func (s *SMTP) pipelined(cn *conn, from, to, sig string, raw []byte) (stage int, p *pendingEnd, err error) {
	c := cn.c
	if strings.ContainsAny(from, "\r\n") || strings.ContainsAny(to, "\r\n") {
		return stageMail, nil, errLineBreak
	}
	if err := c.UpdateDeadline(s.cfg.Timeout); err != nil {
		return stageMail, nil, err
	}
	text := c.Text

	b := cn.buf[:0]
	if len(cn.out) > 0 {
		b = cn.out // the last mail's content (it lives in buf) goes first
	}
	cn.out = nil
	b = append(b, "MAIL FROM:<"...)
	b = append(b, from...)
	b = append(b, '>')
	b = append(b, cn.mailParams...)
	b = append(b, "\r\nRCPT TO:<"...)
	b = append(b, to...)
	b = append(b, ">\r\nDATA\r\n"...)
	_, err = text.W.Write(b)
	if err == nil {
		err = text.W.Flush()
	}
	if cn.pending != nil {
		// The last mail's reply comes first.
		perr := err
		if perr == nil {
			perr = readReply(text.R, 250)
		}
		s.settle(cn, perr)
		if cn.c == nil && err == nil {
			err = perr // the connection broke or closed (421): our commands are lost
			if isReply(err) {
				err = errConnLost
			}
		}
	}
	if err != nil {
		return stageMail, nil, err
	}

	// Every reply of the group must be read, even after a refusal, so that
	// the next command does not read a stale one. The replies' indexes are
	// their stages; RCPT expects 25x (250 or 251) as go-mail's Rcpt does.
	var errs [3]error
	first := -1 // the first refused
	for i, expect := range [3]int{250, 25, 354} {
		err := readReply(text.R, expect)
		if !isReply(err) || replyCode(err) == 421 {
			// The connection broke, or the server is closing it: no more replies.
			if first < 0 {
				return i, nil, err // deliver drops the connection
			}
			s.drop(cn) // an earlier refusal is the verdict on this mail
			return first, nil, errs[first]
		}
		errs[i] = err
		if err != nil && first < 0 {
			first = i
		}
	}
	if first >= 0 {
		if errs[stageData] == nil {
			// RFC 2920 3.1: the server accepted DATA although MAIL or RCPT was
			// refused; end the transaction with an empty message, not the mail.
			_, _ = text.W.WriteString(".\r\n")
			err := text.W.Flush()
			if err == nil {
				err = readReply(text.R, 0)
			}
			if !isReply(err) {
				s.drop(cn)
			}
		}
		return first, nil, errs[first]
	}

	// The content is written with the next mail's commands, or by resolve:
	// one write either way (with an empty buffer, bufio hands a slice larger
	// than itself straight to the connection).
	b = appendDotStuffed(b[:0], sig, raw)
	if cap(b) <= maxKeptBuffer {
		cn.buf = b[:0]
	} else {
		cn.buf = nil
	}
	cn.out = b
	p = &pendingEnd{done: make(chan error, 1)}
	cn.pending = p
	return stageBody, p, nil
}

func isReply(err error) bool {
	_, ok := err.(*textproto.Error)
	return err == nil || ok
}

// replyCode is the code of a refusal, 0 for other errors.
func replyCode(err error) int {
	if te, ok := err.(*textproto.Error); ok {
		return te.Code
	}
	return 0
}

// readReply reads one reply, as textproto's Reader.ReadResponse does and
// with the same errors (a *textproto.Error when the code is not expectCode,
// a textproto.ProtocolError for a malformed reply), but without allocating
// when the reply is the expected one: a mail reads four replies.
func readReply(r *bufio.Reader, expectCode int) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	code, continued, err := parseReplyLine(line, expectCode)
	if err != nil && !continued {
		return err // a single line (or a malformed first line)
	}
	var msg []byte // the full text, kept only when it will be reported
	if err != nil {
		msg = append(msg, line[4:]...)
	}
	for continued {
		line, rerr := readLine(r)
		if rerr != nil {
			return rerr
		}
		code2, more, perr := parseReplyLine(line, 0)
		if perr != nil || code2 != code {
			continued = true // textproto keeps reading, the line kept whole but for trailing CR/LF
			if err != nil {
				msg = append(append(msg, '\n'), bytes.TrimRight(line, "\r\n")...)
			}
			continue
		}
		continued = more
		if err != nil {
			msg = append(append(msg, '\n'), line[4:]...)
		}
	}
	if err != nil {
		return &textproto.Error{Code: code, Msg: string(msg)}
	}
	return nil
}

// readLine returns the next line without its CRLF or LF, valid until the
// next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull { // a very long line: rare enough to copy
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err == io.EOF && len(line) > 0 {
		return line, nil // as bufio's ReadLine: the last line may lack its LF
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseReplyLine is textproto's parseCodeLine on bytes.
func parseReplyLine(line []byte, expectCode int) (code int, continued bool, err error) {
	if len(line) < 4 || line[3] != ' ' && line[3] != '-' {
		return 0, false, textproto.ProtocolError(fmt.Sprintf("short response: %q", line))
	}
	continued = line[3] == '-'
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, textproto.ProtocolError(fmt.Sprintf("invalid response code: %q", line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, false, textproto.ProtocolError(fmt.Sprintf("invalid response code: %q", line))
	}
	if 1 <= expectCode && expectCode < 10 && code/100 != expectCode ||
		10 <= expectCode && expectCode < 100 && code/10 != expectCode ||
		100 <= expectCode && expectCode < 1000 && code != expectCode {
		return code, continued, &textproto.Error{Code: code, Msg: string(line[4:])}
	}
	return code, continued, nil
}

// appendDotStuffed appends sig and raw to b as DATA content (RFC 5321
// 4.5.2), exactly as textproto's DotWriter would send them: a line that
// starts with '.' gets another, a bare LF becomes CRLF, an unterminated last
// line is terminated, and ".\r\n" ends the content.
func appendDotStuffed(b []byte, sig string, raw []byte) []byte {
	b = stuff(b, []byte(sig)) // empty unless DKIM signs, and then small
	b = stuff(b, raw)
	if n := len(b); n > 0 && b[n-1] != '\n' {
		if b[n-1] != '\r' {
			b = append(b, '\r')
		}
		b = append(b, '\n')
	} else if n == 0 {
		b = append(b, "\r\n"...)
	}
	return append(b, ".\r\n"...)
}

// stuff appends p to b, dot-stuffed, with p starting where b ends (at the
// beginning of a line when b is empty or ends with LF).
func stuff(b, p []byte) []byte {
	for len(p) > 0 {
		if (len(b) == 0 || b[len(b)-1] == '\n') && p[0] == '.' {
			b = append(b, '.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return append(b, p...)
		}
		b = append(b, p[:i]...)
		if len(b) == 0 || b[len(b)-1] != '\r' {
			b = append(b, '\r')
		}
		b = append(b, '\n')
		p = p[i+1:]
	}
	return b
}
