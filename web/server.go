package web

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/imports"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
	"github.com/treu-mail/treu/txmail"
	"github.com/treu-mail/treu/webhooks"
)

// Server holds what the handlers need. Fields are set once by New and then
// only read, so handlers run concurrently without locks.
type Server struct {
	echo      *echo.Echo
	db        *store.DB
	accounts  *accounts.Service
	subs      *subscribers.Service
	segments  *segments.Store
	campaigns *campaigns.Engine
	events    *events.Service
	flows     *flows.Engine
	coupons   *coupons.Service
	imports   *imports.Service
	retention *retention.Service // nil: no stages shown
	loyalty   *loyalty.Service   // nil: no points or referrals
	outbox    *mailer.Outbox
	feedback  *feedback.Service // nil: POST /api/bounces answers 404
	providers *feedback.Providers
	webhooks  *webhooks.Service // nil: /api/webhooks answers 404
	tx        txAPI
	tracking  *tracking.Service // nil: no /l/ and /o/ routes
	metrics   *Metrics
	audit     *audit.Log
	guards    guards // who may call each route (web/access.go)
	log       *slog.Logger
	now       func() time.Time
	cfg       Config

	// Work a request starts that outlives it (a CSV import) runs under bgCtx
	// and is counted in bg, so Close can stop it and wait.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// Config is what the HTTP layer needs to know about the installation.
type Config struct {
	BaseURL string
	// OutboxOnly is true when no SMTP server is configured and mail is captured.
	OutboxOnly bool
	// TrustProxy takes the client IP from X-Forwarded-For set by a reverse
	// proxy on loopback or a private network. Off, only the TCP peer counts,
	// so nobody can fake the IP in the consent log or dodge rate limits.
	TrustProxy bool
	// Location is the shop's time zone: the UI shows every time in it and
	// reads the composer's send time in it (default UTC). The API is not
	// affected: it speaks RFC 3339 with offsets.
	Location *time.Location
}

// Deps are the domain services the handlers call.
type Deps struct {
	DB          *store.DB
	Accounts    *accounts.Service
	Subscribers *subscribers.Service
	Segments    *segments.Store
	Campaigns   *campaigns.Engine
	Events      *events.Service
	Flows       *flows.Engine
	Coupons     *coupons.Service
	Imports     *imports.Service // CSV imports of subscribers
	Outbox      *mailer.Outbox   // the captured mail (empty while SMTP is used)
	TxMail      *txmail.Service
	Retention   *retention.Service
	Loyalty     *loyalty.Service
	Tracking    *tracking.Service // clicks, opens, campaign results; may be nil
	Feedback    *feedback.Service
	Providers   *feedback.Providers // relays' event webhooks; nil: none
	Webhooks    *webhooks.Service
	UI          UIDeps
	Metrics     *Metrics
	// Audit is the audit log; nil means one on DB.
	Audit *audit.Log
	Log   *slog.Logger
}

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{
		echo:      e,
		db:        d.DB,
		accounts:  d.Accounts,
		subs:      d.Subscribers,
		segments:  d.Segments,
		campaigns: d.Campaigns,
		events:    d.Events,
		flows:     d.Flows,
		coupons:   d.Coupons,
		imports:   d.Imports,
		retention: d.Retention,
		loyalty:   d.Loyalty,
		outbox:    d.Outbox,
		feedback:  d.Feedback,
		providers: d.Providers,
		webhooks:  d.Webhooks,
		tx:        txAPI{svc: d.TxMail},
		tracking:  d.Tracking,
		metrics:   d.Metrics,
		audit:     d.Audit,
		guards:    guards{},
		log:       d.Log,
		now:       d.DB.Now,
		cfg:       cfg,
	}
	if s.audit == nil {
		s.audit = audit.New(d.DB)
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	e.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustLoopback(true), echo.TrustPrivateNet(true))
	}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.recoverPanics, s.countRequests, securityHeaders)
	s.routes(d.UI)
	return s
}

// Close stops background work that requests started and waits for it. Call it
// after the HTTP server has shut down.
func (s *Server) Close() {
	s.bgCancel()
	s.bg.Wait()
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// recoverPanics turns a panic into a logged 500, so one bad request cannot take
// the process down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler { // a stream cut on purpose (export.csv)
					panic(r)
				}
				s.log.Error("panic in handler", slog.String("path", c.Path()), slog.Any("panic", r))
				err = &errs.Error{Kind: errs.Internal, Msg: "panic"}
			}
		}()
		return next(c)
	}
}

func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	// One counter per status class, looked up once: the set's lock and map
	// are for registration, not for every request.
	var byClass [6]*metrics.Counter
	for i := 1; i <= 5; i++ {
		byClass[i] = s.metrics.Counter("treu_http_requests_total", `code="`+strconv.Itoa(i)+`xx"`)
	}
	return func(c echo.Context) error {
		err := next(c)
		code := c.Response().Status
		if err != nil {
			code, _ = statusOf(err)
		}
		if class := code / 100; class >= 1 && class <= 5 {
			byClass[class].Inc()
		}
		return err
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// requireToken authenticates the shop's Bearer token.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		auth := c.Request().Header.Get("Authorization")
		const bearer = "Bearer "
		if len(auth) <= len(bearer) || subtle.ConstantTimeCompare([]byte(strings.ToLower(auth[:len(bearer)])), []byte("bearer ")) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="treu"`)
			return errs.Unauthorizedf("missing API token: send Authorization: Bearer TOKEN")
		}
		tok, err := s.accounts.Authenticate(c.Request().Context(), strings.TrimSpace(auth[len(bearer):]))
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="treu", error="invalid_token"`)
			return err
		}
		c.Set(ctxToken, tok)
		withActor(c, audit.Actor{Kind: audit.KindToken, ID: tok.ID, Name: tok.Name})
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Error("health check failed", slog.Any("error", err))
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) metricsPage(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	s.metrics.Write(c.Response())
	return nil
}
