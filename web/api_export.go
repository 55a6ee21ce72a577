package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// exportSubscribersCSV streams subscribers as CSV: everyone, or the members
// of ?segment=ID; ?format=excel writes semicolons and a byte order mark for
// German Excel. The UI's button (/ui/subscribers/export.csv) is the same
// handler behind the session.
func (s *Server) exportSubscribersCSV(c echo.Context) error {
	if s.subs == nil {
		return errs.NotFoundf("the export is not available")
	}
	ctx := c.Request().Context()
	opt := subscribers.CSVOptions{}
	switch c.QueryParam("format") {
	case "", "csv":
	case "excel":
		opt.Excel = true
	default:
		return errs.Invalidf("format", `format must be "csv" or "excel"`)
	}
	name := "subscribers.csv"
	if v := c.QueryParam("segment"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return errs.Invalidf("segment", "segment must be a segment's id")
		}
		if s.segments == nil {
			return errs.NotFoundf("no segment %d", id)
		}
		if opt.Where, opt.Args, err = s.segments.MembersWhere(ctx, id); err != nil {
			return err
		}
		name = fmt.Sprintf("subscribers-segment-%d.csv", id)
	}
	// A million rows take longer than the server's write timeout.
	http.NewResponseController(c.Response()).SetWriteDeadline(time.Time{})
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store") // personal data
	c.Response().WriteHeader(http.StatusOK)
	n, err := s.subs.ExportCSV(ctx, c.Response(), opt)
	if err != nil {
		// The status is sent: cut the connection so the client sees a
		// broken download instead of a short file that looks complete.
		s.log.Error("subscriber export failed", "rows", n, "error", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("subscribers exported", "rows", n, "segment", c.QueryParam("segment"))
	return nil
}
