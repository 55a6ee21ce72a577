package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/internal/errs"
)

type settingsData struct {
	Tokens   []accounts.Token
	Settings UISettings
	// NewToken and NewSecret are set only in the answer to the create request:
	// the secret is shown this once and never stored.
	NewToken  *accounts.Token
	NewSecret string
	Name      string // the token name typed, kept on a validation error
	Scope     accounts.Scope
	// CanCheckSMTP: there are SMTP servers to test. SMTPCheck is the result
	// of the test just run, if any.
	CanCheckSMTP bool
	SMTPCheck    *smtpCheckResult
}

type smtpCheckResult struct {
	OK    bool
	Error string // the server's reply or why it could not be reached
}

// smtpCheckTimeout bounds the connection test: a firewall that drops packets
// would otherwise keep the marketer waiting for the dial timeout.
const smtpCheckTimeout = 15 * time.Second

func (u *ui) settingsPage(c echo.Context) error {
	return u.renderSettings(c, http.StatusOK, settingsData{Scope: accounts.ScopeShop}, u.flash(c), "")
}

func (u *ui) renderSettings(c echo.Context, status int, d settingsData, flash, msg string) error {
	tokens, err := u.accounts.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	d.Tokens = tokens
	d.CanCheckSMTP = u.smtpCheck != nil
	d.Settings = u.settings
	d.Settings.SMTPURL = maskURLPassword(d.Settings.SMTPURL)
	return u.render(c, status, "settings", uiPage{Title: "Settings", Nav: "settings", Flash: flash, Error: msg, Data: d})
}

// createToken answers with the page itself rather than a redirect: the secret
// must appear once, and putting it in a URL or a cookie would keep it around.
func (u *ui) createToken(c echo.Context) error {
	name := c.FormValue("name")
	scope := accounts.Scope(c.FormValue("scope"))
	if scope == "" {
		scope = accounts.ScopeShop // the form's preselected choice: the least a token may do
	}
	tok, secret, err := u.accounts.CreateToken(c.Request().Context(), name, scope)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		msg := "A token needs a name of 1 to 100 printable characters."
		if e.Field == "scope" {
			msg = "Please choose what the token may do: shop or admin."
		}
		return u.renderSettings(c, http.StatusUnprocessableEntity, settingsData{Name: name, Scope: scope}, "", u.tr(c, msg))
	}
	if err != nil {
		return err
	}
	u.srv.record(c, "token.create", "token "+strconv.FormatInt(tok.ID, 10), tok.Name+" ("+string(tok.Scope)+")")
	return u.renderSettings(c, http.StatusOK, settingsData{NewToken: &tok, NewSecret: secret, Scope: accounts.ScopeShop},
		u.tr(c, "Token created. Copy it now: it will not be shown again."), "")
}

func (u *ui) revokeToken(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errs.NotFoundf("no token %q", c.Param("id"))
	}
	if err := u.accounts.RevokeToken(c.Request().Context(), id); err != nil {
		return err
	}
	u.srv.record(c, "token.revoke", "token "+strconv.FormatInt(id, 10), "")
	return u.redirectDone(c, "/ui/settings", "token-revoked")
}

// checkSMTP connects to the SMTP servers (greeting, TLS, authentication) and
// shows the outcome on the settings page; htmx swaps in just the outcome.
// A refusal is the answer to the question asked, not a failed request: 200.
func (u *ui) checkSMTP(c echo.Context) error {
	if u.smtpCheck == nil {
		return u.renderSettings(c, http.StatusOK, settingsData{}, "", "")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), smtpCheckTimeout)
	defer cancel()
	res := &smtpCheckResult{OK: true}
	if err := u.smtpCheck(ctx); err != nil {
		res = &smtpCheckResult{Error: err.Error()}
		u.log.WarnContext(ctx, "smtp connection test failed", "err", err)
	}
	return u.renderSettings(c, http.StatusOK, settingsData{SMTPCheck: res}, "", "")
}

// maskURLPassword hides the SMTP passwords: the settings page is for checking
// where mail goes, not for reading credentials over someone's shoulder.
// --smtp-url may list several servers separated by spaces; each is masked.
func maskURLPassword(raw string) string {
	var out []string
	for _, one := range strings.Fields(raw) {
		p, err := url.Parse(one)
		if err != nil {
			out = append(out, "(unreadable URL)") // may hold the password in a form we cannot find
			continue
		}
		out = append(out, p.Redacted())
	}
	return strings.Join(out, " ")
}
