package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/subscribers"
)

type dashboardData struct {
	Total    int64
	ByStatus []statusCount
	Lists    []listCount
	Recent   []campaignRow
	Growth   growthChart
	Flows    []flowListRow
}

type statusCount struct {
	Status string
	Count  int64
}

type listCount struct {
	Slug, Name string
	Active     int64
}

func (u *ui) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	var d dashboardData
	var err error
	if d.ByStatus, d.Total, err = u.subscriberCounts(ctx); err != nil {
		return err
	}
	if d.Lists, err = u.listCounts(ctx); err != nil {
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

// subscriberCounts counts subscribers by status. The GROUP BY reads only the
// (status, created_at) index, so it stays well under a second at a million rows.
func (u *ui) subscriberCounts(ctx context.Context) ([]statusCount, int64, error) {
	counts := map[string]int64{}
	rows, err := u.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM subscribers GROUP BY status`)
	if err != nil {
		return nil, 0, fmt.Errorf("web: count subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, 0, fmt.Errorf("web: count subscribers: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("web: count subscribers: %w", err)
	}
	// A fixed order, with zeros, so the dashboard always has the same cards.
	var out []statusCount
	var total int64
	for _, st := range []string{"active", "pending", "unsubscribed"} {
		out = append(out, statusCount{st, counts[st]})
		total += counts[st]
	}
	return out, total, nil
}

// listCounts counts active subscriptions per list from the (list_id, status,
// subscriber_id) index. It does not re-check the subscriber's own status or
// suppressions: it is the size of the list, not a campaign's audience.
func (u *ui) listCounts(ctx context.Context) ([]listCount, error) {
	rows, err := u.db.QueryContext(ctx, `SELECT l.slug, l.name,
		(SELECT COUNT(*) FROM subscriptions s WHERE s.list_id = l.id AND s.status = 'active')
		FROM lists l ORDER BY l.name`)
	if err != nil {
		return nil, fmt.Errorf("web: count lists: %w", err)
	}
	defer rows.Close()
	var out []listCount
	for rows.Next() {
		var l listCount
		if err := rows.Scan(&l.Slug, &l.Name, &l.Active); err != nil {
			return nil, fmt.Errorf("web: count lists: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
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

// growth counts the subscribers who became active on each of the last
// growthDays days and are still active: confirmed_at, or created_at for those
// enrolled with proven consent. The (status, created_at) index bounds the scan
// so it stays fast at a million subscribers: an unconfirmed subscriber is
// purged subscribers.MaxPendingTTL after the last confirmation mail, so looking
// that much further back finds the new ones (only one whose confirmation was
// re-sent late may be missed). A returning subscriber's row is older: not new.
func (u *ui) growth(ctx context.Context, lang string) (growthChart, error) {
	// Days are the shop's days, midnight to midnight in its zone, which are 23
	// or 25 hours long across a DST change: the query counts quarter-hours
	// (zones differ from UTC by whole quarter-hours) and Go adds them up per
	// local date.
	const slot = int64(15 * time.Minute / time.Second)
	loc := u.cfg.Location
	now := u.db.Now().In(loc)
	first := time.Date(now.Year(), now.Month(), now.Day()-(growthDays-1), 0, 0, 0, 0, loc)
	since := first.Unix()
	rows, err := u.db.QueryContext(ctx, `SELECT (coalesce(confirmed_at, created_at) - ?1) / ?2, count(*) FROM subscribers
		WHERE status = 'active' AND created_at >= ?1 - ?3 AND coalesce(confirmed_at, created_at) >= ?1
		GROUP BY 1`, since, slot, int64(subscribers.MaxPendingTTL/time.Second))
	if err != nil {
		return growthChart{}, fmt.Errorf("web: subscriber growth: %w", err)
	}
	defer rows.Close()
	counts := make([]int64, growthDays)
	firstDate := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	for rows.Next() {
		var i, n int64
		if err := rows.Scan(&i, &n); err != nil {
			return growthChart{}, fmt.Errorf("web: subscriber growth: %w", err)
		}
		t := time.Unix(since+i*slot, 0).In(loc)
		d := int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Sub(firstDate) / (24 * time.Hour))
		if d >= 0 && d < growthDays { // a clock set back could put one in the future
			counts[d] += n
		}
	}
	if err := rows.Err(); err != nil {
		return growthChart{}, fmt.Errorf("web: subscriber growth: %w", err)
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
