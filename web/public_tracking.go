package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/tracking"
)

// The tracked links in mails: /l/TOKEN counts a click and redirects to the
// link's target; /o/TOKEN is the open pixel. A token that is not ours is a
// 404 page, never a redirect.

func (s *Server) trackingRoutes() {
	if s.tracking == nil {
		return
	}
	s.echo.GET("/l/:token", s.clickRedirect)
	s.echo.GET("/o/:token", s.openPixel)
}

func (s *Server) clickRedirect(c echo.Context) error {
	target, err := s.tracking.Click(c.Request().Context(), c.Param("token"), hitOf(c))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the token stays ours
	return c.Redirect(http.StatusFound, target)
}

// pixel is a transparent 1x1 GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func (s *Server) openPixel(c echo.Context) error {
	if err := s.tracking.Open(c.Request().Context(), c.Param("token"), hitOf(c)); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store, private")
	return c.Blob(http.StatusOK, "image/gif", pixel)
}

func hitOf(c echo.Context) tracking.Hit {
	return tracking.Hit{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}
