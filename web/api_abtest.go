package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
)

type winnerInput struct {
	Variant *int `json:"variant"`
}

// pickWinner ends a campaign's A/B test early: POST /api/campaigns/{id}/winner
// {"variant": 1} sends variant B to the rest of the audience.
func (s *Server) pickWinner(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in winnerInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Variant == nil {
		return errs.Invalidf("variant", "variant is required: 0 for A, 1 for B, ...")
	}
	cp, err := s.campaigns.PickWinner(c.Request().Context(), id, *in.Variant)
	if err != nil {
		return err
	}
	s.record(c, "campaign.winner", idTarget("campaign", id), variantLetter(*in.Variant))
	return c.JSON(http.StatusOK, cp)
}
