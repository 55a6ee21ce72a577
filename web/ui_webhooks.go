package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/webhooks"
)

// uiWebhooks is what the webhooks page reads of *webhooks.Service.
type uiWebhooks interface {
	List(ctx context.Context) ([]webhooks.Endpoint, error)
	Recent(ctx context.Context, id int64) ([]webhooks.Delivery, error)
}

type webhookRow struct {
	webhooks.Endpoint
	Deliveries []webhooks.Delivery
}

// webhooksPage lists the shop's endpoints, each with its latest deliveries.
func (u *ui) webhooksPage(c echo.Context) error {
	var rows []webhookRow
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
			rows = append(rows, webhookRow{Endpoint: ep, Deliveries: ds})
		}
	}
	return u.render(c, http.StatusOK, "webhooks", uiPage{Title: "Webhooks", Nav: "webhooks", Data: rows})
}
