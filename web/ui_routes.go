package web

import (
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

	// The services below default to the Server's own (Deps.Campaigns and so
	// on); set them only to replace one, as tests do.
	Campaigns   uiCampaigns
	Outbox      uiOutbox
	Subscribers uiSubscribers
	Segments    uiSegments
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
	db          *store.DB
	accounts    *accounts.Service
	log         *slog.Logger
	cfg         Config
	settings    UISettings
	sess        *sessions
	campaigns   uiCampaigns
	outbox      uiOutbox
	subscribers uiSubscribers
	segments    uiSegments
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
	pages, err := parseUIPages(assets)
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
	u := &ui{
		db:       s.db,
		accounts: s.accounts,
		log:      s.log,
		cfg:      s.cfg,
		settings: d.Settings,
		sess: newSessions(d.SessionKey, strings.HasPrefix(strings.ToLower(s.cfg.BaseURL), "https://"),
			// The store's clock, read per request, so tests can move time.
			func() time.Time { return s.db.Now() }),
		pages:       pages,
		campaigns:   d.Campaigns,
		outbox:      d.Outbox,
		subscribers: d.Subscribers,
		segments:    d.Segments,
	}

	e := s.echo
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") })
	e.GET("/static/*", serveStatic())
	e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") })

	g := e.Group("/ui", u.loadSession, u.checkCSRF)
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
	signed(http.MethodPost, "/campaigns/:id/test", u.testCampaign)
	signed(http.MethodPost, "/campaigns/:id/:action", u.campaignAction) // start, pause, resume, cancel
	signed(http.MethodGet, "/outbox", u.outboxList)
	signed(http.MethodGet, "/outbox/:id", u.outboxMail)
	signed(http.MethodGet, "/outbox/:id/raw", u.outboxRaw)
	signed(http.MethodGet, "/settings", u.settingsPage)
	signed(http.MethodPost, "/settings/tokens", u.createToken)
	signed(http.MethodPost, "/settings/tokens/:id/revoke", u.revokeToken)
	signed(http.MethodGet, "/subscribers", u.subscriberList)
	signed(http.MethodGet, "/subscribers/:id", u.subscriberDetail)
	signed(http.MethodPost, "/subscribers/:id/erase", u.eraseSubscriber)
	signed(http.MethodGet, "/lists", u.listsPage)
	signed(http.MethodPost, "/lists", u.createList)
	signed(http.MethodGet, "/segments", u.notYet("Segments", "POST /api/segments, GET /api/segments/{id}/count"))
	signed(http.MethodGet, "/flows", u.notYet("Flows", "GET /api/flows, PUT /api/flows/{slug}"))
	signed(http.MethodGet, "/coupons", u.notYet("Coupons", "POST /api/coupon-pools, POST /api/coupon-pools/{slug}/codes"))
}

// notYet is the page for a navigation entry whose UI is still to come: it
// names the API that does the job meanwhile.
func (u *ui) notYet(title, api string) echo.HandlerFunc {
	nav := strings.ToLower(title)
	return func(c echo.Context) error {
		return u.render(c, http.StatusOK, "notyet", uiPage{Title: title, Nav: nav, Data: api})
	}
}
