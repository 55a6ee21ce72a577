package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/txmail"
)

// The transactional templates (order problems, delivery delays) are edited
// here as well as through PUT /api/tx-templates/{slug}; package txmail owns
// and checks them.

type txListData struct{ Templates []txmail.Template }

func (u *ui) txSvc() (*txmail.Service, error) {
	if u.srv == nil || u.srv.tx.svc == nil {
		return nil, errs.NotFoundf("transactional mail is not available")
	}
	return u.srv.tx.svc, nil
}

func (u *ui) txList(c echo.Context) error {
	svc, err := u.txSvc()
	if err != nil {
		return err
	}
	ts, err := svc.List(c.Request().Context())
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "txtemplates", uiPage{Title: "Transactional mail", Nav: "tx", Flash: u.flashOf(c), Data: txListData{ts}})
}

// txFormData is the editor: a slug (fixed once saved), a name and a text per
// locale; a locale left empty is not offered.
type txFormData struct {
	New     bool
	Slug    string
	Name    string
	Locales map[string]txmail.Text
	Field   string
}

// Langs are the locales the editor offers, in form order.
func (txFormData) Langs() []string { return []string{"de", "en"} }

func (u *ui) newTx(c echo.Context) error {
	if _, err := u.txSvc(); err != nil {
		return err
	}
	return u.renderTx(c, http.StatusOK, txFormData{New: true, Locales: map[string]txmail.Text{
		"de": {Subject: "Ihre Bestellung {{ .Data.order_id }}", Markdown: "Hallo {{ .FirstName | default \"Kundin, Kunde\" }},\n\n"},
	}}, "", "")
}

func (u *ui) txPage(c echo.Context) error {
	svc, err := u.txSvc()
	if err != nil {
		return err
	}
	t, err := svc.Get(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return u.renderTx(c, http.StatusOK, txFormData{Slug: t.Slug, Name: t.Name, Locales: t.Locales}, u.flashOf(c), "")
}

func (u *ui) renderTx(c echo.Context, status int, d txFormData, flash, msg string) error {
	title := "Transactional template"
	if d.New {
		title = "New transactional template"
	}
	return u.render(c, status, "txtemplate", uiPage{Title: title, Nav: "tx", Flash: flash, Error: msg, Data: d})
}

// txForm reads the editor's form; a locale with neither subject nor text is
// left out.
func txForm(c echo.Context) txFormData {
	d := txFormData{Slug: strings.TrimSpace(c.FormValue("slug")), Name: c.FormValue("name"), Locales: map[string]txmail.Text{}}
	for _, loc := range []string{"de", "en"} {
		t := txmail.Text{Subject: c.FormValue(loc + "_subject"), Markdown: c.FormValue(loc + "_markdown")}
		if strings.TrimSpace(t.Subject) != "" || strings.TrimSpace(t.Markdown) != "" {
			d.Locales[loc] = t
		}
	}
	return d
}

func (u *ui) saveTx(c echo.Context) error {
	svc, err := u.txSvc()
	if err != nil {
		return err
	}
	d := txForm(c)
	d.New = c.Param("slug") == ""
	if !d.New {
		d.Slug = c.Param("slug")
		if _, err := svc.Get(c.Request().Context(), d.Slug); err != nil {
			return err
		}
	} else if _, err := svc.Get(c.Request().Context(), d.Slug); err == nil {
		d.Field = "slug"
		return u.renderTx(c, http.StatusConflict, d, "", u.tr(c, "A template with this slug exists already."))
	}
	t, _, err := svc.Put(c.Request().Context(), d.Slug, txmail.Template{Name: d.Name, Locales: d.Locales})
	if err == nil {
		return u.redirectDone(c, "/ui/tx/"+t.Slug, "tx-saved")
	}
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
		return err
	}
	d.Field = e.Field
	return u.renderTx(c, kindStatus[e.Kind], d, "", e.Msg)
}

func (u *ui) deleteTx(c echo.Context) error {
	svc, err := u.txSvc()
	if err != nil {
		return err
	}
	slug := c.Param("slug")
	if err := svc.Delete(c.Request().Context(), slug); err != nil {
		return err
	}
	u.log.Info("transactional template deleted in the UI", "template", slug, "user_id", c.Get(ctxSession).(session).UserID)
	return u.redirectDone(c, "/ui/tx", "tx-deleted")
}

// previewTx renders the locale the editor asks for (preview_locale) with
// sample data as the marketer types.
func (u *ui) previewTx(c echo.Context) error {
	svc, err := u.txSvc()
	if err != nil {
		return err
	}
	loc := c.FormValue("preview_locale")
	if loc != "en" {
		loc = "de"
	}
	d := txForm(c)
	var pd previewData
	r, err := svc.Preview(c.Request().Context(), loc, d.Locales[loc])
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal {
			return err
		}
		pd.Error = e.Msg
	} else {
		pd = previewData{Subject: r.Subject, HTML: r.HTML, Text: r.Text}
	}
	return u.renderFragment(c, "campaign", "preview", pd)
}
