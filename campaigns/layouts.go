package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
)

// Layout is an HTML frame a campaign's rendered Markdown goes into.
type Layout struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	HTML      string    `json:"html"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LayoutInput is what a marketer writes for a layout.
type LayoutInput struct {
	Name string `json:"name"`
	HTML string `json:"html"`
}

func (e *Engine) validateLayout(ctx context.Context, in LayoutInput) (LayoutInput, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return in, errs.Invalidf("name", "name is required")
	case strings.TrimSpace(in.HTML) == "":
		return in, errs.Invalidf("html", "html is required")
	case len(in.HTML) > 1<<20:
		return in, errs.Invalidf("html", "html is larger than 1 MiB")
	}
	src, err := e.sourceCtx(ctx, "Layout check", "", "Layout check", in.HTML)
	if err != nil {
		return in, err
	}
	if _, err := templates.Compile(src); err != nil {
		if ee, ok := errs.As(err); ok && ee.Field == "layout" {
			return in, errs.Invalidf("html", "%s", ee.Msg)
		}
		return in, err
	}
	return in, nil
}

// layoutSample is the Markdown the layout editor previews a layout with.
const layoutSample = "# Hallo {{ .FirstName | default \"Kim\" }}\n\nSo sieht eine Mail in diesem Layout aus: ein Absatz mit einem [Link](https://shop.example/), eine Liste\n\n- Kaffee\n- Tee\n\n<a class=\"button\" href=\"https://shop.example/\">Zum Shop</a>\n"

// PreviewLayout renders html as a layout around a sample mail for a sample
// recipient, with the shop's footer, as the layout editor shows it while
// the marketer types. A fault is the errs.Invalid that saving would give.
func (e *Engine) PreviewLayout(ctx context.Context, html string) (templates.Rendered, error) {
	if strings.TrimSpace(html) == "" {
		return templates.Rendered{}, errs.Invalidf("html", "html is required")
	}
	if len(html) > 1<<20 {
		return templates.Rendered{}, errs.Invalidf("html", "html is larger than 1 MiB")
	}
	src, err := e.sourceCtx(ctx, "Layout", "", layoutSample, html)
	if err != nil {
		return templates.Rendered{}, err
	}
	tmpl, err := templates.Compile(src)
	if err != nil {
		if ee, ok := errs.As(err); ok && ee.Field == "layout" {
			return templates.Rendered{}, errs.Invalidf("html", "%s", ee.Msg)
		}
		return templates.Rendered{}, err
	}
	rc := sample("")
	d, err := e.data(&rc)
	if err != nil {
		return templates.Rendered{}, err
	}
	return tmpl.Render(d)
}

// CreateLayout saves a layout after checking that it compiles.
func (e *Engine) CreateLayout(ctx context.Context, in LayoutInput) (Layout, error) {
	in, err := e.validateLayout(ctx, in)
	if err != nil {
		return Layout{}, err
	}
	var id int64
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO layouts (name, html, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id`,
			in.Name, in.HTML, tx.Now.Unix(), tx.Now.Unix()).Scan(&id)
	})
	if err != nil {
		return Layout{}, fmt.Errorf("campaigns: create layout: %w", err)
	}
	return e.GetLayout(ctx, id)
}

// UpdateLayout replaces a layout. Campaigns already sending keep the layout
// they were compiled with.
func (e *Engine) UpdateLayout(ctx context.Context, id int64, in LayoutInput) (Layout, error) {
	in, err := e.validateLayout(ctx, in)
	if err != nil {
		return Layout{}, err
	}
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE layouts SET name = ?, html = ?, updated_at = ? WHERE id = ?`, in.Name, in.HTML, tx.Now.Unix(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("layout %d not found", id)
		}
		return nil
	})
	if err != nil {
		return Layout{}, wrap("update layout", id, err)
	}
	return e.GetLayout(ctx, id)
}

// GetLayout returns one layout.
func (e *Engine) GetLayout(ctx context.Context, id int64) (Layout, error) {
	var (
		l                Layout
		created, updated int64
	)
	err := e.db.QueryRowContext(ctx, `SELECT id, name, html, created_at, updated_at FROM layouts WHERE id = ?`, id).
		Scan(&l.ID, &l.Name, &l.HTML, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Layout{}, errs.NotFoundf("layout %d not found", id)
	}
	if err != nil {
		return Layout{}, fmt.Errorf("campaigns: get layout %d: %w", id, err)
	}
	l.CreatedAt, l.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return l, nil
}

// ListLayouts returns all layouts by name (there are few).
func (e *Engine) ListLayouts(ctx context.Context) ([]Layout, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT id, name, html, created_at, updated_at FROM layouts ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("campaigns: list layouts: %w", err)
	}
	defer rows.Close()
	var out []Layout
	for rows.Next() {
		var (
			l                Layout
			created, updated int64
		)
		if err := rows.Scan(&l.ID, &l.Name, &l.HTML, &created, &updated); err != nil {
			return nil, fmt.Errorf("campaigns: list layouts: %w", err)
		}
		l.CreatedAt, l.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// DeleteLayout removes a layout; campaigns using it fall back to the default
// layout (layout_id ON DELETE SET NULL).
func (e *Engine) DeleteLayout(ctx context.Context, id int64) error {
	return wrap("delete layout", id, e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM layouts WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("layout %d not found", id)
		}
		return nil
	}))
}

// layoutHTML is the HTML of layout id; "" (the default layout) for nil.
func (e *Engine) layoutHTML(ctx context.Context, id *int64) (string, error) {
	if id == nil {
		return "", nil
	}
	var html string
	err := e.db.QueryRowContext(ctx, `SELECT html FROM layouts WHERE id = ?`, *id).Scan(&html)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.Invalidf("layout_id", "unknown layout %d", *id)
	}
	if err != nil {
		return "", fmt.Errorf("campaigns: layout %d: %w", *id, err)
	}
	return html, nil
}
