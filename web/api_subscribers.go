package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/subscribers"
)

// apiMeta is the request's own origin: for the shop API that is the shop's
// server; the customer's IP and browser come in the body's consent object.
func apiMeta(c echo.Context) subscribers.Meta {
	return subscribers.Meta{IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Channel: subscribers.ChannelAPI}
}

// enrollBody is POST /api/subscribers: an enrollment and, optionally, the
// referral token of the friend who recommended the shop (package loyalty).
type enrollBody struct {
	subscribers.EnrollInput
	Referral string `json:"referral"`
}

// enroll: 201 for a new subscriber, 200 with the existing one (idempotent).
func (s *Server) enroll(c echo.Context) error {
	var in enrollBody
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	// The token is checked first, so a bad one enrolls nobody.
	referrer, err := s.referrer(in.Referral)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sub, created, err := s.subs.Enroll(ctx, in.EnrollInput, apiMeta(c))
	if err != nil {
		return err
	}
	// Only a newcomer counts as referred: a known address must not be
	// claimed by whoever has a link.
	if referrer > 0 && created {
		if _, err := s.loyalty.Refer(ctx, sub.ID, referrer); err != nil {
			return err
		}
	}
	if created {
		return c.JSON(http.StatusCreated, sub)
	}
	return c.JSON(http.StatusOK, sub)
}

// referrer checks a referral token (package loyalty): the referrer's id, 0
// for no token.
func (s *Server) referrer(token string) (int64, error) {
	if token == "" {
		return 0, nil
	}
	if s.loyalty == nil || s.loyalty.Links == nil {
		return 0, errs.Invalidf("referral", "referrals are not available")
	}
	return s.loyalty.Links.Parse("referral", token)
}

// subscriberWithStage is a subscriber as GET /api/subscribers/{ref} shows it:
// with its place on the ladder (package retention), its points where the
// programme has them, and its referrals (package loyalty).
type subscriberWithStage struct {
	subscribers.Subscriber
	Stage      string     `json:"stage,omitempty"`
	StageSince *time.Time `json:"stage_since,omitempty"`
	Points     *int64     `json:"points,omitempty"`
	// Rewards are the coupon codes given for points.
	Rewards     []loyalty.Reward   `json:"rewards,omitempty"`
	ReferralURL string             `json:"referral_url,omitempty"`
	ReferredBy  *int64             `json:"referred_by,omitempty"`
	Referrals   []loyalty.Referral `json:"referrals,omitempty"`
}

func (s *Server) getSubscriber(c echo.Context) error {
	ctx := c.Request().Context()
	sub, err := s.subs.Get(ctx, c.Param("ref"))
	if err != nil {
		return err
	}
	out := subscriberWithStage{Subscriber: sub}
	if s.retention != nil {
		st, err := s.retention.Current(ctx, sub.ID)
		if err != nil {
			return err
		}
		out.Stage = st.Stage
		if !st.Since.IsZero() {
			out.StageSince = &st.Since
		}
	}
	if s.loyalty != nil {
		a, err := s.loyalty.AccountOf(ctx, sub.ID)
		if err != nil {
			return err
		}
		if s.loyalty.Config().PointsOn() || a.Points != 0 {
			out.Points = &a.Points
		}
		out.Rewards, out.ReferralURL, out.ReferredBy, out.Referrals = a.Rewards, a.ReferralURL, a.ReferredBy, a.Referred
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) updateSubscriber(c echo.Context) error {
	var in subscribers.UpdateInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	sub, err := s.subs.Update(c.Request().Context(), c.Param("ref"), in, apiMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sub)
}

func (s *Server) eraseSubscriber(c echo.Context) error {
	if err := s.subs.Erase(c.Request().Context(), c.Param("ref")); err != nil {
		return err
	}
	s.record(c, "subscriber.erase", subscriberTarget(c.Param("ref")), "")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) exportSubscriber(c echo.Context) error {
	exp, err := s.subs.Export(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="subscriber-export.json"`)
	return c.JSON(http.StatusOK, exp)
}

type listInput struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Public      *bool  `json:"public"` // default true
}

func (s *Server) createList(c echo.Context) error {
	var in listInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	public := in.Public == nil || *in.Public
	l, err := s.subs.CreateListPublic(c.Request().Context(), in.Slug, in.Name, in.Description, public)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, l)
}

// updateList: PATCH /api/lists/{slug} {"public": bool} makes a list public
// (on the sign-up form and the preference page) or private.
func (s *Server) updateList(c echo.Context) error {
	var in struct {
		Public *bool `json:"public"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Public == nil {
		return errs.Invalidf("public", "public (true or false) is required")
	}
	if err := s.subs.SetListPublic(c.Request().Context(), c.Param("slug"), *in.Public); err != nil {
		return err
	}
	ls, err := s.subs.Lists(c.Request().Context())
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Slug == c.Param("slug") {
			return c.JSON(http.StatusOK, l)
		}
	}
	return errs.NotFoundf("list not found")
}

func (s *Server) lists(c echo.Context) error {
	ls, err := s.subs.Lists(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"lists": ls})
}
