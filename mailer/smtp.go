package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/time/rate"

	"github.com/treu-mail/treu/internal/errs"
)

// Transport delivers one message; safe for concurrent use by many goroutines.
type Transport interface {
	Send(ctx context.Context, m *Message) error
}

// SendError is a delivery failure with the server's verdict.
type SendError struct {
	Temporary bool   // worth retrying later: 4xx, or the server could not be reached
	Code      int    // SMTP reply code; 0 when there was no reply (network, TLS, timeout)
	Reply     string // the server's reply text, or the network error
	Err       error  // the underlying error
}

func (e *SendError) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	if e.Code == 0 {
		return fmt.Sprintf("smtp: %s (%s)", e.Reply, kind)
	}
	return fmt.Sprintf("smtp: %d %s (%s)", e.Code, e.Reply, kind)
}

func (e *SendError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a delivery failure worth retrying.
func IsTemporary(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Temporary
}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("mailer: transport closed")

// SMTPConfig is where and how to deliver; ParseSMTPURL fills it from
// smtp://user:pass@host:port?tls=starttls|tls|none&max_conns=N&rate=N.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // "starttls" (default), "tls" (implicit, port 465) or "none"
	Username string
	Password string
	Auth     string // "" picks the strongest the server offers; or plain, login, cram-md5, scram-sha-256, xoauth2
	// MaxConns is the number of connections kept open. Default 4: providers and
	// relays commonly cap concurrent connections per client at 5-10 and start
	// answering 421 beyond that; four keep a two-core sender busy (building is
	// much cheaper than a round trip) while staying under such caps.
	MaxConns           int
	Rate               float64 // messages per second over all connections; 0 = unlimited
	InsecureSkipVerify bool    // self-signed servers and tests only
	Timeout            time.Duration
	HELO               string // name for EHLO; default the machine's host name
	DKIM               *DKIM  // sign every message when set
	// Latency, if set, observes how long each SMTP transaction took (from
	// taking a pooled connection, dialling it if needed, to the server's
	// reply to the data), sent or not. A VictoriaMetrics Histogram fits.
	Latency Latency
}

// Latency observes durations measured from start; package mailer needs no
// metrics library for it.
type Latency interface {
	UpdateDuration(start time.Time)
}

const (
	defaultMaxConns = 4
	defaultTimeout  = 30 * time.Second
	// A connection idle this long is closed rather than reused: many servers
	// drop idle clients after 30-300 s, and a fresh dial is cheaper than a
	// failed transaction.
	idleTimeout = 30 * time.Second
)

// ParseSMTPURL reads the --smtp-url setting. Errors never repeat the URL,
// which holds the password.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	bad := func(format string, args ...any) (SMTPConfig, error) {
		return SMTPConfig{}, errs.Invalidf("smtp_url", "smtp url: "+format, args...)
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("cannot be parsed")
	}
	cfg := SMTPConfig{TLS: "starttls", MaxConns: defaultMaxConns, Timeout: defaultTimeout}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.TLS = "tls"
	default:
		return bad("scheme must be smtp or smtps")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return bad("must be smtp://user:pass@host:port?options")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return bad("host is missing")
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("options cannot be parsed")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "tls":
			if v != "starttls" && v != "tls" && v != "none" {
				return bad("tls must be starttls, tls or none")
			}
			cfg.TLS = v
		case "max_conns":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return bad("max_conns must be 1 to 1000")
			}
			cfg.MaxConns = n
		case "rate":
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 1e6 || r != r {
				return bad("rate must be a number of messages per second, 0 for unlimited")
			}
			cfg.Rate = r
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("insecure_skip_verify must be 0 or 1")
			}
			cfg.InsecureSkipVerify = b
		case "auth":
			switch v {
			case "", "auto", "plain", "login", "cram-md5", "scram-sha-256", "xoauth2":
				cfg.Auth = strings.TrimPrefix(v, "auto")
			default:
				return bad("auth must be auto, plain, login, cram-md5, scram-sha-256 or xoauth2")
			}
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("timeout must be a Go duration such as 30s")
			}
			cfg.Timeout = d
		case "helo":
			if v == "" || strings.ContainsAny(v, " \r\n") {
				return bad("helo must be a host name")
			}
			cfg.HELO = v
		default:
			return bad("unknown option %q", k) // a typo must not silently fall back to a default
		}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port must be 1 to 65535")
		}
		cfg.Port = n
	} else {
		cfg.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[cfg.TLS]
	}
	return cfg, nil
}

