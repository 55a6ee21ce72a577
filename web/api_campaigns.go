package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
)

// queryInt reads an optional non-negative integer query parameter; absent is 0.
// A value that is not one is a 422 naming it, never silently ignored.
func queryInt(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errs.Invalidf(name, "%s must be a non-negative whole number", name)
	}
	return n, nil
}

// paging reads ?before=ID&limit=N for keyset-paged lists.
func paging(c echo.Context) (before int64, limit int, err error) {
	if before, err = queryInt(c, "before"); err != nil {
		return 0, 0, err
	}
	l, err := queryInt(c, "limit")
	if err != nil || l > 500 {
		return 0, 0, errs.Invalidf("limit", "limit must be between 1 and 500")
	}
	return before, int(l), nil
}

// idParam reads a positive integer path parameter.
func idParam(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.NotFoundf("no %s %q", name, c.Param(name))
	}
	return id, nil
}

type segmentInput struct {
	Name string          `json:"name"`
	Rule json.RawMessage `json:"rule"`
}

func (in segmentInput) parse() (segments.Rule, error) {
	if len(in.Rule) == 0 {
		return segments.Rule{}, errs.Invalidf("rule", "rule is required")
	}
	return segments.Parse(in.Rule)
}

func (s *Server) createSegment(c echo.Context) error {
	var in segmentInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	rule, err := in.parse()
	if err != nil {
		return err
	}
	seg, err := s.segments.Create(c.Request().Context(), in.Name, rule)
	if err != nil {
		return err
	}
	s.record(c, "segment.create", idTarget("segment", seg.ID), seg.Name)
	return c.JSON(http.StatusCreated, seg)
}

func (s *Server) listSegments(c echo.Context) error {
	segs, err := s.segments.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"segments": segs})
}

func (s *Server) getSegment(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	seg, err := s.segments.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, seg)
}

func (s *Server) updateSegment(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in segmentInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	rule, err := in.parse()
	if err != nil {
		return err
	}
	seg, err := s.segments.Update(c.Request().Context(), id, in.Name, rule)
	if err != nil {
		return err
	}
	s.record(c, "segment.update", idTarget("segment", id), seg.Name)
	return c.JSON(http.StatusOK, seg)
}

func (s *Server) deleteSegment(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.segments.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	s.record(c, "segment.delete", idTarget("segment", id), "")
	return c.NoContent(http.StatusNoContent)
}

// countSegment counts the segment's members among the active subscribers of
// the lists in ?list= (repeatable; none means any list).
func (s *Server) countSegment(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	n, err := s.segments.Count(c.Request().Context(), id, c.QueryParams()["list"])
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"count": n})
}

func (s *Server) createCampaign(c echo.Context) error {
	var in campaigns.Input
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	cp, err := s.campaigns.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	s.record(c, "campaign.create", idTarget("campaign", cp.ID), cp.Name)
	return c.JSON(http.StatusCreated, cp)
}

func (s *Server) listCampaigns(c echo.Context) error {
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	status := campaigns.Status(c.QueryParam("status"))
	switch status {
	case "", campaigns.Draft, campaigns.Scheduled, campaigns.Running, campaigns.Paused, campaigns.Finished, campaigns.Cancelled:
	default:
		return errs.Invalidf("status", "unknown status %q", status)
	}
	cs, err := s.campaigns.List(c.Request().Context(), campaigns.ListOptions{Status: status, BeforeID: before, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"campaigns": cs})
}

func (s *Server) getCampaign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	cp, err := s.campaigns.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cp)
}

func (s *Server) updateCampaign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in campaigns.Input
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	cp, err := s.campaigns.Update(c.Request().Context(), id, in)
	if err != nil {
		return err
	}
	s.record(c, "campaign.update", idTarget("campaign", id), cp.Name)
	return c.JSON(http.StatusOK, cp)
}

func (s *Server) deleteCampaign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.campaigns.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	s.record(c, "campaign.delete", idTarget("campaign", id), "")
	return c.NoContent(http.StatusNoContent)
}

type testInput struct {
	Emails []string `json:"emails"`
}

func (s *Server) testCampaign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in testInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := s.campaigns.Test(c.Request().Context(), id, in.Emails); err != nil {
		return err
	}
	s.record(c, "campaign.test", idTarget("campaign", id), fmt.Sprintf("%d test addresses", len(in.Emails)))
	return c.JSON(http.StatusAccepted, map[string]any{"sent_to": in.Emails})
}

// campaignAction runs start, pause, resume or cancel and answers the campaign.
func (s *Server) campaignAction(act func(e *campaigns.Engine, ctx context.Context, id int64) (campaigns.Campaign, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		cp, err := act(s.campaigns, c.Request().Context(), id)
		if err != nil {
			return err
		}
		s.record(c, "campaign."+path.Base(c.Path()), idTarget("campaign", id), string(cp.Status))
		return c.JSON(http.StatusOK, cp)
	}
}

func (s *Server) previewCampaign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	sample, err := queryInt(c, "subscriber")
	if err != nil {
		return err
	}
	r, err := s.campaigns.PreviewCampaign(c.Request().Context(), id, sample)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// Layouts: the HTML a campaign's rendered Markdown is placed into. A layout
// must hold {{ content }}; the default layout is used when a campaign names none.

func (s *Server) listLayouts(c echo.Context) error {
	ls, err := s.campaigns.ListLayouts(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"layouts": ls})
}

func (s *Server) createLayout(c echo.Context) error {
	var in campaigns.LayoutInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	l, err := s.campaigns.CreateLayout(c.Request().Context(), in)
	if err != nil {
		return err
	}
	s.record(c, "layout.create", idTarget("layout", l.ID), l.Name)
	return c.JSON(http.StatusCreated, l)
}

func (s *Server) getLayout(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	l, err := s.campaigns.GetLayout(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

func (s *Server) updateLayout(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in campaigns.LayoutInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	l, err := s.campaigns.UpdateLayout(c.Request().Context(), id, in)
	if err != nil {
		return err
	}
	s.record(c, "layout.update", idTarget("layout", id), l.Name)
	return c.JSON(http.StatusOK, l)
}

func (s *Server) deleteLayout(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.campaigns.DeleteLayout(c.Request().Context(), id); err != nil {
		return err
	}
	s.record(c, "layout.delete", idTarget("layout", id), "")
	return c.NoContent(http.StatusNoContent)
}
