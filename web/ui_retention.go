package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
)

// retentionView is the retention page: the report's figures with their
// explanations, and the geometry of its SVG charts worked out here so the
// template only draws.
type retentionView struct {
	From, To   string // the period as the form shows it (YYYY-MM-DD, to inclusive)
	ComputedAt time.Time
	Figures    []retentionFigure
	Ladder     ladderChart
	Moves      movesChart
	MoveRows   []retention.Move
	Cohorts    cohortChart
	// CallBack: the latest NPS answers 0 to 6, people to call back.
	CallBack []retention.Detractor
}

// retentionFigure is one number with how it is computed.
type retentionFigure struct {
	ID, Label, Value, Explain string
}

type ladderChart struct {
	Width, Height int
	Bars          []ladderBar
}

type ladderBar struct {
	Stage, Label string
	N            int64
	Y, W         int // the bar's top and width
	TextX        int
}

type movesChart struct {
	Width, Height int
	Months        []moveMonth
	Max           int64
}

type moveMonth struct {
	Label        string
	Up, Off      int64
	X            int
	UpY, UpH     int
	OffX         int
	OffY, OffH   int
	LabelX, Base int
}

type cohortChart struct {
	Width, Height int
	Columns       []cohortColumn
	Rows          []cohortRow
}

type cohortColumn struct {
	Label string
	X     int
}

type cohortRow struct {
	Month     string
	Customers int64
	Y         int
	Cells     []cohortCell
}

type cohortCell struct {
	X       int
	Opacity string
	Text    string
}

// retentionPage: GET /ui/retention?from=&to=.
func (u *ui) retentionPage(c echo.Context) error {
	ret := u.srv.retention
	if ret == nil {
		return errs.NotFoundf("retention is not enabled")
	}
	ctx := c.Request().Context()
	lang := u.lang(c)
	from, to, _, err := retention.ParsePeriod(c.QueryParam("from"), c.QueryParam("to"), u.db.Now(), ret.Config().Location)
	if err != nil {
		return err
	}
	// The default period comes from the nightly pass; another one is
	// computed on its first view and kept for the day (at a million
	// customers a year takes seconds; the page shows when it was computed).
	r, err := ret.StoredReport(ctx, from, to, u.srv.countSubscribers())
	if err != nil {
		return err
	}
	tr := func(s string) string { return translate(lang, s) }
	pct := func(f float64) string { return decimal(lang, f*100, 1) + " %" }
	money := func(f float64) string { return decimal(lang, f, 2) }
	predicted := "–"
	if r.CLVPredicted != nil {
		predicted = money(*r.CLVPredicted)
	}
	nps := "–"
	if r.NPSAnswers > 0 {
		nps = decimal(lang, r.NPS, 1)
	}
	loc := ret.Config().Location
	v := retentionView{
		From: from.In(loc).Format(time.DateOnly), To: to.Add(-time.Second).In(loc).Format(time.DateOnly), ComputedAt: r.ComputedAt,
		Figures: []retentionFigure{
			{"customers", tr("Customers"), formatNum(lang, r.Customers), tr("Subscribers with at least one order in the period.")},
			{"repurchase", tr("Repurchase rate"), pct(r.RepurchaseRate), tr("Customers of the period with 2 or more orders so far, divided by all customers of the period.")},
			{"churn", tr("Churn rate"), pct(r.ChurnRate), tr("Customers who ordered in the equally long period before but not in this one, divided by the customers of that period.")},
			{"aov", tr("Average order value"), money(r.AOV), tr("Revenue divided by the number of orders in the period.")},
			{"opc", tr("Orders per customer"), decimal(lang, r.OrdersPerCustomer, 2), tr("Orders divided by customers in the period.")},
			{"clv", tr("Customer lifetime value"), money(r.CLV), tr("What the period's customers spent in all their orders so far, per customer.")},
			{"clv-predicted", tr("Predicted lifetime value"), predicted, tr("Average order value × orders per customer × expected lifetime in periods (1 ÷ churn rate).")},
			{"nps", tr("Net Promoter Score"), nps, fmt.Sprintf(tr("Share of answers 9–10 minus share of answers 0–6, in points, from %s answers in the period."), formatNum(lang, r.NPSAnswers))},
		},
		Ladder:   ladder(r.Stages, lang),
		Moves:    moves(r, lang, loc),
		MoveRows: r.Moves,
		Cohorts:  cohortGrid(r.Cohorts, lang),
	}
	if v.CallBack, err = ret.Detractors(ctx, 50); err != nil {
		return err
	}
	if a := r.Attributed; a != nil {
		v.Figures = append(v.Figures,
			retentionFigure{"revenue-campaigns", tr("Revenue from campaigns"), money(a.Campaigns), tr("Orders in the period credited to a campaign: the one the shop named, else the last campaign mail clicked (or opened) within the attribution window.")},
			retentionFigure{"revenue-flows", tr("Revenue from flows"), money(a.Flows), tr("Orders in the period credited to a flow mail the customer last clicked (or opened) within the attribution window.")},
			retentionFigure{"revenue-share", tr("Share of revenue from mail"), pct(a.Share), tr("Revenue credited to campaigns and flows, divided by the period's revenue.")})
	}
	return u.render(c, http.StatusOK, "retention", uiPage{Title: "Retention", Nav: "retention", Data: v})
}