// SMTP delivers over a pool of persistent connections.
//
// go-mail is the client: its Client dials, negotiates TLS and authenticates;
// its smtp.Client speaks the protocol on each pooled connection. We drive
// MAIL/RCPT/DATA ourselves rather than through Client.Send because Send
// wants a go-mail Msg (we send bytes built once, DKIM-signed once) and would
// check every connection with NOOP and end every mail with RSET: two extra
// round trips per mail that RFC 5321 does not need after a completed DATA.
// (go-mail does offer WithoutNoop and WithoutRset for that path.) We send
// RSET only after a refused MAIL or RCPT, where the transaction must be reset
// before the connection can be reused. When the server offers PIPELINING
// (RFC 2920; Postfix, Exim and go-smtp do), MAIL, RCPT
// and DATA go out in one write over go-mail's connection: see pipeline.go.
type SMTP struct {
	cfg     SMTPConfig
	client  *gomail.Client
	limiter *rate.Limiter // nil: unlimited
	log     *slog.Logger
	now     func() time.Time

	// The pool: idle holds open connections, tokens the right to open one
	// more. idle + tokens + connections in use = MaxConns, always. Taking an
	// idle connection first means a trickle of mail uses one connection
	// instead of dialling all of them.
	idle      chan *conn
	tokens    chan struct{}
	handoff   chan *conn // unbuffered: a connection passed straight to a waiting Send (pipeline.go)
	closed    chan struct{}
	closeOnce sync.Once
}

type conn struct {
	c        *smtp.Client
	lastUsed time.Time
	sent     int

	// What the server offered at EHLO, for the pipelined path (pipeline.go).
	pipelining bool
	mailParams string // MAIL FROM parameters, as go-mail's Client.Mail adds them
	buf        []byte // scratch for the commands and the dot-stuffed content

	// Pipelining across mails (pipeline.go): the last mail's content, not
	// yet written (out, in buf), and its sender waiting for the reply to it.
	// Whoever takes the connection next writes out with its own commands
	// and reads that reply first; release does it when nobody does.
	out     []byte
	pending *pendingEnd
}

// NewSMTP prepares a pool; connections are opened on first use.
func NewSMTP(cfg SMTPConfig, log *slog.Logger) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errs.Invalidf("smtp_url", "smtp host is missing")
	}
	if cfg.MaxConns < 1 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{
			ServerName:         cfg.Host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in for self-signed servers
		}),
	}
	switch cfg.TLS {
	case "", "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, errs.Invalidf("smtp_url", "tls must be starttls, tls or none")
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password),
			gomail.WithSMTPAuth(authType(cfg.Auth, cfg.TLS == "none")))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: smtp client: %w", err)
	}
	s := &SMTP{
		cfg:     cfg,
		client:  client,
		log:     log,
		now:     time.Now,
		idle:    make(chan *conn, cfg.MaxConns),
		tokens:  make(chan struct{}, cfg.MaxConns),
		handoff: make(chan *conn),
		closed:  make(chan struct{}),
	}
	for range cfg.MaxConns {
		s.tokens <- struct{}{}
	}
	if cfg.Rate > 0 {
		// A burst of 10 ms worth of mail: smooth enough for the receiver, and
		// the limiter does not have to wake for every single message.
		s.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/100)))
	}
	return s, nil
}

func authType(name string, plaintext bool) gomail.SMTPAuthType {
	switch name {
	case "plain":
		if plaintext { // the operator chose tls=none with auth=plain: allow it
			return gomail.SMTPAuthPlainNoEnc
		}
		return gomail.SMTPAuthPlain
	case "login":
		if plaintext {
			return gomail.SMTPAuthLoginNoEnc
		}
		return gomail.SMTPAuthLogin
	case "cram-md5":
		return gomail.SMTPAuthCramMD5
	case "scram-sha-256":
		return gomail.SMTPAuthSCRAMSHA256
	case "xoauth2":
		return gomail.SMTPAuthXOAUTH2
	}
	return gomail.SMTPAuthAutoDiscover
}

