package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
)

// The customer pages: what a subscriber reaches through the links in a mail
// (confirm, unsubscribe, preferences) and the public sign-up form. No login,
// no cookie: the signed token in the path is the authorisation, so the POST
// forms need no CSRF token (a forged POST would need the token, which is the
// secret). Pages speak the subscriber's language, or the browser's where no
// subscriber is known.

//go:embed views/public/*.html
var publicViews embed.FS

// publicPages serves the customer pages.
type publicPages struct {
	subs     *subscribers.Service
	tracking *tracking.Service // may be nil
	log      *slog.Logger
	pages    map[string]*template.Template
	limiter  *ipLimiter
	// referrer checks a referral token (0: none) and refer records the
	// friend it brought (web/public_referral.go).
	referrer func(token string) (int64, error)
	refer    func(ctx context.Context, friend, referrer int64) error
}

// newPublicPages parses the page templates (embedded: cannot fail at run time
// unless the build is broken, so it panics like template.Must).
func newPublicPages(subs *subscribers.Service, log *slog.Logger) *publicPages {
	p := &publicPages{
		subs:  subs,
		log:   log,
		pages: map[string]*template.Template{},
		// Five sign-ups at once per address, then one a minute: enough for a
		// family behind one router, too slow to mail-bomb someone.
		limiter: newIPLimiter(rate.Every(time.Minute), 5, 10000),
	}
	for _, name := range []string{"message", "confirm", "unsubscribe", "preferences", "subscribe"} {
		p.pages[name] = template.Must(template.New("layout.html").ParseFS(publicViews,
			"views/public/layout.html", "views/public/"+name+".html"))
	}
	return p
}

// publicRoutes mounts the customer pages on s.
func (s *Server) publicRoutes(subs *subscribers.Service) *publicPages {
	p := newPublicPages(subs, s.log)
	p.tracking = s.tracking
	e := s.echo
	e.GET("/confirm/:token", p.confirmPage)          // shows a button only: link scanners confirm nobody
	e.POST("/confirm/:token", p.confirmPost)         // the button
	e.GET("/unsubscribe/:token", p.unsubscribePage)  // shows a button only: link scanners unsubscribe nobody
	e.POST("/unsubscribe/:token", p.unsubscribePost) // RFC 8058 one-click, and the page's button
	e.GET("/preferences/:token", p.preferencesPage)  //
	e.POST("/preferences/:token", p.preferencesPost) //
	e.GET("/subscribe", p.subscribePage)             // the public form
	e.POST("/subscribe", p.subscribePost)            // rate-limited per IP, honeypot
	return p
}

// pubData is what every customer page template gets.
type pubData struct {
	Lang  string
	T     map[string]string
	Title string
	Shop  string
	Msg   string
	Err   string
	Token string
	// Mail: the "m" of an unsubscribe link, which mail it came from (package tracking)
	Mail string
	// preferences
	Prefs *subscribers.Prefs
	Saved bool
	// subscribe
	Form    subscribeForm
	Consent string
}

type subscribeForm struct {
	Email, Name, Locale string
	Lists               []pubListBox
	Ref                 string // a valid referral token the friend came with
}

type pubListBox struct {
	Slug, Name, Description string
	Checked                 bool
}

func (p *publicPages) data(lang, title string) pubData {
	if lang != "de" {
		lang = "en"
	}
	t := pubStrings[lang]
	return pubData{Lang: lang, T: t, Title: t[title], Shop: p.subs.ShopName()}
}

