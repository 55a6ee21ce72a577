package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/tracking"
)

// campaignLinks: GET /api/campaigns/:id/links, each link of the campaign
// with its clicks (people's, tracked people's, scanners').
func (s *Server) campaignLinks(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.campaigns.Get(c.Request().Context(), id); err != nil {
		return err
	}
	links := []tracking.LinkStats{}
	if s.tracking != nil {
		if links, err = s.tracking.LinkStats(c.Request().Context(), tracking.CampaignKey(id)); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"links": links})
}
