package web

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/store"
)

// UIDeps is what the marketers' UI needs beyond the core Deps.
type UIDeps struct {
	// SessionKey signs session cookies and CSRF tokens; at least 32 random
	// bytes, stable across restarts (else everyone is signed out on restart).
	// The UI derives its own key from it, so the link-signing secret may be reused.
	SessionKey []byte
	// Settings is shown read-only on the settings page.
	Settings UISettings
	// SMTPCheck connects to each configured SMTP server and returns what
	// went wrong, each error naming its server (errors.Join); the settings
	// page's "test connection" button calls it. nil when mail only goes to
	// the outbox.
	SMTPCheck func(ctx context.Context) error

	// The services below default to the Server's own (Deps.Campaigns and so
	// on); set them only to replace one, as tests do.
	Campaigns   uiCampaigns
	Outbox      uiOutbox
	Subscribers uiSubscribers
	Segments    uiSegments
	Flows       uiFlows
	Coupons     uiCoupons
	Imports     uiImports
	Bounces     uiBounces
	Webhooks    uiWebhooks
}

// UISettings is the installation's configuration as the settings page shows it.
type UISettings struct {
	ShopName  string
	SMTPURL   string // the password is masked before display
	From      string
	BaseURL   string
	Impressum string
}

// ui is the marketers' browser UI: server-rendered pages under /ui.
type ui struct {
	srv         *Server // for background work that outlives a request
	db          *store.DB
	accounts    *accounts.Service
	log         *slog.Logger
	cfg         Config
	settings    UISettings
	smtpCheck   func(ctx context.Context) error
	sess        *sessions
	campaigns   uiCampaigns
	outbox      uiOutbox
	subscribers uiSubscribers
	segments    uiSegments
	flows       uiFlows
	coupons     uiCoupons
	imports     uiImports
	bounces     uiBounces // nil: the subscriber page shows no bounce section
	webhooks    uiWebhooks
	pages       map[string]map[string]*template.Template // lang -> page -> template
}

