package web

import (
	"errors"
	"io"
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

// providerWebhook: POST /webhooks/{ses,sendgrid,postmark,mailgun,brevo}, a
// relay reporting bounces, complaints and deliveries. 200 once stored (the
// relay retries anything else); 401 when the signature does not verify.
func (s *Server) providerWebhook(c echo.Context) error {
	if s.feedback == nil || s.providers == nil {
		return errs.NotFoundf("no provider webhooks configured")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(maxBody)
		}
		return errs.Malformedf("", "cannot read the body")
	}
	n, err := s.feedback.Webhook(c.Request().Context(), s.providers, c.Param("provider"), c.Request().Header, body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"recorded": n})
}