// Send builds m and delivers it over a pooled connection. ctx bounds the
// wait for the rate limit and a connection; once the transaction has begun it
// runs to its end (bounded by Timeout per command), so a cancelled caller
// never leaves a half-sent mail on a connection.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if s.limiter != nil {
		if err := s.limiter.Wait(ctx); err != nil {
			return err
		}
	}
	// Build before taking a connection: a connection should spend its time
	// talking, not waiting for us.
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	if err := buildTo(buf, m, s.now()); err != nil {
		return err
	}
	var sig string
	if s.cfg.DKIM != nil {
		var err error
		if sig, err = s.cfg.DKIM.sign(buf.Bytes()); err != nil {
			return err
		}
	}
	cn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	var start time.Time
	if s.cfg.Latency != nil {
		start = time.Now()
	}
	p, err := s.deliver(ctx, cn, m.EnvelopeFrom(), m.To, sig, buf.Bytes())
	if p != nil {
		// The content is ready but its reply not read: give the connection
		// to a Send waiting for one, whose commands go out in the same write
		// and which reads our reply first; with nobody waiting, release
		// writes and reads it now.
		select {
		case s.handoff <- cn:
		default:
			s.release(cn)
		}
		err = <-p.done
	} else {
		s.release(cn)
	}
	if s.cfg.Latency != nil {
		s.cfg.Latency.UpdateDuration(start)
	}
	return err
}

// Check dials one connection, to report a bad configuration at start-up.
func (s *SMTP) Check(ctx context.Context) error {
	cn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.release(cn)
	if cn.c == nil {
		return s.dial(ctx, cn)
	}
	return nil
}

