package retention

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Report is the retention page's figures for a period [From, To), as
// GET /api/retention returns them. Rates are fractions (0.6667), money is
// in the shop's currency; a rate whose denominator is 0 is 0.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Customers: subscribers with an order in the period.
	Customers int64   `json:"customers"`
	Orders    int64   `json:"orders"`
	Revenue   float64 `json:"revenue"`
	// RepurchaseRate: of the period's customers, those with 2 or more orders
	// (counting their orders before the period) / all of them.
	RepurchaseRate float64 `json:"repurchase_rate"`
	// ChurnRate: customers with an order in the period of the same length
	// just before, without one in this period / those customers.
	ChurnRate float64 `json:"churn_rate"`
	// ActivePrevious is the churn rate's denominator.
	ActivePrevious int64 `json:"active_previous"`
	// AOV: revenue / orders.
	AOV float64 `json:"aov"`
	// OrdersPerCustomer: orders / customers.
	OrdersPerCustomer float64 `json:"orders_per_customer"`
	// CLV: the period's customers' revenue over all their orders up to To,
	// per customer (historic lifetime value).
	CLV float64 `json:"clv"`
	// CLVPredicted: AOV x orders per customer per period x expected lifetime
	// in periods (1 / churn rate); null while nobody churned.
	CLVPredicted *float64 `json:"clv_predicted"`
	// NPS: % promoters (9-10) - % detractors (0-6) of the answers given in
	// the period, from -100 to 100; 0 without answers.
	NPS        float64 `json:"nps"`
	NPSAnswers int64   `json:"nps_answers"`
	// Stages counts every subscriber's current stage (not as of To).
	Stages map[string]int64 `json:"stages"`
	// Moves counts the stage changes per month (in the shop's zone) of the period.
	Moves []Move `json:"moves"`
	// Cohorts: per month of first orders in the period, the share of those
	// first-time buyers who ordered again in each later month up to To.
	Cohorts []Cohort `json:"cohorts"`
	// Attributed: the period's revenue credited to campaign and flow mails
	// (package tracking); absent when tracking is off.
	Attributed *Attributed `json:"attributed,omitempty"`
	ComputedAt time.Time   `json:"computed_at"`
}

// Attributed is the revenue of orders credited to a mail: the campaign the
// shop named with the order, else the last campaign or flow mail the customer
// clicked in (or opened) within the attribution window before ordering.
type Attributed struct {
	Campaigns float64 `json:"campaigns"` // revenue credited to campaigns
	Flows     float64 `json:"flows"`     // ... and to flow mails
	Orders    int64   `json:"orders"`    // orders credited to any mail
	// Share: credited revenue / Revenue (a guest's order the shop credits
	// to a campaign counts above but not in Revenue, so it can exceed 1).
	Share float64 `json:"share"`
	// Mails: the mails that earned most, at most MaxAttributedMails.
	Mails []MailRevenue `json:"mails"`
}

// MailRevenue is what the orders credited to one mail brought in.
type MailRevenue struct {
	Mail    string  `json:"mail"` // "campaign:ID" or "flow:SLUG:STEP"
	Kind    string  `json:"kind"` // "campaign" or "flow"
	Orders  int64   `json:"orders"`
	Revenue float64 `json:"revenue"`
}

// MaxAttributedMails bounds Attributed.Mails.
const MaxAttributedMails = 10

// Attribution reads the revenue credited to each mail in [from, to), most
// first (package tracking's RevenueByMail, connected in cmd/treu).
type Attribution func(ctx context.Context, from, to time.Time) ([]MailRevenue, error)

// Move is how many subscribers moved from one stage to another in a month.
type Move struct {
	Month string `json:"month"` // "2026-01"
	From  string `json:"from"`
	To    string `json:"to"`
	Count int64  `json:"count"`
}

// Cohort is the first-time buyers of one month and how many came back.
type Cohort struct {
	Month     string `json:"month"`
	Customers int64  `json:"customers"`
	// Returned[k] is the share of the cohort with an order in month k+1
	// after the cohort's month.
	Returned []float64 `json:"returned"`
}

// SubscriberCounter counts all subscribers (package subscribers): those
// without a stage row are prospects.
type SubscriberCounter func(ctx context.Context) (int64, error)

// MaxPeriod bounds a report's period.
const MaxPeriod = 10 * 366 * day

