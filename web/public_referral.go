package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// Recommend a friend (package loyalty): a subscriber's referral link
// BASE/r/TOKEN leads a friend to the public sign-up form, which carries the
// token along (?ref=, then a hidden field); the friend's enrollment is
// recorded as referred by the link's owner, whose credit comes with the
// friend's first order. A shop with its own sign-up passes the token as
// "referral" to POST /api/subscribers instead.

func (s *Server) referralRoutes(p *publicPages) {
	p.referrer = s.referrer
	p.refer = func(ctx context.Context, friend, referrer int64) error {
		_, err := s.loyalty.Refer(ctx, friend, referrer)
		return err
	}
	s.echo.GET("/r/:token", func(c echo.Context) error {
		if id, err := s.referrer(c.Param("token")); err != nil || id == 0 {
			return p.message(c, http.StatusNotFound, acceptLang(c.Request()), "invalid_title", "invalid_msg")
		}
		return c.Redirect(http.StatusSeeOther, "/subscribe?ref="+url.QueryEscape(c.Param("token")))
	})
}
