package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
)

// Enqueuer queues a mail in the caller's transaction (mailer.Queue does), so
// an invited user never exists without the mail that lets them in.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *store.Tx, m *mailer.Message) (int64, error)
}

// InviteConfig is what inviting users by mail needs.
type InviteConfig struct {
	// Secret signs invitation links; accounts derives its own key from it.
	Secret   []byte
	Mail     Enqueuer
	From     string
	FromName string
	BaseURL  string        // the link is BaseURL/ui/invite/TOKEN
	TTL      time.Duration // how long a link works; default 72h
}

// WithInvitations lets the Service invite users by mail.
func WithInvitations(c InviteConfig) Option {
	return func(s *Service) {
		if c.TTL <= 0 {
			c.TTL = 72 * time.Hour
		}
		m := hmac.New(sha256.New, c.Secret)
		m.Write([]byte("treu invite v1"))
		c.Secret = m.Sum(nil)
		s.invite = c
	}
}

// inviteMAC signs user id, expiry and the invitation's time: a new invitation
// changes invited_at and so voids the old link, and accepting clears it.
func (s *Service) inviteMAC(id, exp, invitedAt int64) string {
	m := hmac.New(sha256.New, s.invite.Secret)
	fmt.Fprintf(m, "%d.%d.%d", id, exp, invitedAt)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Invite creates a user without a password (or renews the invitation of one
// not yet accepted) with role, on behalf of actor, and queues a mail with a
// signed link that sets the password. lang ("de" or "en") picks the mail's language.
func (s *Service) Invite(ctx context.Context, actor User, email string, role Role, lang string) (User, error) {
	if s.invite.Mail == nil || len(s.invite.Secret) == 0 {
		return User{}, errs.Conflictf("inviting by mail is not configured")
	}
	email, err := checkEmail(email)
	if err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if err := mayManage(actor, "", role); err != nil {
		return User{}, err
	}
	u := User{Email: email, Role: role, Invited: true}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		u.CreatedAt = tx.Now
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE email = ?`, email).Scan(&u.ID, &hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = tx.QueryRowContext(ctx, `INSERT INTO users (email, password_hash, role, created_at, invited_at)
				VALUES (?, '', ?, ?, ?) RETURNING id`, email, role, tx.Now.Unix(), tx.Now.Unix()).Scan(&u.ID)
		case err == nil && hash != "":
			return errs.Conflictf("%s has an account already", email)
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE users SET role = ?, invited_at = ? WHERE id = ?`, role, tx.Now.Unix(), u.ID)
		}
		if err != nil {
			return fmt.Errorf("accounts: invite %s: %w", email, err)
		}
		exp := tx.Now.Add(s.invite.TTL).Unix()
		token := strconv.FormatInt(u.ID, 10) + "." + strconv.FormatInt(exp, 10) + "." + s.inviteMAC(u.ID, exp, tx.Now.Unix())
		link := strings.TrimRight(s.invite.BaseURL, "/") + "/ui/invite/" + token
		_, err = s.invite.Mail.Enqueue(ctx, tx, inviteMail(s.invite, email, actor.Email, link, lang, tx.Now.Add(s.invite.TTL)))
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

func inviteMail(c InviteConfig, to, by, link, lang string, until time.Time) *mailer.Message {
	m := &mailer.Message{From: c.From, FromName: c.FromName, To: to, Kind: "invite"}
	if lang == "de" {
		m.Subject = "Einladung zu Treu"
		m.Text = fmt.Sprintf("Hallo,\n\n%s lädt Sie ein, mit Treu Newsletter zu schreiben.\n\n"+
			"Legen Sie hier Ihr Passwort fest (der Link gilt bis %s UTC):\n%s\n\n"+
			"Wenn Sie diese Einladung nicht erwartet haben, ignorieren Sie diese Mail.\n",
			by, until.UTC().Format("02.01.2006 15:04"), link)
		return m
	}
	m.Subject = "Your invitation to Treu"
	m.Text = fmt.Sprintf("Hello,\n\n%s invites you to write newsletters with Treu.\n\n"+
		"Set your password here (the link works until %s UTC):\n%s\n\n"+
		"If you did not expect this invitation, ignore this mail.\n",
		by, until.UTC().Format("2006-01-02 15:04"), link)
	return m
}

// errBadInvite is the one answer to every broken link: forged, expired,
// replaced by a newer invitation, or accepted already.
var errBadInvite = errs.NotFoundf("this invitation link is not valid any more; ask for a new one")

// InvitedUser returns the user an invitation link is for, if it still works.
func (s *Service) InvitedUser(ctx context.Context, token string) (User, error) {
	u, _, err := s.checkInvite(ctx, s.db.QueryRowContext, token)
	return u, err
}

func (s *Service) checkInvite(ctx context.Context, query func(context.Context, string, ...any) *sql.Row, token string) (User, int64, error) {
	if len(s.invite.Secret) == 0 || len(token) > 200 {
		return User{}, 0, errBadInvite
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return User{}, 0, errBadInvite
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || s.db.Now().Unix() >= exp {
		return User{}, 0, errBadInvite
	}
	var u User
	var created int64
	var invitedAt sql.NullInt64
	err := query(ctx, `SELECT `+userColumns+`, invited_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.Email, &u.Role, &u.Invited, &created, &invitedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, 0, errBadInvite
	}
	if err != nil {
		return User{}, 0, fmt.Errorf("accounts: load invited user %d: %w", id, err)
	}
	u.CreatedAt = time.Unix(created, 0).UTC()
	want := s.inviteMAC(id, exp, invitedAt.Int64)
	if !u.Invited || !invitedAt.Valid || subtle.ConstantTimeCompare([]byte(want), []byte(parts[2])) != 1 {
		return User{}, 0, errBadInvite
	}
	return u, invitedAt.Int64, nil
}

// AcceptInvite sets the invited user's password; the link then stops working.
func (s *Service) AcceptInvite(ctx context.Context, token, password string) (User, error) {
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var invitedAt int64
		var err error
		u, invitedAt, err = s.checkInvite(ctx, tx.QueryRowContext, token)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, invited_at = NULL
			WHERE id = ? AND password_hash = '' AND invited_at = ?`, hash, u.ID, invitedAt)
		if err != nil {
			return fmt.Errorf("accounts: accept invitation of %d: %w", u.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errBadInvite
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	u.Invited = false
	return u, nil
}