// decimal formats f with digits decimals in the UI language.
func decimal(lang string, f float64, digits int) string {
	s := strconv.FormatFloat(f, 'f', digits, 64)
	if lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

const (
	chartWidth = 600
	ladderBarH = 22
	ladderGap  = 8
	ladderText = 150 // room for the stage's name left of the bars
)

func ladder(counts map[string]int64, lang string) ladderChart {
	var top int64
	for _, n := range counts {
		top = max(top, n)
	}
	ch := ladderChart{Width: chartWidth, Height: len(retention.Stages)*(ladderBarH+ladderGap) - ladderGap}
	room := chartWidth - ladderText - 80 // and room for the count right of the bar
	for i, st := range retention.Stages {
		n := counts[st]
		w := 0
		if top > 0 {
			w = int(float64(room) * float64(n) / float64(top))
			if n > 0 {
				w = max(w, 2)
			}
		}
		ch.Bars = append(ch.Bars, ladderBar{Stage: st, Label: translate(lang, stageLabel(st)), N: n,
			Y: i * (ladderBarH + ladderGap), W: w, TextX: ladderText + w + 6})
	}
	return ch
}

// moves sums the moves of each month of the period: up (to a higher rung,
// or back from lapsing or lost) and off (to lapsing or lost).
func moves(r retention.Report, lang string, loc *time.Location) movesChart {
	rank := func(s string) int { return slices.Index(retention.Stages, s) }
	byMonth := map[string]*moveMonth{}
	for _, m := range r.Moves {
		mm := byMonth[m.Month]
		if mm == nil {
			mm = &moveMonth{}
			byMonth[m.Month] = mm
		}
		switch {
		case m.To == retention.Lapsing || m.To == retention.Lost:
			mm.Off += m.Count
		case rank(m.To) > rank(m.From) || m.From == retention.Lapsing || m.From == retention.Lost:
			mm.Up += m.Count
		}
	}
	const height, bar, gap = 120, 14, 10
	ch := movesChart{Height: height}
	from := r.From.In(loc) // months are the shop's (retention.Config.Location)
	first := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc)
	last := r.To.Add(-time.Second).In(loc)
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		mm := byMonth[m.Format("2006-01")]
		if mm == nil {
			mm = &moveMonth{}
		}
		mm.Label = monthLabel(m, lang)
		ch.Months = append(ch.Months, *mm)
		ch.Max = max(ch.Max, mm.Up, mm.Off)
	}
	scale := func(n int64) int {
		if ch.Max == 0 || n == 0 {
			return 0
		}
		return max(1, int(float64(height)*float64(n)/float64(ch.Max)))
	}
	for i := range ch.Months {
		mm := &ch.Months[i]
		mm.X = i * (2*bar + gap)
		mm.OffX = mm.X + bar
		mm.UpH, mm.OffH = scale(mm.Up), scale(mm.Off)
		mm.UpY, mm.OffY = height-mm.UpH, height-mm.OffH
		mm.LabelX, mm.Base = mm.X+bar, height+14
	}
	ch.Width = max(1, len(ch.Months)*(2*bar+gap)-gap)
	return ch
}

func monthLabel(m time.Time, lang string) string {
	if lang == "de" {
		return m.Format("01/06")
	}
	return m.Format("Jan 06")
}

func cohortGrid(cs []retention.Cohort, lang string) cohortChart {
	const cell, head, label = 44, 20, 150
	ch := cohortChart{}
	cols := 0
	for _, c := range cs {
		cols = max(cols, len(c.Returned))
	}
	for k := range cols {
		ch.Columns = append(ch.Columns, cohortColumn{Label: "+" + strconv.Itoa(k+1), X: label + k*cell + cell/2})
	}
	for i, c := range cs {
		m, _ := time.Parse("2006-01", c.Month)
		row := cohortRow{Month: monthLabel(m, lang), Customers: c.Customers, Y: head + i*cell}
		for k, share := range c.Returned {
			row.Cells = append(row.Cells, cohortCell{X: label + k*cell,
				Opacity: strconv.FormatFloat(0.08+0.92*share, 'f', 2, 64), Text: decimal(lang, share*100, 0) + "%"})
		}
		ch.Rows = append(ch.Rows, row)
	}
	ch.Width = label + max(cols, 1)*cell
	ch.Height = head + max(len(cs), 1)*cell
	return ch
}
