package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
)

// auditList answers GET /api/audit?before=ID&limit=N: entries newest first;
// pass the last id of a page as before to get the next.
func (s *Server) auditList(c echo.Context) error {
	before, limit := int64(0), 50
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errs.Invalidf("before", "before must be an entry id")
		}
		before = n
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxPage {
			return errs.Invalidf("limit", "limit must be 1 to %d", audit.MaxPage)
		}
		limit = n
	}
	entries, err := s.audit.List(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}
