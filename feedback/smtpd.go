package feedback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// The bounce listener: an SMTP server that takes mail for the bounce domain
// only (anything else is refused, so it can never relay) and hands each mail
// to Intake. It answers 250 once the mail's reports are durable, and 451
// when they could not be stored, so the sending server tries again later.

// MaxBounceBytes bounds one mail to the bounce address: a DSN quoting the
// whole original newsletter stays well under it.
const MaxBounceBytes = 4 << 20

// Listener serves the bounce domain over SMTP.
type Listener struct {
	svc *Service
	srv *smtp.Server
	log *slog.Logger
}

// NewListener makes the server; Serve runs it. hostname is what it greets with.
func (s *Service) NewListener(hostname string) (*Listener, error) {
	if s.cfg.VERP == nil {
		return nil, errors.New("feedback: the bounce listener needs Config.VERP")
	}
	l := &Listener{svc: s, log: s.log.With("component", "bounce-listener")}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &bounceSession{l: l}, nil
	}))
	if hostname == "" {
		hostname = s.cfg.VERP.Domain()
	}
	srv.Domain = hostname
	srv.MaxMessageBytes = MaxBounceBytes
	srv.MaxRecipients = 50
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogPrinter{l.log}
	l.srv = srv
	return l, nil
}

// Serve accepts connections on ln until ctx ends; then it closes them.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			l.srv.Close()
		case <-done:
		}
	}()
	err := l.srv.Serve(ln)
	close(done)
	if ctx.Err() != nil || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

type bounceSession struct {
	l     *Listener
	rcpts []string
}

func (ss *bounceSession) Reset()        { ss.rcpts = ss.rcpts[:0] }
func (ss *bounceSession) Logout() error { return nil }

// Mail takes any sender: bounces come from the null sender <>, complaint
// reports from the receiver's feedback loop.
func (ss *bounceSession) Mail(string, *smtp.MailOptions) error { return nil }

func (ss *bounceSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !strings.EqualFold(to[at+1:], ss.l.svc.cfg.VERP.Domain()) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "relaying denied: this server takes mail for its bounce domain only"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *bounceSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err // go-smtp answers a too-large message itself
	}
	// The write must not be cut short by the client hanging up meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ss.l.svc.Intake(ctx, ss.rcpts, buf.Bytes()); err != nil {
		ss.l.log.Error("bounce not stored; the sender will retry", slog.Any("error", err))
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

// slogPrinter is go-smtp's error log on our logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Debug("smtp", slog.String("msg", strings.TrimSpace(fmt.Sprintf(format, v...))))
}
func (p slogPrinter) Println(v ...any) {
	p.log.Debug("smtp", slog.String("msg", strings.TrimSpace(fmt.Sprint(v...))))
}