// render writes a page. Nothing here may be cached or indexed: the URLs carry
// personal tokens. Referrer-Policy no-referrer (set for every response) keeps
// the token from leaking to other sites.
func (p *publicPages) render(c echo.Context, status int, page string, d any) error {
	var buf bytes.Buffer
	if err := p.pages[page].Execute(&buf, d); err != nil {
		return err // a 500, logged once by the error handler
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	return c.HTMLBlob(status, buf.Bytes())
}

// message renders the one-paragraph page used for results and errors.
func (p *publicPages) message(c echo.Context, status int, lang, title, msg string) error {
	d := p.data(lang, title)
	d.Msg = d.T[msg]
	return p.render(c, status, "message", d)
}

// linkError answers a bad token with a page: 404 for a link that is not ours
// (we do not say why), 410 for an expired one. Anything else goes to the
// error handler (and is logged there if it is a 500).
func (p *publicPages) linkError(c echo.Context, err error) error {
	lang := acceptLang(c.Request())
	switch {
	case errors.Is(err, subscribers.ErrTokenExpired):
		return p.message(c, http.StatusGone, lang, "expired_title", "expired_msg")
	case errors.Is(err, subscribers.ErrTokenInvalid), errs.Is(err, errs.NotFound):
		return p.message(c, http.StatusNotFound, lang, "invalid_title", "invalid_msg")
	}
	return err
}

func meta(c echo.Context, channel string) subscribers.Meta {
	return subscribers.Meta{IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Channel: channel}
}

// limitForm bounds what a form post may send before it is parsed.
func limitForm(c echo.Context) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, 64<<10)
}

// lang picks the page language: the subscriber's, else the browser's.
func pageLang(c echo.Context, subscriberLocale string) string {
	if subscriberLocale == "de" || subscriberLocale == "en" {
		return subscriberLocale
	}
	return acceptLang(c.Request())
}

// confirmPage: GET /confirm/:token only shows the confirm button: security
// scanners of mail providers open every link in a mail, and a confirmation
// must be the person's own act. Once confirmed it says so.
func (p *publicPages) confirmPage(c echo.Context) error {
	tok := c.Param("token")
	sub, err := p.subs.CheckConfirm(c.Request().Context(), tok)
	if err != nil {
		return p.linkError(c, err)
	}
	lang := pageLang(c, sub.Locale)
	if sub.Status == subscribers.StatusActive && !hasPending(sub) {
		return p.message(c, http.StatusOK, lang, "confirmed_title", "confirmed_msg")
	}
	d := p.data(lang, "confirm_title")
	d.Token = tok
	return p.render(c, http.StatusOK, "confirm", d)
}

// hasPending says whether a subscriber still has a list to confirm.
func hasPending(sub subscribers.Subscriber) bool {
	for _, l := range sub.Lists {
		if l.Status == "pending" {
			return true
		}
	}
	return false
}

// confirmPost: POST /confirm/:token confirms and thanks. Confirming twice
// shows the same page.
func (p *publicPages) confirmPost(c echo.Context) error {
	limitForm(c)
	sub, err := p.subs.Confirm(c.Request().Context(), c.Param("token"), meta(c, subscribers.ChannelLink))
	if err != nil {
		return p.linkError(c, err)
	}
	return p.message(c, http.StatusOK, pageLang(c, sub.Locale), "confirmed_title", "confirmed_msg")
}

// unsubscribePage: GET /unsubscribe/:token only shows the button.
func (p *publicPages) unsubscribePage(c echo.Context) error {
	tok := c.Param("token")
	prefs, err := p.subs.Preferences(c.Request().Context(), tok)
	if err != nil {
		return p.linkError(c, err)
	}
	d := p.data(pageLang(c, prefs.Subscriber.Locale), "unsubscribe_title")
	d.Token, d.Mail = tok, c.QueryParam("m")
	if prefs.Subscriber.Status == subscribers.StatusUnsubscribed {
		d.Msg = d.T["unsubscribed_msg"]
	}
	return p.render(c, http.StatusOK, "unsubscribe", d)
}

