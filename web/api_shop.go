package web

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
)

// ingestEvent stores a cart or order event; the flows act on it at their tick.
func (s *Server) ingestEvent(c echo.Context) error {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errs.Malformedf("", "Content-Type must be application/json")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, events.MaxBody))
	if err != nil {
		return &errs.Error{Kind: errs.TooLarge, Msg: "event larger than " + strconv.Itoa(events.MaxBody) + " bytes"}
	}
	id, err := s.events.Ingest(c.Request().Context(), raw)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"id": id})
}

func (s *Server) listFlows(c echo.Context) error {
	fs, err := s.flows.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"flows": fs})
}

func (s *Server) getFlow(c echo.Context) error {
	f, err := s.flows.Get(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f)
}

func (s *Server) putFlow(c echo.Context) error {
	var in flows.Flow
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	f, err := s.flows.Put(c.Request().Context(), c.Param("slug"), in)
	if err != nil {
		return err
	}
	s.record(c, "flow.update", "flow "+c.Param("slug"), fmt.Sprintf("enabled %t, %d steps", f.Enabled, len(f.Steps)))
	return c.JSON(http.StatusOK, f)
}

func (s *Server) createFlow(c echo.Context) error {
	var in flows.Flow
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	f, err := s.flows.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	s.record(c, "flow.create", "flow "+f.Slug, fmt.Sprintf("enabled %t, %d steps", f.Enabled, len(f.Steps)))
	return c.JSON(http.StatusCreated, f)
}

// listFlowTemplates: GET /api/flows/templates, the ready-made flows.
func (s *Server) listFlowTemplates(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"templates": flows.Templates()})
}

// createFlowFromTemplate: POST /api/flows/templates/{key} with an optional
// {"slug": "..."} creates the template's flow switched off (404 unknown key,
// 409 slug taken).
func (s *Server) createFlowFromTemplate(c echo.Context) error {
	var in struct {
		Slug string `json:"slug"`
	}
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &in); err != nil {
			return err
		}
	}
	f, err := s.flows.CreateFromTemplate(c.Request().Context(), c.Param("key"), in.Slug)
	if err != nil {
		return err
	}
	s.record(c, "flow.create", "flow "+f.Slug, "from template "+c.Param("key"))
	return c.JSON(http.StatusCreated, f)
}

func (s *Server) deleteFlow(c echo.Context) error {
	if err := s.flows.Delete(c.Request().Context(), c.Param("slug")); err != nil {
		return err
	}
	s.record(c, "flow.delete", "flow "+c.Param("slug"), "")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) flowStats(c echo.Context) error {
	st, err := s.flows.Stats(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

type poolInput struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (s *Server) createPool(c echo.Context) error {
	var in poolInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	p, err := s.coupons.CreatePool(c.Request().Context(), in.Slug, in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

func (s *Server) listPools(c echo.Context) error {
	ps, err := s.coupons.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"coupon_pools": ps})
}

func (s *Server) getPool(c echo.Context) error {
	p, err := s.coupons.Get(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

type codesInput struct {
	Codes    []string `json:"codes"`
	Generate *struct {
		Pattern string `json:"pattern"`
		Count   int    `json:"count"`
	} `json:"generate"`
}

// addCodes imports codes ({"codes": [...]}, or a text/csv body with one code
// per row) or generates them ({"generate": {"pattern": "SPRING-XXXX", "count": 500}}).
func (s *Server) addCodes(c echo.Context) error {
	ctx := c.Request().Context()
	slug := c.Param("slug")
	if ct := c.Request().Header.Get("Content-Type"); strings.HasPrefix(ct, "text/csv") {
		n, err := s.coupons.ImportCSV(ctx, slug, http.MaxBytesReader(c.Response(), c.Request().Body, 16<<20))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]int{"added": n})
	}
	var in codesInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	var n int
	var err error
	if in.Generate != nil {
		n, err = s.coupons.Generate(ctx, slug, in.Generate.Pattern, in.Generate.Count)
	} else {
		n, err = s.coupons.AddCodes(ctx, slug, in.Codes)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"added": n})
}

// outboxList shows captured mail, newest first (?before=ID pages on).
func (s *Server) outboxList(c echo.Context) error {
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	ms, err := s.outbox.List(c.Request().Context(), limit, before)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"mails": ms})
}

// outboxGet answers one captured mail: JSON with its parts, or the raw message
// with ?raw=1 (message/rfc822).
func (s *Server) outboxGet(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	m, err := s.outbox.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if c.QueryParam("raw") != "" {
		return c.Blob(http.StatusOK, "message/rfc822", m.Raw)
	}
	out := map[string]any{"id": m.ID, "kind": m.Kind, "recipient": m.Recipient, "subject": m.Subject,
		"created_at": m.CreatedAt, "raw": string(m.Raw)}
	if p := m.Parsed; p != nil {
		out["from"], out["to"], out["text"], out["html"] = p.From, p.To, p.Text, p.HTML
		out["headers"] = p.Header
	}
	return c.JSON(http.StatusOK, out)
}
