package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Role is what a UI user may do. Each role may do everything the ones below it may.
type Role string

const (
	// RoleViewer reads everything and changes nothing but their own password.
	RoleViewer Role = "viewer"
	// RoleEditor also writes campaigns, segments, flows, layouts, lists and coupons, and sends campaigns.
	RoleEditor Role = "editor"
	// RoleAdmin also manages subscribers' data (import, erase), tokens, settings and users.
	RoleAdmin Role = "admin"
	// RoleOwner is an admin who may also make and remove owners. There is always one.
	RoleOwner Role = "owner"
)

// Roles lists the roles from the most to the least powerful, for forms.
var Roles = []Role{RoleOwner, RoleAdmin, RoleEditor, RoleViewer}

var roleRank = map[Role]int{RoleViewer: 1, RoleEditor: 2, RoleAdmin: 3, RoleOwner: 4}

// AtLeast reports whether r may do what min may. An unknown role may do nothing.
func (r Role) AtLeast(min Role) bool {
	return roleRank[r] > 0 && roleRank[r] >= roleRank[min]
}

// ParseRole accepts one of owner, admin, editor, viewer.
func ParseRole(v string) (Role, error) {
	r := Role(strings.TrimSpace(v))
	if roleRank[r] == 0 {
		return "", errs.Invalidf("role", "role must be owner, admin, editor or viewer, not %q", v)
	}
	return r, nil
}

// User is a marketer who signs in to the UI.
type User struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// Invited is true until the invitation's link has set a password.
	Invited   bool      `json:"invited,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

const minPassword = 10

func checkEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return "", errs.Invalidf("email", "%q is not a valid email address", email)
	}
	return email, nil
}

func hashPassword(password string) (string, error) {
	if utf8.RuneCountInString(password) < minPassword || len(password) > 72 {
		return "", errs.Invalidf("password", "password must be %d to 72 bytes long", minPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("accounts: hash password: %w", err)
	}
	return string(hash), nil
}

// AddUser creates a UI user with a role and a bcrypt hash of password.
func (s *Service) AddUser(ctx context.Context, email, password string, role Role) (User, error) {
	email, err := checkEmail(email)
	if err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	u := User{Email: email, Role: role}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		u.CreatedAt = tx.Now
		return tx.QueryRowContext(ctx,
			`INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			email, hash, role, tx.Now.Unix()).Scan(&u.ID)
	})
	if store.IsUniqueViolation(err) {
		return User{}, errs.Conflictf("user %s exists already", email)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: add user: %w", err)
	}
	return u, nil
}

const userColumns = `id, email, role, password_hash = '', created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.Role, &u.Invited, &created)
	u.CreatedAt = time.Unix(created, 0).UTC()
	return u, err
}

// UserByID loads a user.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errs.NotFoundf("no user %d", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: load user %d: %w", id, err)
	}
	return u, nil
}

// Users lists every user by address.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("accounts: list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// mayManage says whether actor may give target the role to (to "" = remove).
// Admins manage admins, editors and viewers; owners are made, changed and
// removed by owners only, so an admin cannot take over an installation.
func mayManage(actor User, target Role, to Role) error {
	if !actor.Role.AtLeast(RoleAdmin) {
		return errs.Forbiddenf("only an admin or owner may manage users")
	}
	if (target == RoleOwner || to == RoleOwner) && actor.Role != RoleOwner {
		return errs.Forbiddenf("only an owner may make, change or remove an owner")
	}
	return nil
}

// lastOwner refuses a change that would leave no owner: someone must always
// be able to manage the installation from the UI. The lock keeps two
// instances from each demoting one of the last two owners at once.
func lastOwner(ctx context.Context, tx *store.Tx, id int64) error {
	if err := tx.Lock(ctx, "accounts.owners"); err != nil {
		return err
	}
	var others int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM users WHERE role = 'owner' AND id <> ? AND password_hash <> ''`, id).Scan(&others); err != nil {
		return fmt.Errorf("accounts: count owners: %w", err)
	}
	if others == 0 {
		return errs.Conflictf("this is the last owner; make someone else owner first")
	}
	return nil
}

// SetRole changes a user's role on behalf of actor and returns the user as before.
func (s *Service) SetRole(ctx context.Context, actor User, id int64, role Role) (User, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	var before User
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		before, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFoundf("no user %d", id)
		}
		if err != nil {
			return fmt.Errorf("accounts: load user %d: %w", id, err)
		}
		if err := mayManage(actor, before.Role, role); err != nil {
			return err
		}
		if before.Role == RoleOwner && role != RoleOwner {
			if err := lastOwner(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id); err != nil {
			return fmt.Errorf("accounts: set role of %d: %w", id, err)
		}
		return nil
	})
	return before, err
}

// RemoveUser deletes a user (and so their sessions) on behalf of actor, never
// the last owner, and returns the user removed.
func (s *Service) RemoveUser(ctx context.Context, actor User, id int64) (User, error) {
	var u User
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFoundf("no user %d", id)
		}
		if err != nil {
			return fmt.Errorf("accounts: load user %d: %w", id, err)
		}
		if err := mayManage(actor, u.Role, ""); err != nil {
			return err
		}
		if u.Role == RoleOwner {
			if err := lastOwner(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return fmt.Errorf("accounts: remove user %d: %w", id, err)
		}
		return nil
	})
	return u, err
}

// ChangePassword sets a new password after checking the current one, and
// ends every session of the user: whoever had a copy of a cookie is out. The
// caller starts a fresh session for the browser that made the change.
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next string) error {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFoundf("no user %d", id)
	}
	if err != nil {
		return fmt.Errorf("accounts: load user %d: %w", id, err)
	}
	if hash == "" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		return errs.Invalidf("current_password", "the current password is wrong")
	}
	newHash, err := hashPassword(next)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, newHash, id); err != nil {
			return fmt.Errorf("accounts: change password of %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("accounts: end sessions of %d: %w", id, err)
		}
		return nil
	})
}
