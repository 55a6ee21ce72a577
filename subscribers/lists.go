package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// DefaultList is the list a fresh install has and an enrollment without
// "lists" joins (API.md).
const DefaultList = "newsletter"

// List is a mailing list with its number of receiving subscribers.
type List struct {
	ID          int64     `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// Public lists are offered on the sign-up form and the preference page;
	// private ones (VIPs, imports) only by the shop.
	Public bool `json:"public"`
	// Subscribers counts active subscribers active on the list (who would get a mail).
	Subscribers int64 `json:"subscribers"`
	// Pending counts those who asked for the list and have not confirmed yet.
	Pending int64 `json:"pending"`
}

func validSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || (c == '-' || c == '_') && i > 0) {
			return false
		}
	}
	return true
}

// CreateList adds a public list. The slug is what the API and List-Id use:
// lower-case letters, digits, - and _; a duplicate is a 409.
func (s *Service) CreateList(ctx context.Context, slug, name, description string) (List, error) {
	return s.CreateListPublic(ctx, slug, name, description, true)
}

// CreateListPublic adds a list, public or private (see List.Public).
func (s *Service) CreateListPublic(ctx context.Context, slug, name, description string, public bool) (List, error) {
	slug = strings.TrimSpace(slug)
	if !validSlug(slug) {
		return List{}, errs.Invalidf("slug", "slug must be 1-64 lower-case letters, digits, - or _, starting with a letter or digit")
	}
	name, err := cleanText("name", name, 100, false)
	if err != nil {
		return List{}, err
	}
	if name == "" {
		return List{}, errs.Invalidf("name", "name is required")
	}
	if description, err = cleanText("description", description, 1000, true); err != nil {
		return List{}, err
	}
	l := List{Slug: slug, Name: name, Description: description, Public: public}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		l.CreatedAt = unixTime(tx.Now.Unix())
		return tx.QueryRowContext(ctx, `INSERT INTO lists (slug, name, description, created_at, public) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			slug, name, description, tx.Now.Unix(), public).Scan(&l.ID)
	})
	if store.IsUniqueViolation(err) {
		return List{}, errs.Conflictf("list %q exists", slug)
	}
	if err != nil {
		return List{}, fmt.Errorf("subscribers: create list %s: %w", slug, err)
	}
	s.listMu.Lock()
	s.listIDs[slug] = l.ID
	s.listMu.Unlock()
	return l, nil
}

// Lists returns all lists by slug with their subscriber counts.
func (s *Service) Lists(ctx context.Context) ([]List, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT l.id, l.slug, l.name, l.description, l.created_at, l.public,
		       coalesce(c.active, 0), coalesce(c.pending, 0)
		FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id ORDER BY l.slug`)
	if err != nil {
		return nil, fmt.Errorf("subscribers: lists: %w", err)
	}
	defer rows.Close()
	var out []List
	for rows.Next() {
		var l List
		var created int64
		if err := rows.Scan(&l.ID, &l.Slug, &l.Name, &l.Description, &created, &l.Public, &l.Subscribers, &l.Pending); err != nil {
			return nil, fmt.Errorf("subscribers: lists: %w", err)
		}
		l.CreatedAt = unixTime(created)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscribers: lists: %w", err)
	}
	return out, nil
}

// listRef is a resolved list.
type listRef struct {
	ID   int64
	Slug string
}

// resolveLists maps slugs to ids (deduplicated, in the order given); nil or
// empty means the default list. An unknown slug is a 422 on "lists". Ids are
// cached: Treu never deletes or renames a list's slug.
func (s *Service) resolveLists(ctx context.Context, slugs []string, defaultIfEmpty bool) ([]listRef, error) {
	if len(slugs) == 0 {
		if !defaultIfEmpty {
			return nil, nil
		}
		slugs = []string{DefaultList}
	}
	if len(slugs) > maxLists {
		return nil, errs.Invalidf("lists", "more than %d lists", maxLists)
	}
	out := make([]listRef, 0, len(slugs))
outer:
	for _, slug := range slugs {
		for _, r := range out {
			if r.Slug == slug {
				continue outer
			}
		}
		s.listMu.RLock()
		id, ok := s.listIDs[slug]
		s.listMu.RUnlock()
		if !ok {
			if !validSlug(slug) {
				return nil, errs.Invalidf("lists", "unknown list %q", truncate(slug, 64))
			}
			err := s.db.QueryRowContext(ctx, `SELECT id FROM lists WHERE slug = ?`, slug).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, errs.Invalidf("lists", "unknown list %q", slug)
			}
			if err != nil {
				return nil, fmt.Errorf("subscribers: resolve list %s: %w", slug, err)
			}
			s.listMu.Lock()
			s.listIDs[slug] = id
			s.listMu.Unlock()
		}
		out = append(out, listRef{ID: id, Slug: slug})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func slugsOf(ls []listRef) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Slug)
	}
	return b.String()
}
