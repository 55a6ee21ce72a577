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
	// The contact policy (--contact-per-day, --contact-per-week, 0: off;
	// --quiet-hours, "off" for none).
	ContactPerDay, ContactPerWeek int
	QuietHours                    string
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
	// Each route names who may use it: viewers read (and preview), editors
	// write campaigns, segments, flows, lists and coupons, admins handle
	// subscribers' data, tokens and users (web/access.go).
	signedOut, viewer, editor, admin := u.uiRoles(g)

	// Signed out.
	signedOut(http.MethodGet, "/login", u.loginPage)
	signedOut(http.MethodPost, "/login", u.login)
	signedOut(http.MethodPost, "/lang", u.setLang)

	// Signed in. A POST a viewer may make changes nothing but their own session.
	viewer(http.MethodPost, "/logout", u.logout)
	viewer(http.MethodGet, "/", u.dashboard)
	viewer(http.MethodGet, "/campaigns", u.campaignList)
	viewer(http.MethodGet, "/campaigns/new", u.newCampaign)
	editor(http.MethodPost, "/campaigns", u.createCampaign)
	viewer(http.MethodPost, "/campaigns/preview", u.previewCampaign)
	viewer(http.MethodPost, "/campaigns/audience", u.audienceCount)
	viewer(http.MethodGet, "/campaigns/:id", u.campaignPage)
	editor(http.MethodPost, "/campaigns/:id", u.updateCampaign)
	viewer(http.MethodGet, "/campaigns/:id/preview", u.previewSaved)
	viewer(http.MethodGet, "/campaigns/:id/progress", u.campaignProgressFragment) // polled while it sends
	editor(http.MethodPost, "/campaigns/:id/test", u.testCampaign)
	editor(http.MethodPost, "/campaigns/:id/winner", u.pickWinner)      // A/B test: this variant to the rest
	editor(http.MethodPost, "/campaigns/:id/:action", u.campaignAction) // start, pause, resume, cancel
	admin(http.MethodGet, "/webhooks", u.webhooksPage)
	admin(http.MethodPost, "/webhooks", u.createWebhook)
	admin(http.MethodPost, "/webhooks/:id/delete", u.deleteWebhook)
	viewer(http.MethodGet, "/outbox", u.outboxList)
	viewer(http.MethodGet, "/outbox/:id", u.outboxMail)
	viewer(http.MethodGet, "/outbox/:id/raw", u.outboxRaw)
	viewer(http.MethodGet, "/settings", u.settingsPage)
	admin(http.MethodPost, "/settings/tokens", u.createToken)
	admin(http.MethodPost, "/settings/smtp-check", u.checkSMTP)
	admin(http.MethodPost, "/settings/tokens/:id/revoke", u.revokeToken)
	viewer(http.MethodGet, "/subscribers", u.subscriberList)
	admin(http.MethodGet, "/subscribers/export.csv", u.srv.exportSubscribersCSV)
	viewer(http.MethodGet, "/subscribers/:id", u.subscriberDetail)
	admin(http.MethodPost, "/subscribers/:id/erase", u.eraseSubscriber)
	viewer(http.MethodGet, "/lists", u.listsPage)
	editor(http.MethodPost, "/lists", u.createList)
	editor(http.MethodPost, "/lists/:slug/visibility", u.setListVisibility)
	viewer(http.MethodGet, "/segments", u.segmentList)
	viewer(http.MethodGet, "/segments/new", u.newSegment)
	editor(http.MethodPost, "/segments", u.createSegment)
	viewer(http.MethodPost, "/segments/count", u.ruleCount) // the builder's live count
	viewer(http.MethodGet, "/segments/:id", u.segmentPage)
	editor(http.MethodPost, "/segments/:id", u.updateSegment)
	viewer(http.MethodGet, "/segments/:id/count", u.segmentCount)
	editor(http.MethodPost, "/segments/:id/delete", u.deleteSegment)
	viewer(http.MethodGet, "/flows", u.flowList)
	viewer(http.MethodGet, "/flows/new", u.newFlow)
	editor(http.MethodPost, "/flows/new", u.createFlow)
	editor(http.MethodPost, "/flows/new/template", u.createFlowFromTemplate)
	viewer(http.MethodGet, "/flows/:slug", u.flowPage)
	editor(http.MethodPost, "/flows/:slug", u.saveFlow)
	viewer(http.MethodPost, "/flows/:slug/preview", u.previewFlowStep)
	viewer(http.MethodGet, "/coupons", u.poolList)
	editor(http.MethodPost, "/coupons", u.createPool)
	viewer(http.MethodGet, "/coupons/:slug", u.poolPage)
	editor(http.MethodPost, "/coupons/:slug/codes", u.addCodes)
	editor(http.MethodPost, "/coupons/:slug/import", u.importCodes)
	editor(http.MethodPost, "/coupons/:slug/generate", u.generateCodes)
	viewer(http.MethodGet, "/layouts", u.layoutList)
	viewer(http.MethodGet, "/layouts/new", u.newLayout)
	editor(http.MethodPost, "/layouts", u.saveLayout)
	viewer(http.MethodPost, "/layouts/preview", u.previewLayout) // the editor's live preview
	viewer(http.MethodGet, "/layouts/:id", u.layoutPage)
	editor(http.MethodPost, "/layouts/:id", u.saveLayout)
	editor(http.MethodPost, "/layouts/:id/delete", u.deleteLayout)
	viewer(http.MethodGet, "/tx", u.txList)
	viewer(http.MethodGet, "/tx/new", u.newTx)
	editor(http.MethodPost, "/tx", u.saveTx)
	viewer(http.MethodPost, "/tx/preview", u.previewTx)
	viewer(http.MethodGet, "/tx/:slug", u.txPage)
	editor(http.MethodPost, "/tx/:slug", u.saveTx)
	editor(http.MethodPost, "/tx/:slug/delete", u.deleteTx)
	viewer(http.MethodGet, "/retention", u.retentionPage)
	admin(http.MethodGet, "/import", u.importPage)
	admin(http.MethodGet, "/import/:id", u.importJobPage)
	admin(http.MethodPost, "/import/:id/check", u.checkImport)
	admin(http.MethodPost, "/import/:id/run", u.runImport)
	admin(http.MethodGet, "/import/:id/progress", u.importProgressFragment)
	// The upload streams a file of any size to disk: no body limit, and its
	// CSRF token is read from the form's first part by the handler itself.
	u.srv.guards.add(http.MethodPost, "/ui/import", string(accounts.RoleAdmin))
	e.POST("/ui/import", u.uploadImport, u.loadSession, u.requireUser, requireRole(accounts.RoleAdmin))
	signedOut(http.MethodGet, "/invite/:token", u.invitePage)
	signedOut(http.MethodPost, "/invite/:token", u.acceptInvite)
	viewer(http.MethodGet, "/account", u.accountPage)
	viewer(http.MethodPost, "/account/password", u.changePassword)
	admin(http.MethodGet, "/settings/users", u.usersPage)
	admin(http.MethodPost, "/settings/users/invite", u.inviteUser)
	admin(http.MethodPost, "/settings/users/:id/role", u.setUserRole)
	admin(http.MethodPost, "/settings/users/:id/remove", u.removeUser)
	admin(http.MethodGet, "/settings/audit", u.auditPage)
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
