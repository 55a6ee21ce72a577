package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
)

// retentionReport: GET /api/retention?from=&to=. Without a period it is the
// last 365 days as the nightly pass computed it (at most a day old); with
// one it is computed now from the stored orders.
func (s *Server) retentionReport(c echo.Context) error {
	if s.retention == nil {
		return errs.NotFoundf("retention is not enabled")
	}
	ctx := c.Request().Context()
	from, to, byDefault, err := retention.ParsePeriod(c.QueryParam("from"), c.QueryParam("to"), s.now(), s.retention.Config().Location)
	if err != nil {
		return err
	}
	var r retention.Report
	if byDefault {
		r, err = s.retention.StoredReport(ctx, from, to, s.countSubscribers())
	} else {
		r, err = s.retention.Report(ctx, from, to, s.countSubscribers())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) countSubscribers() retention.SubscriberCounter {
	if s.subs == nil {
		return nil
	}
	return s.subs.Count
}
