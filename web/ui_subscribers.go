package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/subscribers"
)

// uiSubscribers is what the UI needs of *subscribers.Service.
type uiSubscribers interface {
	Get(ctx context.Context, ref string) (subscribers.Subscriber, error)
	Erase(ctx context.Context, ref string) error
	Lists(ctx context.Context) ([]subscribers.List, error)
	CreateList(ctx context.Context, slug, name, description string) (subscribers.List, error)
}

// uiBounces is what the subscriber page needs of *feedback.Service.
type uiBounces interface {
	ForSubscriber(ctx context.Context, subscriberID int64) ([]feedback.Bounce, error)
}

// subscriberData is the subscriber page: the person and what came back from
// the mails they were sent.
// subscriberData is a subscriber with their place on the ladder and the
// moves that led there (nil Stage: retention is not wired in), and their
// bounces.
type subscriberData struct {
	subscribers.Subscriber
	Stage    *retention.Stage
	Timeline []retention.Change
	Feedback bool // bounces are tracked (the section is shown)
	Bounces  []feedback.Bounce
	// Loyalty: points, rewards and referrals (package loyalty); nil: off.
	Loyalty    *loyalty.Account
	ShowPoints bool // the programme gives points (or this subscriber has some)
}

const subscriberPage = 50

type subscribersData struct {
	Filter subscribers.SearchFilter
	Rows   []subscribers.Found
	Lists  []subscribers.List
	Next   int64 // id to page on from; 0 on the last page
}

var subscriberStatuses = []string{"active", "pending", "unsubscribed"}

func (u *ui) subscriberList(c echo.Context) error {
	// One row more than a page tells whether there is a next page.
	f := subscribers.SearchFilter{Q: c.QueryParam("q"), List: c.QueryParam("list"), Status: c.QueryParam("status"), Limit: subscriberPage + 1}
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if !slices.Contains(subscriberStatuses, f.Status) {
		f.Status = ""
	}
	if len(f.Q) > 200 {
		f.Q = f.Q[:200]
	}
	d := subscribersData{Filter: f}
	var err error
	if u.subscribers != nil {
		if d.Lists, err = u.subscribers.Lists(c.Request().Context()); err != nil {
			return err
		}
	}
	if d.Rows, err = subscribers.Search(c.Request().Context(), u.db, f); err != nil {
		return err
	}
	if len(d.Rows) > subscriberPage {
		d.Rows = d.Rows[:subscriberPage]
		d.Next = d.Rows[len(d.Rows)-1].ID
	}
	return u.render(c, http.StatusOK, "subscribers", uiPage{Title: "Subscribers", Nav: "subscribers", Flash: u.flash(c), Data: d})
}

func (u *ui) subscriberDetail(c echo.Context) error {
	sub, err := u.subscriber(c)
	if err != nil {
		return err
	}
	d := subscriberData{Subscriber: sub}
	ctx := c.Request().Context()
	if r := u.srv.retention; r != nil {
		st, err := r.Current(ctx, sub.ID)
		if err != nil {
			return err
		}
		d.Stage = &st
		if d.Timeline, err = r.History(ctx, sub.ID); err != nil {
			return err
		}
	}
	if l := u.srv.loyalty; l != nil {
		a, err := l.AccountOf(ctx, sub.ID)
		if err != nil {
			return err
		}
		d.Loyalty, d.ShowPoints = &a, l.Config().PointsOn() || a.Points != 0
	}
	if u.bounces != nil {
		d.Feedback = true
		if d.Bounces, err = u.bounces.ForSubscriber(ctx, sub.ID); err != nil {
			return err
		}
	}
	return u.render(c, http.StatusOK, "subscriber", uiPage{Title: "Subscribers", Nav: "subscribers", Data: d})
}

// eraseSubscriber deletes a person's data for good (GDPR Art. 17). The form
// asks for confirmation in the browser; the server only needs the CSRF token.
func (u *ui) eraseSubscriber(c echo.Context) error {
	sub, err := u.subscriber(c)
	if err != nil {
		return err
	}
	if err := u.subscribers.Erase(c.Request().Context(), strconv.FormatInt(sub.ID, 10)); err != nil {
		return err
	}
	u.srv.record(c, "subscriber.erase", idTarget("subscriber", sub.ID), "")
	return u.redirectDone(c, "/ui/subscribers", "subscriber-erased")
}

func (u *ui) subscriber(c echo.Context) (subscribers.Subscriber, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || u.subscribers == nil {
		return subscribers.Subscriber{}, errs.NotFoundf("no such subscriber")
	}
	return u.subscribers.Get(c.Request().Context(), strconv.FormatInt(id, 10))
}

func (u *ui) listsPage(c echo.Context) error {
	return u.renderLists(c, http.StatusOK, listForm{}, u.flash(c), "")
}

type listForm struct{ Slug, Name, Description, Field string }

type listsData struct {
	Lists []subscribers.List
	Form  listForm
}

func (u *ui) renderLists(c echo.Context, status int, f listForm, flash, msg string) error {
	var d listsData
	d.Form = f
	if u.subscribers != nil {
		var err error
		if d.Lists, err = u.subscribers.Lists(c.Request().Context()); err != nil {
			return err
		}
	}
	return u.render(c, status, "lists", uiPage{Title: "Lists", Nav: "lists", Flash: flash, Error: msg, Data: d})
}

func (u *ui) createList(c echo.Context) error {
	f := listForm{Slug: c.FormValue("slug"), Name: c.FormValue("name"), Description: c.FormValue("description")}
	if u.subscribers == nil {
		return errs.NotFoundf("lists are not available")
	}
	var err error
	if lv, ok := u.subscribers.(uiListVisibility); ok {
		_, err = lv.CreateListPublic(c.Request().Context(), f.Slug, f.Name, f.Description, c.FormValue("private") == "")
	} else {
		_, err = u.subscribers.CreateList(c.Request().Context(), f.Slug, f.Name, f.Description)
	}
	if e, ok := errs.As(err); ok && (e.Kind == errs.Invalid || e.Kind == errs.Conflict) {
		// The domain's message names the rule; it is English only.
		f.Field = e.Field
		return u.renderLists(c, kindStatus[e.Kind], f, "", e.Msg)
	}
	if err != nil {
		return err
	}
	return u.redirectDone(c, "/ui/lists", "list-created")
}

// uiListVisibility is the public/private switch of *subscribers.Service.
type uiListVisibility interface {
	CreateListPublic(ctx context.Context, slug, name, description string, public bool) (subscribers.List, error)
	SetListPublic(ctx context.Context, slug string, public bool) error
}

// setListVisibility makes a list public or private (form field public=1|0).
func (u *ui) setListVisibility(c echo.Context) error {
	lv, ok := u.subscribers.(uiListVisibility)
	if !ok {
		return errs.NotFoundf("lists are not available")
	}
	if err := lv.SetListPublic(c.Request().Context(), c.Param("slug"), c.FormValue("public") == "1"); err != nil {
		return err
	}
	return u.redirectDone(c, "/ui/lists", "list-saved")
}
