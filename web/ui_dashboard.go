package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/subscribers"
)

type dashboardData struct {
	Total    int64
	ByStatus []statusCount
	Lists    []subscribers.ListSize
	Recent   []campaignRow
	Growth   growthChart
	Flows    []flowListRow
}

type statusCount struct {
	Status string
	Count  int64
}

func (u *ui) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	var d dashboardData
	var err error
	if d.ByStatus, d.Total, err = u.subscriberCounts(ctx); err != nil {
		return err
	}
	if d.Lists, err = subscribers.ListSizes(ctx, u.db); err != nil {
		return err
	}
	if d.Recent, err = u.recentCampaigns(ctx, 5); err != nil {
		return err
	}
	if d.Growth, err = u.growth(ctx, u.lang(c)); err != nil {
		return err
	}
	if d.Flows, err = u.flowRows(c); err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "dashboard", uiPage{Title: "Dashboard", Nav: "dashboard", Data: d})
}

// subscriberCounts counts subscribers by status, in a fixed order with
// zeros, so the dashboard always has the same cards.
func (u *ui) subscriberCounts(ctx context.Context) ([]statusCount, int64, error) {
	counts, err := subscribers.CountByStatus(ctx, u.db)
	if err != nil {
		return nil, 0, err
	}
	var out []statusCount
	var total int64
	for _, st := range []string{"active", "pending", "unsubscribed"} {
		out = append(out, statusCount{st, counts[st]})
		total += counts[st]
	}
	return out, total, nil
}

// growthDays is how far back the dashboard's growth chart goes.
const growthDays = 30

// growthChart is the new active subscribers per day (UTC), oldest first, with
// the geometry of its SVG bars worked out here so the template stays dumb.
type growthChart struct {
	Days     []growthDay
	Total    int64
	Max      int64
	From, To string // the first and the last day's labels
	// The SVG's size in its own units, and the width of a bar.
	Width, Height, Bar int
}

type growthDay struct {
	Label string // the date, in the UI language
	N     int64
	X, Y  int // the bar's top-left corner
	H     int // its height; at least 1 for a day with any, so it shows
}

const (
	growthHeight = 100
	growthBar    = 8
	growthGap    = 2
)

// growth is the subscribers who became active on each of the last
// growthDays days in the shop's zone and are still active (subscribers.Growth).
func (u *ui) growth(ctx context.Context, lang string) (growthChart, error) {
	loc := u.cfg.Location
	now := u.db.Now().In(loc)
	first := time.Date(now.Year(), now.Month(), now.Day()-(growthDays-1), 0, 0, 0, 0, loc)
	counts, err := subscribers.Growth(ctx, u.db, first, growthDays)
	if err != nil {
		return growthChart{}, err
	}
	g := growthChart{Width: growthDays*(growthBar+growthGap) - growthGap, Height: growthHeight, Bar: growthBar}
	for _, n := range counts {
		g.Total += n
		g.Max = max(g.Max, n)
	}
	layout := "Jan 2"
	if lang == "de" {
		layout = "2.1."
	}
	for i, n := range counts {
		d := growthDay{Label: first.AddDate(0, 0, i).Format(layout), N: n, X: i * (growthBar + growthGap)}
		if g.Max > 0 && n > 0 {
			d.H = max(1, int(n*growthHeight/g.Max))
		}
		d.Y = growthHeight - d.H
		g.Days = append(g.Days, d)
	}
	g.From, g.To = g.Days[0].Label, g.Days[len(g.Days)-1].Label
	return g, nil
}