// unsubscribePost: POST /unsubscribe/:token unsubscribes at once. This is
// the RFC 8058 endpoint (body List-Unsubscribe=One-Click, from a mail
// client) and the page's button (which adds source=page): 200 and a small
// page, never a redirect, no cookie, no further step.
func (p *publicPages) unsubscribePost(c echo.Context) error {
	limitForm(c)
	channel := subscribers.ChannelOneClick
	if c.FormValue("source") == "page" {
		channel = subscribers.ChannelPage
	}
	sub, err := p.subs.Unsubscribe(c.Request().Context(), c.Param("token"), meta(c, channel))
	if err != nil {
		return p.linkError(c, err)
	}
	if m := c.FormValue("m"); m != "" && p.tracking != nil {
		// Which mail it came from, for that mail's figures. The unsubscribe
		// has happened; a failure here only loses the count.
		if err := p.tracking.Unsubscribed(c.Request().Context(), m, sub.ID); err != nil {
			p.log.Warn("unsubscribe not counted for its mail", "subscriber_id", sub.ID, "err", err)
		}
	}
	return p.message(c, http.StatusOK, pageLang(c, sub.Locale), "unsubscribed_title", "unsubscribed_msg")
}

// preferencesPage: GET /preferences/:token shows lists, language and name.
func (p *publicPages) preferencesPage(c echo.Context) error {
	tok := c.Param("token")
	prefs, err := p.subs.Preferences(c.Request().Context(), tok)
	if err != nil {
		return p.linkError(c, err)
	}
	return p.renderPrefs(c, http.StatusOK, tok, prefs, false, "")
}

func (p *publicPages) renderPrefs(c echo.Context, status int, tok string, prefs subscribers.Prefs, saved bool, errMsg string) error {
	d := p.data(pageLang(c, prefs.Subscriber.Locale), "prefs_title")
	d.Token, d.Prefs, d.Saved, d.Err = tok, &prefs, saved, errMsg
	return p.render(c, status, "preferences", d)
}

// preferencesPost: POST /preferences/:token saves the form, or unsubscribes
// from everything (the second button).
func (p *publicPages) preferencesPost(c echo.Context) error {
	limitForm(c)
	tok := c.Param("token")
	if err := c.Request().ParseForm(); err != nil {
		return errs.Malformedf("", "malformed form")
	}
	f := c.Request().PostForm
	in := subscribers.PrefsInput{
		Name:           f.Get("name"),
		Locale:         f.Get("locale"),
		Lists:          f["lists"],
		UnsubscribeAll: f.Get("action") == "unsubscribe_all",
	}
	if f.Get("tracking_shown") != "" {
		// The box was on the form: unticked means off.
		on := f.Get("tracking") != ""
		in.Tracking = &on
	}
	prefs, err := p.subs.SavePreferences(c.Request().Context(), tok, in, meta(c, subscribers.ChannelPreferences))
	if err != nil {
		if e, ok := errs.As(err); ok && e.Kind == errs.Invalid && e.Field != "token" {
			cur, err2 := p.subs.Preferences(c.Request().Context(), tok)
			if err2 != nil {
				return p.linkError(c, err2)
			}
			lang := pageLang(c, cur.Subscriber.Locale)
			return p.renderPrefs(c, http.StatusUnprocessableEntity, tok, cur, false, fieldMessage(lang, e.Field))
		}
		return p.linkError(c, err)
	}
	if prefs.Subscriber.Status == subscribers.StatusUnsubscribed {
		return p.message(c, http.StatusOK, pageLang(c, prefs.Subscriber.Locale), "unsubscribed_title", "unsubscribed_msg")
	}
	return p.renderPrefs(c, http.StatusOK, tok, prefs, true, "")
}

// consentText is the wording shown on the sign-up form, recorded with each
// sign-up (its sha256 names the version). Change it here and the log shows
// from when on which wording was shown.
func consentText(lang, shop string) string {
	if lang == "de" {
		return "Ja, ich möchte den Newsletter von " + shop + " mit Angeboten und Neuigkeiten per E-Mail erhalten. " +
			"Nach dem Absenden erhalte ich eine E-Mail mit einem Bestätigungslink (Double-Opt-in). " +
			"Meine Einwilligung kann ich jederzeit über den Abmeldelink in jeder E-Mail widerrufen."
	}
	return "Yes, I want to receive the newsletter of " + shop + " with offers and news by email. " +
		"After sending this form I will get an email with a confirmation link (double opt-in). " +
		"I can withdraw my consent at any time through the unsubscribe link in every email."
}

