package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/webhooks"
)

// The shop's webhooks: POST /api/webhooks {"url","events"} -> 201 with the
// signing secret (shown this once); GET lists; DELETE removes; GET
// /api/webhooks/{id}/deliveries shows the latest deliveries.

func (s *Server) hooks() (*webhooks.Service, error) {
	if s.webhooks == nil {
		return nil, errs.NotFoundf("webhooks are not configured")
	}
	return s.webhooks, nil
}

func (s *Server) createWebhook(c echo.Context) error {
	h, err := s.hooks()
	if err != nil {
		return err
	}
	var in webhooks.Input
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ep, err := h.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ep)
}

func (s *Server) listWebhooks(c echo.Context) error {
	h, err := s.hooks()
	if err != nil {
		return err
	}
	eps, err := h.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": eps})
}

func webhookID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.NotFoundf("no webhook %q", c.Param("id"))
	}
	return id, nil
}

func (s *Server) deleteWebhook(c echo.Context) error {
	h, err := s.hooks()
	if err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := h.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) webhookDeliveries(c echo.Context) error {
	h, err := s.hooks()
	if err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ds, err := h.Recent(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"deliveries": ds})
}
