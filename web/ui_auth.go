package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
)

type loginData struct {
	Email string
	Next  string
}

func (u *ui) loginPage(c echo.Context) error {
	if _, ok := c.Get(ctxUser).(accounts.User); ok {
		return c.Redirect(http.StatusSeeOther, "/ui/")
	}
	return u.render(c, http.StatusOK, "login", uiPage{Title: "Sign in",
		Data: loginData{Next: safeNext(c.QueryParam("next"))}})
}

// login checks the password through accounts, which also locks an account
// after repeated failures. The answer to a wrong email and a wrong password is
// the same, so the page does not tell which addresses have accounts.
func (u *ui) login(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	d := loginData{Email: email, Next: safeNext(c.FormValue("next"))}
	ctx := c.Request().Context()
	user, err := u.accounts.SignIn(ctx, email, c.FormValue("password"), c.RealIP())
	switch {
	case err == nil:
	case errs.Is(err, errs.Unauthorized):
		return u.render(c, http.StatusUnauthorized, "login", uiPage{Title: "Sign in",
			Error: u.tr(c, "Wrong email or password."), Data: d})
	case errs.Is(err, errs.RateLimited):
		return u.render(c, http.StatusTooManyRequests, "login", uiPage{Title: "Sign in",
			Error: u.tr(c, "Too many failed sign-ins. The account is locked for a while; please try again later."), Data: d})
	default:
		return err
	}
	// A new session with a new nonce: nothing from before sign-in carries over.
	s, err := u.accounts.StartSession(ctx, user.ID, sessionTTL)
	if err != nil {
		return err
	}
	u.sess.setCookie(c, signedIn(s))
	withActor(c, audit.Actor{Kind: audit.KindUser, ID: user.ID, Name: user.Email})
	u.srv.record(c, "user.sign_in", userTarget(user), "")
	return c.Redirect(http.StatusSeeOther, d.Next)
}

// logout ends the session in the database, so a copy of the cookie is
// refused too, and then clears the cookie.
func (u *ui) logout(c echo.Context) error {
	if s, ok := c.Get(ctxSession).(session); ok && s.UserID != 0 {
		if err := u.accounts.EndSession(c.Request().Context(), s.Nonce); err != nil {
			return err
		}
	}
	u.sess.clearCookie(c)
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}

// setLang stores the UI language in a cookie. It is a form post (with the
// CSRF token) like every other change, and returns to the page it came from.
func (u *ui) setLang(c echo.Context) error {
	lang := c.FormValue("lang")
	if lang != "de" {
		lang = "en"
	}
	c.SetCookie(&http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: u.sess.secure, SameSite: http.SameSiteLaxMode})
	back := c.FormValue("back")
	if !strings.HasPrefix(back, "/ui/login") || strings.ContainsAny(back, "\\\r\n") {
		back = safeNext(back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}
