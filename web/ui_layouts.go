package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/templates"
)

// uiLayouts is what the layout editor needs of *campaigns.Engine.
type uiLayouts interface {
	ListLayouts(ctx context.Context) ([]campaigns.Layout, error)
	GetLayout(ctx context.Context, id int64) (campaigns.Layout, error)
	CreateLayout(ctx context.Context, in campaigns.LayoutInput) (campaigns.Layout, error)
	UpdateLayout(ctx context.Context, id int64, in campaigns.LayoutInput) (campaigns.Layout, error)
	DeleteLayout(ctx context.Context, id int64) error
	PreviewLayout(ctx context.Context, html string) (templates.Rendered, error)
}

func (u *ui) layoutsSvc() (uiLayouts, error) {
	if l, ok := u.campaigns.(uiLayouts); ok {
		return l, nil
	}
	return nil, errs.NotFoundf("layouts are not available")
}

type layoutsData struct{ Layouts []campaigns.Layout }

func (u *ui) layoutList(c echo.Context) error {
	svc, err := u.layoutsSvc()
	if err != nil {
		return err
	}
	ls, err := svc.ListLayouts(c.Request().Context())
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "maillayouts", uiPage{Title: "Layouts", Nav: "layouts", Flash: u.flashOf(c), Data: layoutsData{ls}})
}

type layoutData struct {
	ID      int64
	Name    string
	HTML    string
	Updated time.Time
	Field   string // the field an error is about, for aria-invalid
}

func (u *ui) newLayout(c echo.Context) error {
	if _, err := u.layoutsSvc(); err != nil {
		return err
	}
	return u.renderLayout(c, http.StatusOK, layoutData{HTML: templates.DefaultLayout()}, "", "")
}

func (u *ui) layout(c echo.Context) (campaigns.Layout, uiLayouts, error) {
	svc, err := u.layoutsSvc()
	if err != nil {
		return campaigns.Layout{}, nil, err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return campaigns.Layout{}, nil, errs.NotFoundf("no such layout")
	}
	l, err := svc.GetLayout(c.Request().Context(), id)
	return l, svc, err
}

func (u *ui) layoutPage(c echo.Context) error {
	l, _, err := u.layout(c)
	if err != nil {
		return err
	}
	return u.renderLayout(c, http.StatusOK, layoutData{ID: l.ID, Name: l.Name, HTML: l.HTML, Updated: l.UpdatedAt}, u.flashOf(c), "")
}

func (u *ui) renderLayout(c echo.Context, status int, d layoutData, flash, msg string) error {
	title := "New layout"
	if d.ID != 0 {
		title = "Layout"
	}
	return u.render(c, status, "maillayout", uiPage{Title: title, Nav: "layouts", Flash: flash, Error: msg, Data: d})
}

// saveLayout creates (no id) or replaces a layout from the editor's form. A
// refused layout (a script, no {{ content }}) shows the form again with the
// message naming its line.
func (u *ui) saveLayout(c echo.Context) error {
	svc, err := u.layoutsSvc()
	if err != nil {
		return err
	}
	d := layoutData{Name: c.FormValue("name"), HTML: c.FormValue("html")}
	in := campaigns.LayoutInput{Name: d.Name, HTML: d.HTML}
	var l campaigns.Layout
	if idp := c.Param("id"); idp != "" {
		if d.ID, err = strconv.ParseInt(idp, 10, 64); err != nil || d.ID <= 0 {
			return errs.NotFoundf("no such layout")
		}
		l, err = svc.UpdateLayout(c.Request().Context(), d.ID, in)
	} else {
		l, err = svc.CreateLayout(c.Request().Context(), in)
	}
	if err == nil {
		return u.redirectDone(c, "/ui/layouts/"+strconv.FormatInt(l.ID, 10), "layout-saved")
	}
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
		return err
	}
	d.Field = e.Field
	return u.renderLayout(c, kindStatus[e.Kind], d, "", e.Msg)
}

func (u *ui) deleteLayout(c echo.Context) error {
	l, svc, err := u.layout(c)
	if err != nil {
		return err
	}
	if err := svc.DeleteLayout(c.Request().Context(), l.ID); err != nil {
		return err
	}
	u.log.Info("layout deleted in the UI", "layout_id", l.ID, "user_id", c.Get(ctxSession).(session).UserID)
	return u.redirectDone(c, "/ui/layouts", "layout-deleted")
}

// previewLayout renders the editor's layout around a sample mail as the
// marketer types; a refusal comes back as its message (status 200, so htmx
// swaps it in).
func (u *ui) previewLayout(c echo.Context) error {
	svc, err := u.layoutsSvc()
	if err != nil {
		return err
	}
	var d previewData
	r, err := svc.PreviewLayout(c.Request().Context(), c.FormValue("html"))
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal {
			return err
		}
		d.Error = e.Msg
	} else {
		d = previewData{Subject: r.Subject, HTML: r.HTML, Text: r.Text}
	}
	return u.renderFragment(c, "campaign", "preview", d)
}