// subscribePage: GET /subscribe, the public sign-up form (?lang=de|en).
func (p *publicPages) subscribePage(c echo.Context) error {
	lang := c.QueryParam("lang")
	if lang != "de" && lang != "en" {
		lang = acceptLang(c.Request())
	}
	return p.renderSubscribe(c, http.StatusOK, lang, subscribeForm{Locale: lang, Ref: p.validRef(c.QueryParam("ref"))},
		[]string{subscribers.DefaultList}, "")
}

// validRef returns tok if it is a valid referral token, else "": a bad or
// foreign token only loses the referral, never the sign-up.
func (p *publicPages) validRef(tok string) string {
	if tok == "" || p.referrer == nil {
		return ""
	}
	if id, err := p.referrer(tok); err != nil || id == 0 {
		return ""
	}
	return tok
}

func (p *publicPages) renderSubscribe(c echo.Context, status int, lang string, f subscribeForm, checked []string, errMsg string) error {
	lists, err := p.subs.PublicLists(c.Request().Context())
	if err != nil {
		return err
	}
	f.Lists = f.Lists[:0]
	for _, l := range lists {
		box := pubListBox{Slug: l.Slug, Name: l.Name, Description: l.Description}
		for _, s := range checked {
			box.Checked = box.Checked || s == l.Slug
		}
		f.Lists = append(f.Lists, box)
	}
	d := p.data(lang, "subscribe_title")
	d.Form, d.Err, d.Consent = f, errMsg, consentText(d.Lang, d.Shop)
	return p.render(c, status, "subscribe", d)
}

// subscribePost: POST /subscribe enrolls with double opt-in. The answer is the
// same whether the address is new, pending or active, so the form cannot be
// used to find out who subscribes.
func (p *publicPages) subscribePost(c echo.Context) error {
	limitForm(c)
	lang := c.FormValue("lang")
	if lang != "de" && lang != "en" {
		lang = acceptLang(c.Request())
	}
	if !p.limiter.allow(c.RealIP(), time.Now()) {
		c.Response().Header().Set("Retry-After", "60")
		return p.message(c, http.StatusTooManyRequests, lang, "ratelimit_title", "ratelimit_msg")
	}
	if err := c.Request().ParseForm(); err != nil {
		return errs.Malformedf("", "malformed form")
	}
	f := c.Request().PostForm
	// The honeypot: a field people do not see and bots fill in. Answer as if
	// all went well, and do nothing.
	if f.Get("website") != "" {
		return p.message(c, http.StatusOK, lang, "checkmail_title", "checkmail_msg")
	}
	form := subscribeForm{Email: strings.TrimSpace(f.Get("email")), Name: f.Get("name"), Locale: f.Get("locale"),
		Ref: p.validRef(f.Get("ref"))}
	if form.Locale == "" {
		form.Locale = lang
	}
	lists := f["lists"]
	if len(lists) == 0 { // all boxes unticked: do not fall back to the default list
		return p.renderSubscribe(c, http.StatusUnprocessableEntity, lang, form, nil, fieldMessage(lang, "lists"))
	}
	// Only public lists can be joined here; a private one is the shop's own.
	public, err := p.subs.PublicLists(c.Request().Context())
	if err != nil {
		return err
	}
	for _, slug := range lists {
		if !slices.ContainsFunc(public, func(l subscribers.List) bool { return l.Slug == slug }) {
			return p.renderSubscribe(c, http.StatusUnprocessableEntity, lang, form, nil, fieldMessage(lang, "lists"))
		}
	}
	sub, created, err := p.subs.Enroll(c.Request().Context(), subscribers.EnrollInput{
		Email:  form.Email,
		Name:   form.Name,
		Locale: form.Locale,
		Lists:  lists,
		Consent: &subscribers.ConsentInput{
			Text:      consentText(lang, p.subs.ShopName()),
			IP:        c.RealIP(),
			UserAgent: truncateUA(c.Request().UserAgent()),
			Source:    "subscribe form",
		},
	}, meta(c, subscribers.ChannelForm))
	if err != nil {
		if e, ok := errs.As(err); ok && (e.Kind == errs.Invalid || e.Kind == errs.Conflict) {
			return p.renderSubscribe(c, http.StatusUnprocessableEntity, lang, form, lists, fieldMessage(lang, e.Field))
		}
		return err
	}
	// Only a newcomer counts as referred: an address that was already
	// known must not be claimed by whoever has a link.
	if form.Ref != "" && created {
		referrer, _ := p.referrer(form.Ref)
		if err := p.refer(c.Request().Context(), sub.ID, referrer); err != nil {
			return err
		}
	}
	return p.message(c, http.StatusOK, lang, "checkmail_title", "checkmail_msg")
}