// Report computes the figures of [from, to) from the stored orders, stages
// and answers. count may be nil: then prospects are not counted.
func (s *Service) Report(ctx context.Context, from, to time.Time, count SubscriberCounter) (Report, error) {
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	r := Report{From: from, To: to, ComputedAt: s.db.Now().UTC().Truncate(time.Second), Stages: map[string]int64{},
		Moves: []Move{}, Cohorts: []Cohort{}}
	f, err := events.Figures(ctx, s.db, from, to)
	if err != nil {
		return Report{}, err
	}
	r.Customers, r.Orders, r.Revenue = f.Customers, f.Orders, round(f.Revenue, 2)
	r.RepurchaseRate = ratio(float64(f.Repeat), float64(f.Customers), 4)
	r.ActivePrevious = f.Previous
	r.ChurnRate = ratio(float64(f.Previous-f.Retained), float64(f.Previous), 4)
	r.AOV = ratio(f.Revenue, float64(f.Orders), 2)
	r.OrdersPerCustomer = ratio(float64(f.Orders), float64(f.Customers), 4)
	r.CLV = ratio(f.LifetimeRevenue, float64(f.Customers), 2)
	if f.Previous > f.Retained && f.Customers > 0 {
		churn := float64(f.Previous-f.Retained) / float64(f.Previous)
		aov, perCustomer := f.Revenue/float64(f.Orders), float64(f.Orders)/float64(f.Customers)
		p := round(aov*perCustomer/churn, 2)
		r.CLVPredicted = &p
	}
	if err := s.nps(ctx, &r); err != nil {
		return Report{}, err
	}
	if err := s.stageCounts(ctx, &r, count); err != nil {
		return Report{}, err
	}
	if err := s.moves(ctx, &r); err != nil {
		return Report{}, err
	}
	cells, err := events.Cohorts(ctx, s.db, from, to, s.cfg.Location)
	if err != nil {
		return Report{}, err
	}
	r.Cohorts = cohorts(cells, from, to, s.cfg.Location)
	if s.Attribution != nil {
		if err := s.attributed(ctx, &r); err != nil {
			return Report{}, err
		}
	}
	return r, nil
}

// attributed adds the revenue credited to mails.
func (s *Service) attributed(ctx context.Context, r *Report) error {
	mails, err := s.Attribution(ctx, r.From, r.To)
	if err != nil {
		return fmt.Errorf("retention: attributed revenue: %w", err)
	}
	a := &Attributed{Mails: []MailRevenue{}}
	var sum float64
	for _, m := range mails {
		switch m.Kind {
		case "campaign":
			a.Campaigns += m.Revenue
		case "flow":
			a.Flows += m.Revenue
		}
		sum += m.Revenue
		a.Orders += m.Orders
		if len(a.Mails) < MaxAttributedMails {
			m.Revenue = round(m.Revenue, 2)
			a.Mails = append(a.Mails, m)
		}
	}
	a.Campaigns, a.Flows = round(a.Campaigns, 2), round(a.Flows, 2)
	a.Share = ratio(sum, r.Revenue, 4)
	r.Attributed = a
	return nil
}

func (s *Service) nps(ctx context.Context, r *Report) error {
	var n, pro, det int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(score >= 9), 0), coalesce(sum(score <= 6), 0)
		FROM nps_answers WHERE answered_at >= ? AND answered_at < ?`, r.From.Unix(), r.To.Unix()).Scan(&n, &pro, &det)
	if err != nil {
		return fmt.Errorf("retention: nps: %w", err)
	}
	r.NPSAnswers = n
	r.NPS = ratio(float64(pro-det)*100, float64(n), 1)
	return nil
}

func (s *Service) stageCounts(ctx context.Context, r *Report, count SubscriberCounter) error {
	for _, st := range Stages {
		r.Stages[st] = 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT stage, count(*) FROM subscriber_stages GROUP BY stage`)
	if err != nil {
		return fmt.Errorf("retention: stage counts: %w", err)
	}
	defer rows.Close()
	var staged int64
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return fmt.Errorf("retention: stage counts: %w", err)
		}
		r.Stages[st] += n
		staged += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("retention: stage counts: %w", err)
	}
	if count != nil {
		all, err := count(ctx)
		if err != nil {
			return err
		}
		r.Stages[Prospect] += max(0, all-staged)
	}
	return nil
}

