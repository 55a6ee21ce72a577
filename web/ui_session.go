package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
)

// The session cookie is "user id, expiry, nonce" plus an HMAC. For a signed-in
// user the nonce is the secret of a row in accounts' sessions table, looked up
// on every request: signing out, a password change or removing the user
// deletes the row and so ends every copy of the cookie at once. The HMAC
// turns away forged cookies before any query. An anonymous session (user 0,
// only there to give the sign-in form a CSRF token) has no row, so visitors
// cannot fill the table.
const (
	sessionCookie = "treu_session"
	langCookie    = "treu_lang"
	sessionTTL    = 12 * time.Hour
	// anonTTL bounds the anonymous session that only carries the sign-in form's
	// CSRF token.
	anonTTL    = 2 * time.Hour
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// session is what the cookie carries. UserID 0 is an anonymous session: it
// exists so the sign-in form has a CSRF token too (login CSRF would sign a
// marketer into an attacker's account).
type session struct {
	UserID  int64
	Expires time.Time
	Nonce   string // 128 random bits, base64url; the CSRF token derives from it
}

// sessions signs and checks session cookies and CSRF tokens.
type sessions struct {
	key    []byte // derived from Deps' session key, used for nothing else
	secure bool   // Secure cookies when the base URL is https
	now    func() time.Time
}

func newSessions(key []byte, secure bool, now func() time.Time) *sessions {
	if len(key) < 32 {
		// A short or missing key would make every session forgeable; refuse to start.
		panic("web: UI session key must be at least 32 bytes")
	}
	// Derive a key of our own so the same secret may also sign other things
	// (customer links) without one signature ever being valid for the other.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("treu ui session v1"))
	return &sessions{key: m.Sum(nil), secure: secure, now: now}
}

func (ss *sessions) mac(purpose, msg string) []byte {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newAnonymous starts an anonymous session with a fresh nonce. Signing in
// replaces it with a new stored session, so it never keeps a CSRF token an
// attacker may have planted before.
func (ss *sessions) newAnonymous() session {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		panic("web: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return session{Expires: ss.now().Add(anonTTL), Nonce: base64.RawURLEncoding.EncodeToString(n[:])}
}

// signedIn is the cookie's view of a stored session.
func signedIn(a accounts.Session) session {
	return session{UserID: a.UserID, Expires: a.Expires, Nonce: a.Secret}
}

func (ss *sessions) encode(s session) string {
	payload := strconv.FormatInt(s.UserID, 10) + "." + strconv.FormatInt(s.Expires.Unix(), 10) + "." + s.Nonce
	return payload + "." + base64.RawURLEncoding.EncodeToString(ss.mac("session", payload))
}

// decode returns the session in a cookie value, or false if it is forged,
// malformed or expired.
func (ss *sessions) decode(v string) (session, bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || len(v) > 200 {
		return session{}, false
	}
	payload, sig := v[:i], v[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, ss.mac("session", payload)) {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	uid, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || uid < 0 || parts[2] == "" {
		return session{}, false
	}
	s := session{UserID: uid, Expires: time.Unix(exp, 0), Nonce: parts[2]}
	if !ss.now().Before(s.Expires) {
		return session{}, false
	}
	return s, true
}

// csrfToken is the synchroniser token for a session: derived, not stored, so
// it needs no table and changes whenever the session does.
func (ss *sessions) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(ss.mac("csrf", s.Nonce))
}

func (ss *sessions) validCSRF(s session, token string) bool {
	want := ss.csrfToken(s)
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

func (ss *sessions) setCookie(c echo.Context, s session) {
	c.SetCookie(&http.Cookie{
		Name:     sessionCookie,
		Value:    ss.encode(s),
		Path:     "/",
		Expires:  s.Expires,
		MaxAge:   int(s.Expires.Sub(ss.now()).Seconds()),
		HttpOnly: true,
		Secure:   ss.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (ss *sessions) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: ss.secure, SameSite: http.SameSiteLaxMode})
}

// Context keys for what the session middleware found.
const (
	ctxSession = "ui.session"
	ctxUser    = "ui.user"
)

// loadSession finds the request's session. Every UI response gets one: a page
// without a session would have no CSRF token for its forms.
func (u *ui) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var s session
		ok := false
		if ck, err := c.Cookie(sessionCookie); err == nil {
			s, ok = u.sess.decode(ck.Value)
		}
		if ok && s.UserID != 0 {
			user, err := u.accounts.SessionUser(c.Request().Context(), s.Nonce)
			switch {
			case err == nil && user.ID == s.UserID:
				c.Set(ctxUser, user)
				withActor(c, audit.Actor{Kind: audit.KindUser, ID: user.ID, Name: user.Email})
			case err == nil, errs.Is(err, errs.Unauthorized):
				ok = false // signed out, expired, or the user was removed
			default:
				return err
			}
		}
		if !ok {
			s = u.sess.newAnonymous()
			u.sess.setCookie(c, s)
		}
		c.Set(ctxSession, s)
		h := c.Response().Header()
		// Pages show personal data: keep them out of shared and back-button caches.
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", uiCSP)
		// Same-origin, not no-referrer: with no-referrer browsers send "Origin:
		// null" on form posts, which would blind the Origin check. Other sites
		// still get no referrer.
		h.Set("Referrer-Policy", "same-origin")
		return next(c)
	}
}

// uiCSP allows scripts only from our own origin. Styles and images may be
// inline or remote because a mail preview (an iframe srcdoc, which inherits
// this policy) is made of inline styles and remote images; the iframe's
// sandbox keeps any script in a mail from running.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: https: http:; font-src 'self' data: https:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// checkCSRF refuses every state-changing request whose token does not match
// its session. SameSite=Lax already keeps most cross-site posts from carrying
// the cookie; the token also covers older browsers and same-site attackers.
func (u *ui) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		s := c.Get(ctxSession).(session)
		token := c.Request().Header.Get(csrfHeader)
		if token == "" {
			token = c.FormValue(csrfField)
		}
		if token == "" || !u.sess.validCSRF(s, token) || !sameOrigin(c.Request()) {
			return &errs.Error{Kind: errs.Forbidden,
				Msg: u.tr(c, "This form has expired. Please go back, reload the page and try again.")}
		}
		return next(c)
	}
}

// sameOrigin rejects a request whose Origin header names another site. Its
// absence (old clients, curl) and "null" (sent under some referrer policies and
// from sandboxed frames) are left to the token, which is the real check.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && strings.EqualFold(ou.Host, r.Host)
}

// requireUser sends a signed-out browser to the sign-in page, remembering where
// it wanted to go. It runs after checkCSRF, so a post from a signed-out browser
// has been refused or is redirected without effect.
func (u *ui) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := c.Get(ctxUser).(accounts.User); ok {
			return next(c)
		}
		target := "/ui/login"
		if r := c.Request(); r.Method == http.MethodGet && r.URL.Path != "/ui/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if c.Request().Header.Get("HX-Request") != "" {
			// htmx follows HX-Redirect with a full page load instead of
			// swapping the sign-in page into a fragment.
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// safeNext accepts only a path inside the UI as a place to return to after
// signing in, so the sign-in page cannot be used to redirect elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ui/login") {
		return "/ui/"
	}
	return next
}