func truncateUA(ua string) string {
	if len(ua) > 500 {
		return strings.ToValidUTF8(ua[:500], "")
	}
	return ua
}

// fieldMessage explains a refused form field in the page's language.
func fieldMessage(lang, field string) string {
	t := pubStrings[lang]
	if t == nil {
		t = pubStrings["en"]
	}
	if m, ok := t["err_"+field]; ok {
		return m
	}
	return t["err_other"]
}

// ipLimiter is a token bucket per client address (IPv6 by /64, since one
// customer gets a whole /64) in a bounded map: when it is full, buckets idle
// long enough to be full again are dropped, which forgets nothing.
type ipLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	max     int
	buckets map[netip.Prefix]*ipBucket
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(r rate.Limit, burst, max int) *ipLimiter {
	return &ipLimiter{every: r, burst: burst, max: max, buckets: map[netip.Prefix]*ipBucket{}}
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		addr = netip.IPv4Unspecified() // unknown senders share one bucket
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	key, _ := addr.Prefix(bits)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.sweep(now)
		}
		b = &ipBucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// sweep drops buckets that have refilled; if all are busy (a flood from many
// addresses), it drops arbitrary ones to keep memory bounded.
func (l *ipLimiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.every) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max/2 {
			break
		}
		delete(l.buckets, k)
	}
}