// acquire returns an open connection, or an unconnected one (c == nil) for
// the caller to dial, waiting while MaxConns are in use.
func (s *SMTP) acquire(ctx context.Context) (*conn, error) {
	select {
	case cn := <-s.idle:
		return s.checkClosed(cn)
	default:
	}
	select {
	case cn := <-s.idle:
		return s.checkClosed(cn)
	case cn := <-s.handoff:
		return s.checkClosed(cn)
	case <-s.tokens:
		return s.checkClosed(&conn{})
	case <-s.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// checkClosed gives cn back if Close has begun, so Close can collect it.
func (s *SMTP) checkClosed(cn *conn) (*conn, error) {
	select {
	case <-s.closed:
		s.release(cn)
		return nil, ErrClosed
	default:
		return cn, nil
	}
}

func (s *SMTP) release(cn *conn) {
	s.resolve(cn)
	if cn.c != nil {
		s.idle <- cn
	} else {
		s.tokens <- struct{}{}
	}
}

func (s *SMTP) dial(ctx context.Context, cn *conn) error {
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A failed dial, TLS handshake or login is the operator's problem, not
		// the message's: always temporary, so fixing the setting lets it go out.
		se := classify(err)
		se.Temporary = true
		se.Reply = "connect: " + se.Reply
		return se
	}
	cn.c, cn.sent, cn.lastUsed = c, 0, s.now()
	cn.pipelining, _ = c.Extension("PIPELINING")
	cn.mailParams = mailParams(c.Extension, false) // we never ask go-mail to skip SMTPUTF8
	return nil
}

func (s *SMTP) drop(cn *conn) {
	if cn.c != nil {
		_ = cn.c.Close() // no QUIT: the connection is already broken or unwanted
		cn.c = nil
	}
	if p := cn.pending; p != nil {
		// A mail whose reply will never be read: temporary, as when the
		// connection breaks while its sender waits for the reply itself.
		cn.pending, cn.out = nil, nil
		p.done <- classify(errConnLost)
	}
}

// Stages of one transaction, to know what a failure means.
const (
	stageMail = iota
	stageRcpt
	stageData // the DATA command
	stageBody // the message and the final "."
)

// deliver sends one mail on cn. On a pipelining connection a mail whose
// content is ready comes back as a pendingEnd (its verdict arrives on done,
// see Send); otherwise the verdict is the error.
func (s *SMTP) deliver(ctx context.Context, cn *conn, from, to, sig string, raw []byte) (*pendingEnd, error) {
	if cn.c != nil && cn.pending == nil && s.now().Sub(cn.lastUsed) > idleTimeout {
		s.drop(cn) // no QUIT: its deadline has passed, and the server may be gone
	}
	for retried := false; ; retried = true {
		if cn.c == nil {
			if err := s.dial(ctx, cn); err != nil {
				return nil, err
			}
		}
		reused := cn.sent > 0 || cn.pending != nil
		var stage int
		var err error
		if cn.pipelining {
			var p *pendingEnd
			stage, p, err = s.pipelined(cn, from, to, sig, raw)
			if p != nil {
				return p, nil
			}
		} else {
			stage, err = s.transaction(cn.c, from, to, sig, raw)
		}
		if err == nil {
			cn.sent++
			cn.lastUsed = s.now()
			return nil, nil
		}
		var te *textproto.Error
		isReply := errors.As(err, &te)
		switch {
		case isReply && te.Code == 421:
			s.drop(cn) // the server is closing this connection
		case isReply && stage < stageBody && cn.c != nil:
			// MAIL, RCPT or DATA refused: reset the transaction so the connection
			// can carry the next mail. After the body's reply there is nothing to
			// reset. (cn.c is nil when the pipelined path dropped a connection
			// that broke after the refusal.)
			if cn.c.Reset() != nil {
				s.drop(cn)
			}
		case !isReply:
			s.drop(cn)
		}
		// A reused connection that fails before anything was accepted most
		// likely timed out while idle: one more try on a fresh connection
		// cannot deliver twice.
		if !retried && reused && stage == stageMail && (!isReply || te.Code == 421) {
			continue
		}
		return nil, classify(err)
	}
}

func (s *SMTP) transaction(c *smtp.Client, from, to, sig string, raw []byte) (stage int, err error) {
	if err := c.UpdateDeadline(s.cfg.Timeout); err != nil {
		return stageMail, err
	}
	if err := c.Mail("<" + from + ">"); err != nil {
		return stageMail, err
	}
	if err := c.Rcpt("<" + to + ">"); err != nil {
		return stageRcpt, err
	}
	w, err := c.Data()
	if err != nil {
		return stageData, err
	}
	if sig != "" {
		if _, err := w.Write([]byte(sig)); err != nil {
			return stageBody, err
		}
	}
	if _, err := w.Write(raw); err != nil {
		return stageBody, err
	}
	return stageBody, w.Close()
}

// classify turns a client error into a SendError: 4xx temporary, 5xx
// permanent, and no reply at all (refused, reset, timeout) temporary.
func classify(err error) *SendError {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &SendError{Temporary: te.Code < 500, Code: te.Code, Reply: te.Msg, Err: err}
	}
	return &SendError{Temporary: true, Reply: err.Error(), Err: err}
}

// Close waits for sends in flight, says QUIT on every connection and makes
// later Sends fail with ErrClosed.
func (s *SMTP) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	var errsList []error
	for range s.cfg.MaxConns {
		select {
		case cn := <-s.idle:
			_ = cn.c.UpdateDeadline(5 * time.Second)
			if err := cn.c.Quit(); err != nil {
				errsList = append(errsList, err)
			}
			s.drop(cn)
		case <-s.tokens:
		}
	}
	for range s.cfg.MaxConns { // so that a second Close returns at once
		s.tokens <- struct{}{}
	}
	return errors.Join(errsList...)
}

// MaxConns is how many connections the pool keeps.
func (s *SMTP) MaxConns() int { return s.cfg.MaxConns }

// Concurrency is how many concurrent Sends keep the pool busy: two per
// connection, so that while one mail's reply is awaited the next one's
// commands can follow its content on the same connection (pipeline.go).
// Against a server without PIPELINING the second only waits its turn.
func (s *SMTP) Concurrency() int { return 2 * s.cfg.MaxConns }
