package tracking

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Stats is what a mail did. People's opens and clicks are counted apart from
// machines' (proxy prefetches, link scanners), which are only reported.
type Stats struct {
	// Per person, so only of subscribers who allow tracking.
	OpensUnique  int64 `json:"opens_unique"`
	ClicksUnique int64 `json:"clicks_unique"`
	// Clicks by people, tracked or not.
	Clicks int64 `json:"clicks"`
	// Machines: proxy opens and scanner clicks.
	OpensMachine  int64 `json:"opens_machine"`
	ClicksMachine int64 `json:"clicks_machine"`
	// Unsubscribed through this mail's links.
	Unsubscribed int64   `json:"unsubscribed"`
	Orders       int64   `json:"orders"`
	Revenue      float64 `json:"revenue"`
}

// Stats reports mail (a mail key such as CampaignKey(id)).
func (s *Service) Stats(ctx context.Context, mail string) (Stats, error) {
	var st Stats
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(DISTINCT subscriber_id) FROM opens WHERE mail = ?1 AND machine = 0),
		(SELECT count(*) FROM opens WHERE mail = ?1 AND machine = 1),
		(SELECT count(DISTINCT subscriber_id) FROM clicks WHERE mail = ?1 AND machine = 0),
		(SELECT count(*) FILTER (WHERE machine = 0) FROM clicks WHERE mail = ?1),
		(SELECT count(*) FILTER (WHERE machine = 1) FROM clicks WHERE mail = ?1),
		(SELECT count(*) FROM unsubscribes WHERE mail = ?1),
		(SELECT count(*) FROM conversions WHERE mail = ?1),
		(SELECT coalesce(sum(total), 0) FROM conversions WHERE mail = ?1)`, mail).
		Scan(&st.OpensUnique, &st.OpensMachine, &st.ClicksUnique, &st.Clicks, &st.ClicksMachine,
			&st.Unsubscribed, &st.Orders, &st.Revenue)
	if err != nil {
		return Stats{}, fmt.Errorf("tracking: stats of %s: %w", mail, err)
	}
	return st, nil
}

// LinkStats is one link of a mail with its clicks.
type LinkStats struct {
	URL           string `json:"url"`
	Clicks        int64  `json:"clicks"`         // by people
	ClicksUnique  int64  `json:"clicks_unique"`  // tracked people
	ClicksMachine int64  `json:"clicks_machine"` // link scanners
}

// LinkStats lists mail's links, most clicked first.
func (s *Service) LinkStats(ctx context.Context, mail string) ([]LinkStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.url,
		count(c.id) FILTER (WHERE c.machine = 0),
		count(DISTINCT c.subscriber_id) FILTER (WHERE c.machine = 0),
		count(c.id) FILTER (WHERE c.machine = 1)
		FROM links l LEFT JOIN clicks c ON c.link_id = l.id
		WHERE l.mail = ? AND l.url <> ''
		GROUP BY l.id ORDER BY 2 DESC, l.url`, mail)
	if err != nil {
		return nil, fmt.Errorf("tracking: links of %s: %w", mail, err)
	}
	defer rows.Close()
	out := []LinkStats{}
	for rows.Next() {
		var l LinkStats
		if err := rows.Scan(&l.URL, &l.Clicks, &l.ClicksUnique, &l.ClicksMachine); err != nil {
			return nil, fmt.Errorf("tracking: links of %s: %w", mail, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Hour is one hour of a mail's timeline: people's opens and clicks.
type Hour struct {
	Opens, Clicks int64
}

// Timeline counts people's opens and clicks of mail per hour for hours
// hours from start (the send's start).
func (s *Service) Timeline(ctx context.Context, mail string, start time.Time, hours int) ([]Hour, error) {
	out := make([]Hour, hours)
	from, to := start.Unix(), start.Add(time.Duration(hours)*time.Hour).Unix()
	rows, err := s.db.QueryContext(ctx, `SELECT (at - ?2) / 3600, 1, count(*) FROM opens WHERE mail = ?1 AND machine = 0 AND at >= ?2 AND at < ?3 GROUP BY 1
		UNION ALL
		SELECT (at - ?2) / 3600, 0, count(*) FROM clicks WHERE mail = ?1 AND machine = 0 AND at >= ?2 AND at < ?3 GROUP BY 1`, mail, from, to)
	if err != nil {
		return nil, fmt.Errorf("tracking: timeline of %s: %w", mail, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, n int64
		var open bool
		if err := rows.Scan(&h, &open, &n); err != nil {
			return nil, fmt.Errorf("tracking: timeline of %s: %w", mail, err)
		}
		if h < 0 || h >= int64(hours) {
			continue
		}
		if open {
			out[h].Opens = n
		} else {
			out[h].Clicks = n
		}
	}
	return out, rows.Err()
}

// MailRevenue is what orders credited to one mail brought in.
type MailRevenue struct {
	Mail    string  `json:"mail"` // "campaign:ID" or "flow:SLUG:STEP"
	Kind    string  `json:"kind"` // "campaign" or "flow"
	Orders  int64   `json:"orders"`
	Revenue float64 `json:"revenue"`
}

// RevenueByMail sums the orders placed in [from, to) that were credited to a
// mail (OrderPlaced: the campaign the shop named, else the last mail clicked
// or opened within the attribution window), per mail, most revenue first.
func (s *Service) RevenueByMail(ctx context.Context, from, to time.Time) ([]MailRevenue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mail, count(*), coalesce(sum(total), 0) FROM conversions
		WHERE at >= ? AND at < ? GROUP BY mail ORDER BY 3 DESC, mail`, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("tracking: revenue by mail: %w", err)
	}
	defer rows.Close()
	var out []MailRevenue
	for rows.Next() {
		var m MailRevenue
		if err := rows.Scan(&m.Mail, &m.Orders, &m.Revenue); err != nil {
			return nil, fmt.Errorf("tracking: revenue by mail: %w", err)
		}
		m.Kind, _, _ = strings.Cut(m.Mail, ":")
		out = append(out, m)
	}
	return out, rows.Err()
}
