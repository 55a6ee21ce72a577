package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

type dashboardData struct {
	Total    int64
	ByStatus []statusCount
	Lists    []listCount
	Recent   []campaignRow
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