// pubStrings are the customer pages' texts.
var pubStrings = map[string]map[string]string{
	"de": {
		"confirm_title":       "Anmeldung bestätigen",
		"confirm_lead":        "Bitte bestätigen Sie mit einem Klick, dass Sie unseren Newsletter erhalten möchten.",
		"confirm_button":      "Anmeldung bestätigen",
		"confirmed_title":     "Anmeldung bestätigt",
		"confirmed_msg":       "Vielen Dank! Ihre Anmeldung ist bestätigt. Sie können dieses Fenster jetzt schließen.",
		"unsubscribe_title":   "Newsletter abbestellen",
		"unsubscribe_lead":    "Möchten Sie keine E-Mails mehr von uns erhalten? Ein Klick genügt.",
		"unsubscribe_button":  "Jetzt abmelden",
		"prefs_link":          "Lieber nur einzelne Listen abbestellen oder Angaben ändern",
		"unsubscribed_title":  "Abgemeldet",
		"unsubscribed_msg":    "Sie sind abgemeldet und erhalten keine Newsletter mehr von uns.",
		"prefs_title":         "Ihre Einstellungen",
		"prefs_lists":         "Welche E-Mails möchten Sie erhalten?",
		"prefs_name":          "Name",
		"prefs_locale":        "Sprache",
		"prefs_save":          "Speichern",
		"prefs_saved":         "Ihre Einstellungen sind gespeichert.",
		"prefs_unsub_all":     "Von allem abmelden",
		"prefs_tracking":      "Auswertung",
		"prefs_tracking_text": subscribers.TrackingText("de"),
		"prefs_email":         "E-Mail-Adresse",
		"subscribe_title":     "Newsletter abonnieren",
		"subscribe_email":     "E-Mail-Adresse",
		"subscribe_name":      "Name (freiwillig)",
		"subscribe_locale":    "Sprache",
		"subscribe_lists":     "Listen",
		"subscribe_button":    "Anmelden",
		"honeypot":            "Dieses Feld bitte leer lassen",
		"checkmail_title":     "Fast geschafft",
		"checkmail_msg":       "Bitte sehen Sie in Ihr Postfach: Wir haben Ihnen eine E-Mail mit einem Bestätigungslink geschickt. Erst nach Ihrem Klick sind Sie angemeldet.",
		"ratelimit_title":     "Zu viele Anfragen",
		"ratelimit_msg":       "Von Ihrer Verbindung kamen gerade sehr viele Anmeldungen. Bitte versuchen Sie es in einer Minute noch einmal.",
		"expired_title":       "Link abgelaufen",
		"expired_msg":         "Dieser Link ist abgelaufen. Bitte melden Sie sich erneut an; Sie erhalten dann einen neuen Bestätigungslink.",
		"invalid_title":       "Link ungültig",
		"invalid_msg":         "Dieser Link ist ungültig. Bitte verwenden Sie den vollständigen Link aus der E-Mail.",
		"err_email":           "Bitte geben Sie eine gültige E-Mail-Adresse an.",
		"err_name":            "Bitte geben Sie einen Namen ohne Sonderzeichen und mit höchstens 200 Zeichen an.",
		"err_locale":          "Bitte wählen Sie Deutsch oder Englisch.",
		"err_lists":           "Bitte wählen Sie mindestens eine der angebotenen Listen.",
		"err_other":           "Diese Anmeldung ist leider nicht möglich.",
		"lang_de":             "Deutsch",
		"lang_en":             "Englisch",
	},
	"en": {
		"confirm_title":       "Confirm your subscription",
		"confirm_lead":        "Please confirm with one click that you want to receive our newsletter.",
		"confirm_button":      "Confirm subscription",
		"confirmed_title":     "Subscription confirmed",
		"confirmed_msg":       "Thank you! Your subscription is confirmed. You can close this window now.",
		"unsubscribe_title":   "Unsubscribe",
		"unsubscribe_lead":    "Don't want our emails any more? One click is enough.",
		"unsubscribe_button":  "Unsubscribe now",
		"prefs_link":          "Rather leave single lists or change your details",
		"unsubscribed_title":  "Unsubscribed",
		"unsubscribed_msg":    "You are unsubscribed and will get no more newsletters from us.",
		"prefs_title":         "Your preferences",
		"prefs_lists":         "Which emails would you like to get?",
		"prefs_name":          "Name",
		"prefs_locale":        "Language",
		"prefs_save":          "Save",
		"prefs_saved":         "Your preferences are saved.",
		"prefs_unsub_all":     "Unsubscribe from everything",
		"prefs_tracking":      "Analytics",
		"prefs_tracking_text": subscribers.TrackingText("en"),
		"prefs_email":         "Email address",
		"subscribe_title":     "Subscribe to our newsletter",
		"subscribe_email":     "Email address",
		"subscribe_name":      "Name (optional)",
		"subscribe_locale":    "Language",
		"subscribe_lists":     "Lists",
		"subscribe_button":    "Subscribe",
		"honeypot":            "Please leave this field empty",
		"checkmail_title":     "Almost done",
		"checkmail_msg":       "Please check your inbox: we have sent you an email with a confirmation link. You are subscribed once you have clicked it.",
		"ratelimit_title":     "Too many requests",
		"ratelimit_msg":       "Very many sign-ups came from your connection just now. Please try again in a minute.",
		"expired_title":       "Link expired",
		"expired_msg":         "This link has expired. Please sign up again and you will get a new confirmation link.",
		"invalid_title":       "Invalid link",
		"invalid_msg":         "This link is not valid. Please use the complete link from the email.",
		"err_email":           "Please enter a valid email address.",
		"err_name":            "Please enter a name of at most 200 characters without control characters.",
		"err_locale":          "Please choose German or English.",
		"err_lists":           "Please choose at least one of the lists offered.",
		"err_other":           "This sign-up is not possible, sorry.",
		"lang_de":             "German",
		"lang_en":             "English",
	},
}
