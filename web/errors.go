package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
)

// apiError is the error shape of API.md: {"error": "...", "field": "..."}.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

var kindStatus = map[errs.Kind]int{
	errs.Internal:     http.StatusInternalServerError,
	errs.Malformed:    http.StatusBadRequest,
	errs.Unauthorized: http.StatusUnauthorized,
	errs.Forbidden:    http.StatusForbidden,
	errs.NotFound:     http.StatusNotFound,
	errs.Conflict:     http.StatusConflict,
	errs.TooLarge:     http.StatusRequestEntityTooLarge,
	errs.Invalid:      http.StatusUnprocessableEntity,
	errs.RateLimited:  http.StatusTooManyRequests,
}

// statusOf maps any error to an HTTP status and the message a client may see.
// Internal errors never leak their text.
func statusOf(err error) (int, apiError) {
	if e, ok := errs.As(err); ok {
		st := kindStatus[e.Kind]
		if st == http.StatusInternalServerError {
			return st, apiError{Error: "internal error"}
		}
		return st, apiError{Error: e.Msg, Field: e.Field}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && s != "" {
			msg = s
		}
		if he.Code >= 500 {
			msg = "internal error"
		}
		return he.Code, apiError{Error: msg}
	}
	return http.StatusInternalServerError, apiError{Error: "internal error"}
}

// errorHandler answers every error once: JSON under /api, a small page elsewhere.
// 5xx are logged here and nowhere else.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	st, body := statusOf(err)
	if st >= 500 {
		s.log.Error("request failed", slog.String("method", c.Request().Method),
			slog.String("path", c.Path()), slog.Any("error", err))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(st)
		return
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") || wantsJSON(c.Request()) {
		_ = c.JSON(st, body)
		return
	}
	_ = s.renderErrorPage(c, st, body.Error)
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}