func (s *Service) moves(ctx context.Context, r *Report) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+store.LocalMonth("changed_at", s.cfg.Location, r.From, r.To)+` AS m, from_stage, to_stage, count(*)
		FROM stage_changes WHERE changed_at >= ? AND changed_at < ? GROUP BY m, from_stage, to_stage ORDER BY m, count(*) DESC`,
		r.From.Unix(), r.To.Unix())
	if err != nil {
		return fmt.Errorf("retention: moves: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Move
		if err := rows.Scan(&m.Month, &m.From, &m.To, &m.Count); err != nil {
			return fmt.Errorf("retention: moves: %w", err)
		}
		r.Moves = append(r.Moves, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("retention: moves: %w", err)
	}
	return nil
}

// cohorts turns the cells into one row per cohort month with shares for
// every later month (in loc) up to the one that holds to.
func cohorts(cells []events.CohortCell, from, to time.Time, loc *time.Location) []Cohort {
	byCohort := map[string]map[string]int64{}
	for _, c := range cells {
		if byCohort[c.Cohort] == nil {
			byCohort[c.Cohort] = map[string]int64{}
		}
		byCohort[c.Cohort][c.Month] = c.Customers
	}
	last := monthStart(to.Add(-time.Second), loc)
	out := []Cohort{}
	for m := monthStart(from, loc); !m.After(last); m = m.AddDate(0, 1, 0) {
		key := m.Format("2006-01")
		size := byCohort[key][key]
		if size == 0 {
			continue
		}
		c := Cohort{Month: key, Customers: size, Returned: []float64{}}
		for k := m.AddDate(0, 1, 0); !k.After(last); k = k.AddDate(0, 1, 0) {
			c.Returned = append(c.Returned, ratio(float64(byCohort[key][k.Format("2006-01")]), float64(size), 4))
		}
		out = append(out, c)
	}
	return out
}

// monthStart is the first moment of t's month in loc.
func monthStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
}

// dayStart is the first moment of t's day in loc (not always 24 hours
// after the one before: summer time).
func dayStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

func ratio(a, b float64, digits int) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, digits)
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// DefaultPeriod is the page's period at now: the 365 days up to the end of
// now's day in loc, the shop's zone (nil: UTC). The nightly pass computes it
// ahead.
func DefaultPeriod(now time.Time, loc *time.Location) (from, to time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	to = dayStart(now, loc).AddDate(0, 0, 1)
	return to.AddDate(0, 0, -365).UTC(), to.UTC()
}

// StoredReport returns the report for [from, to) computed ahead today (in
// the shop's zone), or computes and stores it.
func (s *Service) StoredReport(ctx context.Context, from, to time.Time, count SubscriberCounter) (Report, error) {
	var body string
	today := dayStart(s.db.Now(), s.cfg.Location).Unix()
	err := s.db.QueryRowContext(ctx, `SELECT body FROM retention_reports WHERE period_from = ? AND period_to = ? AND computed_at >= ?`,
		from.Unix(), to.Unix(), today).Scan(&body)
	if err == nil {
		var r Report
		if err := json.Unmarshal([]byte(body), &r); err == nil {
			return r, nil
		}
	} else if !errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("retention: stored report: %w", err)
	}
	return s.Precompute(ctx, from, to, count)
}

// Precompute computes the report for [from, to) and stores it for
// StoredReport; the nightly pass calls it with DefaultPeriod.
func (s *Service) Precompute(ctx context.Context, from, to time.Time, count SubscriberCounter) (Report, error) {
	r, err := s.Report(ctx, from, to, count)
	if err != nil {
		return Report{}, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return Report{}, fmt.Errorf("retention: store report: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		// Only the latest few periods are worth keeping.
		if _, err := tx.ExecContext(ctx, `DELETE FROM retention_reports WHERE computed_at < ?`, tx.Now.Add(-7*day).Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO retention_reports (period_from, period_to, body, computed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (period_from, period_to) DO UPDATE SET body = excluded.body, computed_at = excluded.computed_at`,
			from.Unix(), to.Unix(), string(body), r.ComputedAt.Unix())
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("retention: store report: %w", err)
	}
	return r, nil
}

// ParsePeriod reads a report's ?from= and ?to=: a day (YYYY-MM-DD in loc,
// the shop's zone, nil: UTC; to includes its day) or an RFC 3339 time (to
// excludes it). Both empty is DefaultPeriod(now, loc) with byDefault true;
// one alone runs 365 days from or to it.
func ParsePeriod(fromText, toText string, now time.Time, loc *time.Location) (from, to time.Time, byDefault bool, err error) {
	if loc == nil {
		loc = time.UTC
	}
	if fromText == "" && toText == "" {
		from, to = DefaultPeriod(now, loc)
		return from, to, true, nil
	}
	parse := func(field, s string, end bool) (time.Time, error) {
		if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			if end {
				d = d.AddDate(0, 0, 1)
			}
			return d.UTC(), nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, errs.Invalidf(field, "%s must be a day (YYYY-MM-DD) or an RFC 3339 time", field)
		}
		return t.UTC(), nil
	}
	if fromText != "" {
		if from, err = parse("from", fromText, false); err != nil {
			return
		}
	}
	if toText != "" {
		if to, err = parse("to", toText, true); err != nil {
			return
		}
	}
	switch {
	case fromText == "":
		from = to.Add(-365 * day)
	case toText == "":
		to = from.Add(365 * day)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, false, errs.Invalidf("to", "to must be after from")
	}
	if to.Sub(from) > MaxPeriod {
		return time.Time{}, time.Time{}, false, errs.Invalidf("from", "the period may be at most 10 years")
	}
	return from, to, false, nil
}
