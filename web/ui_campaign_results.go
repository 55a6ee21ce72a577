package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/campaigns"
)

// campaignProgress is the progress fragment of a campaign's page: the bar
// while it sends, the results once it is over. htmx polls it while the
// campaign may still change by itself (running, or waiting for its send time).
type campaignProgress struct {
	ID     int64
	Status campaigns.Status
	// Started: the audience was snapshotted, there is something to count.
	Started bool
	Stats   campaigns.Stats
	// Done is what has been dealt with: sent, failed, skipped or capped.
	Done      int64
	Pct       int64
	SendAt    *time.Time
	NextRunAt *time.Time
	// QuietUntil: the contact policy's quiet hours hold the send until then.
	QuietUntil *time.Time
	Cron       string
	// Poll is how often the fragment reloads itself ("2s"); empty: it does not.
	Poll    string
	Results *campaignResults
	// Engagement: opens, clicks, unsubscribes and revenue (with tracking).
	Engagement *engagement
	// AB: a started A/B test's variants with their figures (ui_abtest.go).
	AB *abView
}

// campaignResults are a send's figures after it ended.
type campaignResults struct {
	StartedAt, FinishedAt *time.Time
	Duration              string
	Failures              []campaigns.Failure
}

// deliveryFailure is one failed delivery and what the SMTP server said.

// maxFailuresShown bounds the failed deliveries listed on a campaign's page:
// enough to see the pattern (a full mailbox, a blocklist), not a bounce report.
const maxFailuresShown = 20

// Poll intervals of the progress fragment. A campaign waiting for its send
// time is looked at less often: it may wait for days in an open tab.
const (
	pollRunning   = "2s"
	pollScheduled = "5s"
)

// progressOf builds the fragment's data; results are read only once the
// campaign has ended, so the fragment a running campaign polls stays one
// cheap count per status.
func (u *ui) progressOf(c echo.Context, cp campaigns.Campaign) (campaignProgress, error) {
	p := campaignProgress{ID: cp.ID, Status: cp.Status, Started: cp.StartedAt != nil, Stats: cp.Stats, SendAt: cp.SendAt, NextRunAt: cp.NextRunAt, Cron: cp.Cron,
		AB: abViewOf(cp), QuietUntil: cp.QuietUntil}
	p.Done = cp.Stats.Sent + cp.Stats.Failed + cp.Stats.Skipped + cp.Stats.Capped
	if cp.Stats.Audience > 0 {
		p.Pct = p.Done * 100 / cp.Stats.Audience
	}
	switch {
	case cp.Status == campaigns.Running:
		p.Poll = pollRunning
	case cp.Status == campaigns.Scheduled && cp.Cron == "":
		// A recurring campaign stays scheduled; its sends are campaigns of their own.
		p.Poll = pollScheduled
	}
	if (cp.Status == campaigns.Finished || cp.Status == campaigns.Cancelled) && cp.StartedAt != nil {
		r := &campaignResults{StartedAt: cp.StartedAt, FinishedAt: cp.FinishedAt}
		end := cp.UpdatedAt // a cancelled send has no finished_at; it stopped when it was cancelled
		if cp.FinishedAt != nil {
			end = *cp.FinishedAt
		}
		r.Duration = formatDuration(u.lang(c), end.Sub(*cp.StartedAt))
		if cp.Stats.Failed > 0 {
			var err error
			if r.Failures, err = campaigns.Failures(c.Request().Context(), u.db, cp.ID, maxFailuresShown); err != nil {
				return p, err
			}
		}
		p.Results = r
		var err error
		if p.Engagement, err = u.engagementOf(c.Request().Context(), u.lang(c), cp); err != nil {
			return p, err
		}
	}
	return p, nil
}

// campaignProgressFragment answers the page's polling. The page says which
// status it shows (?status=); when the campaign has moved on (started,
// finished, paused elsewhere) a fragment is not enough, since the buttons and
// the editor depend on the status: htmx is told to load the page again.
func (u *ui) campaignProgressFragment(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	if was := c.QueryParam("status"); was != "" && was != string(cp.Status) && c.Request().Header.Get("HX-Request") != "" {
		// A redirect rather than a refresh: the page's URL may still carry
		// the flash of what was done before ("Campaign scheduled.").
		c.Response().Header().Set("HX-Redirect", "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10))
		return c.NoContent(http.StatusOK)
	}
	p, err := u.progressOf(c, cp)
	if err != nil {
		return err
	}
	return u.renderFragment(c, "campaign", "progress", p)
}

// formatDuration shows a send's duration to the second: "1 h 2 min",
// "4 min 5 s", "12 s". The units are the SI ones, read the same in German.
func formatDuration(lang string, d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, formatNum(lang, h)+" h")
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d min", m))
	}
	if (s > 0 && h == 0) || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d s", s))
	}
	return strings.Join(parts, " ")
}
