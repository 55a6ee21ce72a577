package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/tracking"
)

// engagement is what a campaign's recipients did, for its results page: the
// figures, people's opens and clicks per hour over the first 48 hours, and
// the most clicked links. The charts are inline SVG whose geometry is worked
// out here, so the template stays dumb (as the dashboard's growth chart).
type engagement struct {
	Stats    tracking.Stats
	Sent     int64
	Timeline timelineChart
	Links    []linkBar
	LinksH   int // height of the links chart
}

type timelineChart struct {
	Width, Height  int
	ViewBox        string // with room for the first and last tick's label
	Opens, Clicks  string // polyline points
	Max            int64
	Ticks          []chartTick
	Hours          []hourRow // for the table beside the chart
	TotalOpens     int64
	TotalClicks    int64
	HasAny         bool
	OpenDots       []chartDot
	ClickDots      []chartDot
	LabelY, AxisY  int
	PlotTop, PlotH int
}

type chartTick struct {
	X     int
	Label string
}

type chartDot struct {
	X, Y  int
	Label string
}

type hourRow struct {
	Hour          int
	Opens, Clicks int64
}

type linkBar struct {
	URL            string
	Clicks         int64
	ClicksUnique   int64
	ClicksMachine  int64
	Y, W, TextY    int
	Label          string // the URL, shortened for the chart
	CountX         int
	CountFormatted string
}

const (
	timelineHours  = 48
	timelineStep   = 12 // SVG units per hour
	timelinePlotH  = 120
	timelineTop    = 8
	linksShown     = 10
	linkRowH       = 26
	linkBarMaxW    = 360
	linkBarLeft    = 0
	linksChartW    = 600
	linkLabelChars = 70
)

// engagementOf reads a campaign's tracking figures; nil without tracking.
func (u *ui) engagementOf(ctx context.Context, lang string, cp campaigns.Campaign) (*engagement, error) {
	tr := u.srv.tracking
	if tr == nil || cp.StartedAt == nil {
		return nil, nil
	}
	key := tracking.CampaignKey(cp.ID)
	hours, err := tr.Timeline(ctx, key, cp.StartedAt.Truncate(time.Hour), timelineHours)
	if err != nil {
		return nil, err
	}
	links, err := tr.LinkStats(ctx, key)
	if err != nil {
		return nil, err
	}
	st, err := tr.Stats(ctx, key)
	if err != nil {
		return nil, err
	}
	e := &engagement{Stats: st, Sent: cp.Stats.Sent, Timeline: timeline(hours)}
	var top int64
	for i, l := range links {
		if i == linksShown {
			break
		}
		top = max(top, l.Clicks)
	}
	for i, l := range links {
		if i == linksShown {
			break
		}
		b := linkBar{URL: l.URL, Clicks: l.Clicks, ClicksUnique: l.ClicksUnique, ClicksMachine: l.ClicksMachine,
			Y: i*linkRowH*2 + 18, TextY: i*linkRowH*2 + 12, Label: shorten(l.URL, linkLabelChars), CountFormatted: formatNum(lang, l.Clicks)}
		if top > 0 {
			b.W = int(l.Clicks * linkBarMaxW / top)
		}
		if l.Clicks > 0 {
			b.W = max(b.W, 2)
		}
		b.CountX = linkBarLeft + b.W + 6
		e.Links = append(e.Links, b)
	}
	e.LinksH = len(e.Links) * linkRowH * 2
	return e, nil
}

// timeline lays out two lines (opens, clicks) over 48 hourly points.
func timeline(hours []tracking.Hour) timelineChart {
	c := timelineChart{Width: (timelineHours - 1) * timelineStep, PlotTop: timelineTop, PlotH: timelinePlotH}
	c.AxisY = timelineTop + timelinePlotH
	c.LabelY = c.AxisY + 14
	c.Height = c.LabelY + 4
	c.ViewBox = fmt.Sprintf("-16 0 %d %d", c.Width+32, c.Height)
	for i, h := range hours {
		c.Max = max(c.Max, h.Opens, h.Clicks)
		c.TotalOpens += h.Opens
		c.TotalClicks += h.Clicks
		if h.Opens+h.Clicks > 0 {
			c.Hours = append(c.Hours, hourRow{Hour: i, Opens: h.Opens, Clicks: h.Clicks})
		}
	}
	c.HasAny = c.Max > 0
	y := func(n int64) int {
		if c.Max == 0 {
			return c.AxisY
		}
		return c.AxisY - int(n*timelinePlotH/c.Max)
	}
	var opens, clicks strings.Builder
	for i, h := range hours {
		x := i * timelineStep
		fmt.Fprintf(&opens, "%d,%d ", x, y(h.Opens))
		fmt.Fprintf(&clicks, "%d,%d ", x, y(h.Clicks))
		if h.Opens > 0 {
			c.OpenDots = append(c.OpenDots, chartDot{X: x, Y: y(h.Opens), Label: strconv.Itoa(i) + " h: " + strconv.FormatInt(h.Opens, 10)})
		}
		if h.Clicks > 0 {
			c.ClickDots = append(c.ClickDots, chartDot{X: x, Y: y(h.Clicks), Label: strconv.Itoa(i) + " h: " + strconv.FormatInt(h.Clicks, 10)})
		}
	}
	c.Opens, c.Clicks = strings.TrimSpace(opens.String()), strings.TrimSpace(clicks.String())
	for h := 0; h < timelineHours; h += 12 {
		c.Ticks = append(c.Ticks, chartTick{X: h * timelineStep, Label: strconv.Itoa(h) + " h"})
	}
	c.Ticks = append(c.Ticks, chartTick{X: c.Width, Label: strconv.Itoa(timelineHours-1) + " h"})
	return c
}

// shorten cuts a URL for a chart label, keeping its start (the host and path).
func shorten(s string, n int) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// formatRate is part of whole as a percentage with one decimal: "12.5 %", German "12,5 %".
func formatRate(lang string, part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	s := strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64)
	if lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " %"
}
