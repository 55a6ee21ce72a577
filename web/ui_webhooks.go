package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/webhooks"
)

// uiWebhooks is what the webhooks page reads of *webhooks.Service.
type uiWebhooks interface {
	List(ctx context.Context) ([]webhooks.Endpoint, error)
	Recent(ctx context.Context, id int64) ([]webhooks.Delivery, error)
	Create(ctx context.Context, in webhooks.Input) (webhooks.Endpoint, error)
	Delete(ctx context.Context, id int64) error
}

// webhooksData is the webhooks page: the endpoints, and the form that adds
// one (a checkbox per event type) with what was typed.
type webhooksData struct {
	Rows      []webhookRow
	Types     []string
	URL       string
	Checked   map[string]bool
	NewSecret string
	Field     string // the form field an error is about
}

type webhookRow struct {
	webhooks.Endpoint
	Deliveries []webhooks.Delivery
}

// webhooksPage lists the shop's endpoints, each with its latest deliveries.
func (u *ui) webhooksPage(c echo.Context) error {
	return u.renderWebhooks(c, http.StatusOK, webhooksData{}, u.flash(c), "")
}

func (u *ui) renderWebhooks(c echo.Context, status int, d webhooksData, flash, msg string) error {
	d.Types = webhooks.Types
	if d.Checked == nil {
		d.Checked = map[string]bool{}
	}
	if u.webhooks != nil {
		eps, err := u.webhooks.List(c.Request().Context())
		if err != nil {
			return err
		}
		for _, ep := range eps {
			ds, err := u.webhooks.Recent(c.Request().Context(), ep.ID)
			if err != nil {
				return err
			}
			if len(ds) > 20 {
				ds = ds[:20]
			}
			d.Rows = append(d.Rows, webhookRow{Endpoint: ep, Deliveries: ds})
		}
	}
	return u.render(c, status, "webhooks", uiPage{Title: "Webhooks", Nav: "webhooks", Flash: flash, Error: msg, Data: d})
}

// createWebhook adds an endpoint from the form and shows its secret, once.
func (u *ui) createWebhook(c echo.Context) error {
	if u.webhooks == nil {
		return errs.NotFoundf("webhooks are not configured")
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Invalidf("events", "unreadable form")
	}
	in := webhooks.Input{URL: strings.TrimSpace(form.Get("url")), Events: form["events"]}
	d := webhooksData{URL: in.URL, Checked: map[string]bool{}}
	for _, e := range in.Events {
		d.Checked[e] = true
	}
	ep, err := u.webhooks.Create(c.Request().Context(), in)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		d.Field = e.Field
		return u.renderWebhooks(c, http.StatusUnprocessableEntity, d, "", e.Msg)
	}
	if err != nil {
		return err
	}
	u.srv.record(c, "webhook.create", "webhook "+strconv.FormatInt(ep.ID, 10), ep.URL+" ("+strings.Join(ep.Events, ", ")+")")
	return u.renderWebhooks(c, http.StatusOK, webhooksData{NewSecret: ep.Secret},
		u.tr(c, "Webhook added. Copy its signing secret now: it will not be shown again."), "")
}

func (u *ui) deleteWebhook(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || u.webhooks == nil {
		return errs.NotFoundf("no webhook %q", c.Param("id"))
	}
	if err := u.webhooks.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	u.srv.record(c, "webhook.delete", "webhook "+strconv.FormatInt(id, 10), "")
	return u.redirectDone(c, "/ui/webhooks", "webhook-deleted")
}
