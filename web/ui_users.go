package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
)

func userTarget(u accounts.User) string { return "user " + strconv.FormatInt(u.ID, 10) }

type usersData struct {
	Users []accounts.User
	Me    accounts.User
	Roles []accounts.Role
	Email string // the address typed, kept on a validation error
	Role  accounts.Role
}

func (u *ui) usersPage(c echo.Context) error {
	return u.renderUsers(c, http.StatusOK, usersData{Role: accounts.RoleEditor}, u.flash(c), "")
}

func (u *ui) renderUsers(c echo.Context, status int, d usersData, flash, msg string) error {
	users, err := u.accounts.Users(c.Request().Context())
	if err != nil {
		return err
	}
	d.Users = users
	d.Me, _ = c.Get(ctxUser).(accounts.User)
	d.Roles = accounts.Roles
	if d.Me.Role != accounts.RoleOwner {
		d.Roles = accounts.Roles[1:] // only owners make owners
	}
	return u.render(c, status, "users", uiPage{Title: "Users", Nav: "settings", Flash: flash, Error: msg, Data: d})
}

// userError shows a refused user change on the users page, in words.
func (u *ui) userError(c echo.Context, err error, d usersData) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal {
		return err
	}
	status, _ := statusOf(err)
	msg := map[errs.Kind]string{
		errs.Forbidden: "Only an owner may make, change or remove an owner.",
		errs.Conflict:  "That is not possible: the address has an account already, or this is the last owner.",
		errs.NotFound:  "That user does not exist any more.",
	}[e.Kind]
	if e.Kind == errs.Invalid {
		msg = map[string]string{"email": "Please enter a valid email address.", "role": "Please choose a role."}[e.Field]
	}
	if msg == "" {
		msg = "That did not work."
	}
	return u.renderUsers(c, status, d, "", u.tr(c, msg))
}

func (u *ui) inviteUser(c echo.Context) error {
	me, _ := c.Get(ctxUser).(accounts.User)
	email := c.FormValue("email")
	role := accounts.Role(c.FormValue("role"))
	invited, err := u.accounts.Invite(c.Request().Context(), me, email, role, u.lang(c))
	if err != nil {
		return u.userError(c, err, usersData{Email: email, Role: role})
	}
	u.srv.record(c, "user.invite", userTarget(invited), invited.Email+" as "+string(role))
	return u.redirectDone(c, "/ui/settings/users", "user-invited")
}

func (u *ui) setUserRole(c echo.Context) error {
	me, _ := c.Get(ctxUser).(accounts.User)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errs.NotFoundf("no user %q", c.Param("id"))
	}
	role := accounts.Role(c.FormValue("role"))
	before, err := u.accounts.SetRole(c.Request().Context(), me, id, role)
	if err != nil {
		return u.userError(c, err, usersData{Role: accounts.RoleEditor})
	}
	u.srv.record(c, "user.role", userTarget(before), before.Email+": "+string(before.Role)+" → "+string(role))
	return u.redirectDone(c, "/ui/settings/users", "user-role")
}

func (u *ui) removeUser(c echo.Context) error {
	me, _ := c.Get(ctxUser).(accounts.User)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errs.NotFoundf("no user %q", c.Param("id"))
	}
	gone, err := u.accounts.RemoveUser(c.Request().Context(), me, id)
	if err != nil {
		return u.userError(c, err, usersData{Role: accounts.RoleEditor})
	}
	u.srv.record(c, "user.remove", userTarget(gone), gone.Email+" ("+string(gone.Role)+")")
	if gone.ID == me.ID {
		u.sess.clearCookie(c)
		return c.Redirect(http.StatusSeeOther, "/ui/login")
	}
	return u.redirectDone(c, "/ui/settings/users", "user-removed")
}

// accountPage is where everyone changes their own password.
func (u *ui) accountPage(c echo.Context) error {
	return u.render(c, http.StatusOK, "account", uiPage{Title: "Your account", Flash: u.flash(c)})
}

// changePassword ends every session of the user (accounts does), then signs
// this browser in again: the person who changed it stays, every copy is out.
func (u *ui) changePassword(c echo.Context) error {
	me, _ := c.Get(ctxUser).(accounts.User)
	ctx := c.Request().Context()
	next := c.FormValue("new_password")
	if next != c.FormValue("repeat_password") {
		return u.render(c, http.StatusUnprocessableEntity, "account", uiPage{Title: "Your account",
			Error: u.tr(c, "The two new passwords differ.")})
	}
	err := u.accounts.ChangePassword(ctx, me.ID, c.FormValue("current_password"), next)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		msg := "The new password must be 10 to 72 bytes long."
		if e.Field == "current_password" {
			msg = "The current password is wrong."
		}
		return u.render(c, http.StatusUnprocessableEntity, "account", uiPage{Title: "Your account", Error: u.tr(c, msg)})
	}
	if err != nil {
		return err
	}
	s, err := u.accounts.StartSession(ctx, me.ID, sessionTTL)
	if err != nil {
		return err
	}
	u.sess.setCookie(c, signedIn(s))
	u.srv.record(c, "user.password", userTarget(me), "")
	return u.redirectDone(c, "/ui/account", "password-changed")
}

type inviteData struct {
	Email string
	Token string
}

func (u *ui) invitePage(c echo.Context) error {
	invited, err := u.accounts.InvitedUser(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "invite", uiPage{Title: "Set your password",
		Data: inviteData{Email: invited.Email, Token: c.Param("token")}})
}

// acceptInvite sets the password and signs the new user in.
func (u *ui) acceptInvite(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	invited, err := u.accounts.InvitedUser(ctx, token)
	if err != nil {
		return err
	}
	d := inviteData{Email: invited.Email, Token: token}
	pw := c.FormValue("new_password")
	if pw != c.FormValue("repeat_password") {
		return u.render(c, http.StatusUnprocessableEntity, "invite", uiPage{Title: "Set your password",
			Error: u.tr(c, "The two new passwords differ."), Data: d})
	}
	user, err := u.accounts.AcceptInvite(ctx, token, pw)
	if errs.Is(err, errs.Invalid) {
		return u.render(c, http.StatusUnprocessableEntity, "invite", uiPage{Title: "Set your password",
			Error: u.tr(c, "The new password must be 10 to 72 bytes long."), Data: d})
	}
	if err != nil {
		return err
	}
	s, err := u.accounts.StartSession(ctx, user.ID, sessionTTL)
	if err != nil {
		return err
	}
	u.sess.setCookie(c, signedIn(s))
	withActor(c, audit.Actor{Kind: audit.KindUser, ID: user.ID, Name: user.Email})
	u.srv.record(c, "user.accept_invite", userTarget(user), string(user.Role))
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

type auditData struct {
	Entries []audit.Entry
	Next    int64 // the before= of the next page; 0 when this is the last
}

const auditPageSize = 50

func (u *ui) auditPage(c echo.Context) error {
	var before int64
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errs.Invalidf("before", "before must be an entry id")
		}
		before = n
	}
	entries, err := u.srv.audit.List(c.Request().Context(), before, auditPageSize)
	if err != nil {
		return err
	}
	d := auditData{Entries: entries}
	if len(entries) == auditPageSize {
		d.Next = entries[len(entries)-1].ID
	}
	return u.render(c, http.StatusOK, "audit", uiPage{Title: "Audit log", Nav: "settings", Data: d})
}
