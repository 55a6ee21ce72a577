package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/txmail"
)

// txAPI serves transactional mail: POST /api/tx and /api/tx-templates. It is
// its own small type so it can be tested without the whole Server.
type txAPI struct{ svc *txmail.Service }

// send queues one transactional mail: 202 {"id"} once it is durable.
func (h txAPI) send(c echo.Context) error {
	var in txmail.SendInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	id, err := h.svc.Send(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int64{"id": id})
}

func (h txAPI) listTemplates(c echo.Context) error {
	ts, err := h.svc.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"templates": ts})
}

func (h txAPI) getTemplate(c echo.Context) error {
	t, err := h.svc.Get(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

// putTemplate creates (201) or replaces (200) a template; the slug is the path's.
func (h txAPI) putTemplate(c echo.Context) error {
	var in txmail.Template
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	t, created, err := h.svc.Put(c.Request().Context(), c.Param("slug"), in)
	if err != nil {
		return err
	}
	if created {
		return c.JSON(http.StatusCreated, t)
	}
	return c.JSON(http.StatusOK, t)
}

func (h txAPI) deleteTemplate(c echo.Context) error {
	if err := h.svc.Delete(c.Request().Context(), c.Param("slug")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
