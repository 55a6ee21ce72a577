package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync/atomic"
)

// sink is a minimal SMTP server that accepts every message, discards it and
// counts. It is written by hand because go-smtp reads DATA a byte at a time
// through textproto's DotReader: in this process it would cost as much CPU as
// the engine being measured, and a bench should measure the engine. It speaks
// just enough SMTP for a client (EHLO with PIPELINING, MAIL, RCPT, DATA, RSET,
// NOOP, QUIT); replies to pipelined commands go out in one write.
type sink struct {
	l        net.Listener
	received atomic.Int64
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *sink) Addr() string { return s.l.Addr().String() }
func (s *sink) Close() error { return s.l.Close() }

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	w.WriteString("220 sink.localhost ESMTP\r\n")
	w.Flush()
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		cmd := bytes.ToUpper(line[:min(4, len(line))])
		switch string(cmd) {
		case "EHLO":
			w.WriteString("250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
		case "HELO":
			w.WriteString("250 sink.localhost\r\n")
		case "DATA":
			w.WriteString("354 go on\r\n")
			w.Flush()
			if err := skipData(r); err != nil {
				return
			}
			s.received.Add(1)
			w.WriteString("250 ok\r\n")
		case "QUIT":
			w.WriteString("221 bye\r\n")
			w.Flush()
			return
		default: // MAIL, RCPT, RSET, NOOP
			w.WriteString("250 ok\r\n")
		}
		// Flush only when the client waits: pipelined commands are answered together.
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// skipData reads up to and including the line that is a single ".".
func skipData(r *bufio.Reader) error {
	atLineStart := true
	for {
		buf, err := r.Peek(max(1, r.Buffered()))
		if err != nil {
			return err
		}
		// Look for "\r\n.\r\n", or ".\r\n" right at a line start.
		if atLineStart && bytes.HasPrefix(buf, []byte(".\r\n")) {
			_, err := r.Discard(3)
			return err
		}
		if i := bytes.Index(buf, []byte("\r\n.\r\n")); i >= 0 {
			_, err := r.Discard(i + 5)
			return err
		}
		// Keep the last 4 bytes: the terminator may straddle two reads.
		keep := min(len(buf), 4)
		n := len(buf) - keep
		if n == 0 {
			// Too little buffered to decide: read more.
			if _, err := r.Peek(len(buf) + 1); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			continue
		}
		atLineStart = buf[n-1] == '\n'
		if _, err := r.Discard(n); err != nil {
			return err
		}
	}
}
