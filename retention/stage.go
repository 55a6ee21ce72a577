package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/treu-mail/treu/events"
)

// The stages, as stored and as the API spells them.
const (
	Prospect       = "prospect"
	FirstTimeBuyer = "first_time_buyer"
	RepeatBuyer    = "repeat_buyer"
	Regular        = "regular"
	Promoter       = "promoter"
	Lapsing        = "lapsing"
	Lost           = "lost"
)

// Stages lists every stage, up the ladder and then the two ways off it.
var Stages = []string{Prospect, FirstTimeBuyer, RepeatBuyer, Regular, Promoter, Lapsing, Lost}

// ValidStage reports whether s is one of Stages.
func ValidStage(s string) bool { return slices.Contains(Stages, s) }

// Config holds the ladder's thresholds; zero values take the defaults.
type Config struct {
	RegularOrders  int           // orders that make a regular (default 4)
	RegularMonths  int           // ... or months with an order (default 3)
	RegularWindow  int           // ... out of the last months (default 6; a month is 30 days)
	PromoterScore  int           // lowest NPS score of a promoter (default 9)
	PromoterOrders int           // orders a promoter has at least (default 2)
	LapsingFactor  float64       // times the usual gap without an order (default 2)
	LapsingMin     time.Duration // but at least this long (default 90 days)
	LostAfter      time.Duration // without an order: lost (default 365 days)
	// Location is the shop's zone (--timezone): the report's days and
	// months are its calendar's (default UTC).
	Location *time.Location
}

const day = 24 * time.Hour

// WithDefaults fills the zero values.
func (c Config) WithDefaults() Config {
	if c.RegularOrders <= 0 {
		c.RegularOrders = 4
	}
	if c.RegularMonths <= 0 {
		c.RegularMonths = 3
	}
	if c.RegularWindow <= 0 {
		c.RegularWindow = 6
	}
	if c.PromoterScore <= 0 {
		c.PromoterScore = 9
	}
	if c.PromoterOrders <= 0 {
		c.PromoterOrders = 2
	}
	if c.LapsingFactor <= 0 {
		c.LapsingFactor = 2
	}
	if c.LapsingMin <= 0 {
		c.LapsingMin = 90 * day
	}
	if c.LostAfter <= 0 {
		c.LostAfter = 365 * day
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

// Validate checks a configuration after WithDefaults.
func (c Config) Validate() error {
	switch {
	case c.RegularMonths > c.RegularWindow:
		return fmt.Errorf("retention: regular months %d exceed the window of %d months", c.RegularMonths, c.RegularWindow)
	case c.RegularWindow > 120:
		return fmt.Errorf("retention: regular window %d months is over 10 years", c.RegularWindow)
	case c.PromoterScore > 10:
		return fmt.Errorf("retention: promoter score %d is above 10", c.PromoterScore)
	case c.LapsingMin >= c.LostAfter:
		return fmt.Errorf("retention: lapsing after %s must come before lost after %s", c.LapsingMin, c.LostAfter)
	}
	return nil
}

// NoScore is the NPS score of a customer who never answered.
const NoScore = -1

// Compute returns the stage of a customer with order history o and latest
// NPS score (NoScore if none) at now. cfg must have its defaults.
//
// Time wins over rungs: a regular who stopped ordering is lapsing, however
// many orders came before; the next order puts them back on their rung.
func Compute(cfg Config, o events.OrderSummary, score int, now time.Time) string {
	if o.Count == 0 {
		return Prospect
	}
	idle := now.Sub(o.Last)
	if idle >= cfg.LostAfter {
		return Lost
	}
	if idle > LapsingAfter(cfg, o) {
		return Lapsing
	}
	switch {
	case score >= cfg.PromoterScore && o.Count >= cfg.PromoterOrders:
		return Promoter
	case o.Count >= cfg.RegularOrders || o.ActiveMonths >= cfg.RegularMonths:
		return Regular
	case o.Count >= 2:
		return RepeatBuyer
	}
	return FirstTimeBuyer
}

// LapsingAfter is how long without an order makes this customer lapsing:
// LapsingFactor times their usual gap (the mean gap between their first and
// last order), at least LapsingMin. A one-time buyer has no gap: LapsingMin.
func LapsingAfter(cfg Config, o events.OrderSummary) time.Duration {
	if o.Count < 2 {
		return cfg.LapsingMin
	}
	gap := o.Last.Sub(o.First) / time.Duration(o.Count-1)
	return max(cfg.LapsingMin, time.Duration(float64(gap)*cfg.LapsingFactor))
}

// StageWhere returns a boolean SQL expression over `subscribers AS s` that
// holds when the subscriber's stage is one of stages (valid, non-empty), and
// its arguments: the segment field stage. It is never NULL, so NOT of it is
// its complement. Both forms are uncorrelated subqueries that SQLite runs
// once, from the subscriber_stages_stage index.
func StageWhere(stages []string) (string, []any) {
	var in, out []any
	for _, st := range Stages {
		if slices.Contains(stages, st) {
			in = append(in, st)
		} else {
			out = append(out, st)
		}
	}
	// No row means prospect: with prospect asked for, exclude the others.
	if slices.Contains(stages, Prospect) {
		if len(out) == 0 {
			return "1", nil
		}
		return "s.id NOT IN (SELECT rs.subscriber_id FROM subscriber_stages AS rs WHERE rs.stage " + placeholders(len(out)) + ")", out
	}
	if len(in) == 0 {
		return "0", nil
	}
	return "s.id IN (SELECT rs.subscriber_id FROM subscriber_stages AS rs WHERE rs.stage " + placeholders(len(in)) + ")", in
}

func placeholders(n int) string {
	return "IN (?" + strings.Repeat(", ?", n-1) + ")"
}
