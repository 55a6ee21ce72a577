package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/internal/errs"
)

// reportBounce: POST /api/bounces {"email","kind","reason"}, feedback that
// reached the shop some other way. 201 with what it changed.
func (s *Server) reportBounce(c echo.Context) error {
	if s.feedback == nil {
		return errs.NotFoundf("bounce tracking is not configured")
	}
	var in feedback.Input
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := s.feedback.Submit(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}