// uiRoutes mounts the UI. Every route under /ui goes through loadSession and
// checkCSRF; every page but sign-in also through requireUser (the "signed"
// helper below), so the route table shows what is reachable signed out.
func (s *Server) uiRoutes(d UIDeps) {
	assets, err := assetURLs()
	if err != nil {
		panic("web: static assets: " + err.Error()) // embedded at build time: cannot fail at run time
	}
	pages, err := parseUIPages(assets, s.cfg.Location)
	if err != nil {
		panic(err) // embedded at build time; ui_test parses them too
	}
	// A nil pointer in an interface is not a nil interface: copy only the
	// services that are there, so the pages can tell what is missing.
	if d.Campaigns == nil && s.campaigns != nil {
		d.Campaigns = s.campaigns
	}
	if d.Outbox == nil && s.outbox != nil {
		d.Outbox = s.outbox
	}
	if d.Subscribers == nil && s.subs != nil {
		d.Subscribers = s.subs
	}
	if d.Segments == nil && s.segments != nil {
		d.Segments = s.segments
	}
	if d.Flows == nil && s.flows != nil {
		d.Flows = s.flows
	}
	if d.Coupons == nil && s.coupons != nil {
		d.Coupons = s.coupons
	}
	if d.Imports == nil && s.imports != nil {
		d.Imports = s.imports
	}
	u := &ui{
		srv:       s,
		db:        s.db,
		accounts:  s.accounts,
		log:       s.log,
		cfg:       s.cfg,
		settings:  d.Settings,
		smtpCheck: d.SMTPCheck,
		sess: newSessions(d.SessionKey, strings.HasPrefix(strings.ToLower(s.cfg.BaseURL), "https://"),
			// The store's clock, read per request, so tests can move time.
			func() time.Time { return s.db.Now() }),
		pages:       pages,
		campaigns:   d.Campaigns,
		outbox:      d.Outbox,
		subscribers: d.Subscribers,
		segments:    d.Segments,
		flows:       d.Flows,
		coupons:     d.Coupons,
		imports:     d.Imports,
	}
	if d.Bounces == nil && s.feedback != nil {
		d.Bounces = s.feedback
	}
	u.bounces = d.Bounces
	if d.Webhooks == nil && s.webhooks != nil {
		d.Webhooks = s.webhooks
	}
	u.webhooks = d.Webhooks

	e := s.echo
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") })
	e.GET("/static/*", serveStatic())
	e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") })

	// The body limit comes first: checkCSRF reads the form, and for a multipart
	// upload that means the whole body, before any handler could refuse it.
	g := e.Group("/ui", limitBody(uiMaxBody), u.loadSession, u.checkCSRF)
	signed := func(method, path string, h echo.HandlerFunc) { g.Add(method, path, h, u.requireUser) }

	// Signed out.
	g.GET("/login", u.loginPage)
	g.POST("/login", u.login)
	g.POST("/lang", u.setLang)

	// Signed in.
	signed(http.MethodPost, "/logout", u.logout)
	signed(http.MethodGet, "/", u.dashboard)
	signed(http.MethodGet, "/campaigns", u.campaignList)
	signed(http.MethodGet, "/campaigns/new", u.newCampaign)
	signed(http.MethodPost, "/campaigns", u.createCampaign)
	signed(http.MethodPost, "/campaigns/preview", u.previewCampaign)
	signed(http.MethodPost, "/campaigns/audience", u.audienceCount)
	signed(http.MethodGet, "/campaigns/:id", u.campaignPage)
	signed(http.MethodPost, "/campaigns/:id", u.updateCampaign)
	signed(http.MethodGet, "/campaigns/:id/preview", u.previewSaved)
	signed(http.MethodGet, "/campaigns/:id/progress", u.campaignProgressFragment) // polled while it sends
	signed(http.MethodPost, "/campaigns/:id/test", u.testCampaign)
	signed(http.MethodPost, "/campaigns/:id/:action", u.campaignAction) // start, pause, resume, cancel
	signed(http.MethodGet, "/webhooks", u.webhooksPage)
	signed(http.MethodGet, "/outbox", u.outboxList)
	signed(http.MethodGet, "/outbox/:id", u.outboxMail)
	signed(http.MethodGet, "/outbox/:id/raw", u.outboxRaw)
	signed(http.MethodGet, "/settings", u.settingsPage)
	signed(http.MethodPost, "/settings/tokens", u.createToken)
	signed(http.MethodPost, "/settings/smtp-check", u.checkSMTP)
	signed(http.MethodPost, "/settings/tokens/:id/revoke", u.revokeToken)
	signed(http.MethodGet, "/subscribers", u.subscriberList)
	signed(http.MethodGet, "/subscribers/export.csv", u.srv.exportSubscribersCSV)
	signed(http.MethodGet, "/subscribers/:id", u.subscriberDetail)
	signed(http.MethodPost, "/subscribers/:id/erase", u.eraseSubscriber)
	signed(http.MethodGet, "/lists", u.listsPage)
	signed(http.MethodPost, "/lists", u.createList)
	signed(http.MethodGet, "/segments", u.segmentList)
	signed(http.MethodGet, "/segments/new", u.newSegment)
	signed(http.MethodPost, "/segments", u.createSegment)
	signed(http.MethodPost, "/segments/count", u.ruleCount) // the builder's live count
	signed(http.MethodGet, "/segments/:id", u.segmentPage)
	signed(http.MethodPost, "/segments/:id", u.updateSegment)
	signed(http.MethodGet, "/segments/:id/count", u.segmentCount)
	signed(http.MethodPost, "/segments/:id/delete", u.deleteSegment)
	signed(http.MethodGet, "/flows", u.flowList)
	signed(http.MethodGet, "/flows/:slug", u.flowPage)
	signed(http.MethodPost, "/flows/:slug", u.saveFlow)
	signed(http.MethodPost, "/flows/:slug/preview", u.previewFlowStep)
	signed(http.MethodGet, "/coupons", u.poolList)
	signed(http.MethodPost, "/coupons", u.createPool)
	signed(http.MethodGet, "/coupons/:slug", u.poolPage)
	signed(http.MethodPost, "/coupons/:slug/codes", u.addCodes)
	signed(http.MethodPost, "/coupons/:slug/import", u.importCodes)
	signed(http.MethodPost, "/coupons/:slug/generate", u.generateCodes)
	signed(http.MethodGet, "/layouts", u.layoutList)
	signed(http.MethodGet, "/layouts/new", u.newLayout)
	signed(http.MethodPost, "/layouts", u.saveLayout)
	signed(http.MethodPost, "/layouts/preview", u.previewLayout) // the editor's live preview
	signed(http.MethodGet, "/layouts/:id", u.layoutPage)
	signed(http.MethodPost, "/layouts/:id", u.saveLayout)
	signed(http.MethodPost, "/layouts/:id/delete", u.deleteLayout)
	signed(http.MethodGet, "/tx", u.txList)
	signed(http.MethodGet, "/tx/new", u.newTx)
	signed(http.MethodPost, "/tx", u.saveTx)
	signed(http.MethodPost, "/tx/preview", u.previewTx)
	signed(http.MethodGet, "/tx/:slug", u.txPage)
	signed(http.MethodPost, "/tx/:slug", u.saveTx)
	signed(http.MethodPost, "/tx/:slug/delete", u.deleteTx)
	signed(http.MethodGet, "/retention", u.retentionPage)
	signed(http.MethodGet, "/import", u.importPage)
	signed(http.MethodGet, "/import/:id", u.importJobPage)
	signed(http.MethodPost, "/import/:id/check", u.checkImport)
	signed(http.MethodPost, "/import/:id/run", u.runImport)
	signed(http.MethodGet, "/import/:id/progress", u.importProgressFragment)
	// The upload streams a file of any size to disk: no body limit, and its
	// CSRF token is read from the form's first part by the handler itself.
	e.POST("/ui/import", u.uploadImport, u.loadSession, u.requireUser)
}

// uiMaxBody is the largest request the UI takes (the coupon codes' upload and
// a little form around it); the subscriber import streams and has no limit.
const uiMaxBody = 21 << 20

// limitBody refuses bodies over n bytes with a 413 while they are read.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > n {
				return tooLarge(n)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			return next(c)
		}
	}
}
