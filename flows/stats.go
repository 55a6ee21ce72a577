package flows

import (
	"context"
	"fmt"
)

// Stats are a flow's figures (for GET /api/flows/{slug}/stats or the UI).
type Stats struct {
	Flow      string           `json:"flow"`
	Entered   int64            `json:"entered"` // runs started
	Active    int64            `json:"active"`  // runs waiting for a step
	Done      int64            `json:"done"`    // runs that went through every step
	Ended     map[string]int64 `json:"ended"`   // runs ended early, by reason (coupon_pool_empty = subscribers left out)
	Sent      int64            `json:"sent"`
	Skipped   int64            `json:"skipped"`   // steps not sent because they were due too long ago
	Converted int64            `json:"converted"` // orders within the attribution window after a mail of the flow
	Revenue   float64          `json:"revenue"`   // their total
	// Cart abandonment: runs with at least one mail whose subscriber then
	// ordered within the window, their share of all mailed runs, and revenue.
	RecoveredCarts   int64   `json:"recovered_carts,omitempty"`
	RecoveryRate     float64 `json:"recovery_rate,omitempty"`
	RecoveredRevenue float64 `json:"recovered_revenue,omitempty"`
	// What recipients did with the flow's mails, all steps together.
	Engagement
	Steps       []StepStats `json:"steps"`
	WindowHours int64       `json:"attribution_window_hours"`
	// Problem says why the flow cannot run as saved (the offers segment was
	// deleted, say); empty while it can.
	Problem string `json:"problem,omitempty"`
}

// StepStats are the figures of one step (0-based).
type StepStats struct {
	Step      int              `json:"step"`
	Entered   int64            `json:"entered"` // runs that reached this step
	Sent      int64            `json:"sent"`
	Skipped   int64            `json:"skipped"`
	Ended     map[string]int64 `json:"ended"` // ended early at this step, by reason
	Converted int64            `json:"converted"`
	Revenue   float64          `json:"revenue"`
	// What recipients did with this step's mail, as a campaign's figures.
	Engagement
}

// Stats computes the figures of flow slug. An order counts for the latest
// mail of the flow the subscriber got before it (last touch), if that mail
// was at most AttributionWindow earlier.
func (e *Engine) Stats(ctx context.Context, slug string) (Stats, error) {
	f, err := e.Get(ctx, slug)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Flow: slug, Ended: map[string]int64{}, WindowHours: int64(e.cfg.AttributionWindow.Hours())}
	if f.Enabled && f.Trigger.Schedule {
		// What Tick would find: checked now, so every instance and a restart agree.
		if _, err := e.offersRule(ctx, &flowRow{Flow: f}); err != nil {
			st.Problem = err.Error()
		}
	}
	n := len(f.Steps)
	maxStep := n
	steps := func(i int) *StepStats {
		for len(st.Steps) <= i {
			st.Steps = append(st.Steps, StepStats{Step: len(st.Steps), Ended: map[string]int64{}})
		}
		return &st.Steps[i]
	}
	for i := range n {
		steps(i)
	}
	rows, err := e.db.QueryContext(ctx, `SELECT step, status, end_reason, count(*) FROM flow_runs WHERE flow = ? GROUP BY step, status, end_reason`, slug)
	if err != nil {
		return Stats{}, fmt.Errorf("flows: stats: %w", err)
	}
	type group struct {
		step        int
		status, why string
		count       int64
	}
	var groups []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.step, &g.status, &g.why, &g.count); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("flows: stats: %w", err)
		}
		groups = append(groups, g)
		maxStep = max(maxStep, g.step)
	}
	rows.Close()
	for _, g := range groups {
		st.Entered += g.count
		switch g.status {
		case "active":
			st.Active += g.count
		case "done":
			st.Done += g.count
		case "ended":
			st.Ended[g.why] += g.count
			if g.step < n {
				steps(g.step).Ended[g.why] += g.count
			}
		}
		for i := 0; i <= g.step && i < n; i++ { // reached every step up to its own
			if i < g.step || g.status != "done" {
				steps(i).Entered += g.count
			}
		}
	}
	rows, err = e.db.QueryContext(ctx, `SELECT step, outcome, count(*) FROM flow_sends WHERE flow = ? GROUP BY step, outcome`, slug)
	if err != nil {
		return Stats{}, fmt.Errorf("flows: stats: %w", err)
	}
	for rows.Next() {
		var step int
		var outcome string
		var c int64
		if err := rows.Scan(&step, &outcome, &c); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("flows: stats: %w", err)
		}
		s := steps(step)
		if outcome == "sent" {
			s.Sent += c
			st.Sent += c
		} else {
			s.Skipped += c
			st.Skipped += c
		}
	}
	rows.Close()
	// Orders read from events' shop_orders: attribution joins the two, so it
	// is one query here rather than a round trip per order.
	window := int64(e.cfg.AttributionWindow.Seconds())
	rows, err = e.db.QueryContext(ctx, `SELECT fs.step, count(*), coalesce(sum(o.total), 0), count(DISTINCT fs.run_id)
		FROM shop_orders AS o JOIN flow_sends AS fs ON fs.id = (
			SELECT f2.id FROM flow_sends AS f2
			WHERE f2.subscriber_id = o.subscriber_id AND f2.flow = ? AND f2.outcome = 'sent'
			  AND f2.sent_at <= o.placed_at AND f2.sent_at >= o.placed_at - ?
			ORDER BY f2.sent_at DESC, f2.id DESC LIMIT 1)
		WHERE o.subscriber_id IN (SELECT subscriber_id FROM flow_sends WHERE flow = ? AND outcome = 'sent')
		GROUP BY fs.step`, slug, window, slug)
	if err != nil {
		return Stats{}, fmt.Errorf("flows: stats: %w", err)
	}
	for rows.Next() {
		var step int
		var c, runs int64
		var rev float64
		if err := rows.Scan(&step, &c, &rev, &runs); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("flows: stats: %w", err)
		}
		s := steps(step)
		s.Converted, s.Revenue = c, rev
		st.Converted += c
		st.Revenue += rev
		st.RecoveredCarts += runs
	}
	rows.Close()
	if f.Trigger.CartAbandoned {
		var mailed int64
		if err := e.db.QueryRowContext(ctx, `SELECT count(DISTINCT run_id) FROM flow_sends WHERE flow = ? AND outcome = 'sent'`, slug).Scan(&mailed); err != nil {
			return Stats{}, fmt.Errorf("flows: stats: %w", err)
		}
		// A run counted at two steps would be double-counted above; cap at mailed.
		st.RecoveredCarts = min(st.RecoveredCarts, mailed)
		st.RecoveredRevenue = st.Revenue
		if mailed > 0 {
			st.RecoveryRate = float64(st.RecoveredCarts) / float64(mailed)
		}
	} else {
		st.RecoveredCarts = 0
	}
	_ = maxStep
	if err := e.engagement(ctx, slug, &st); err != nil {
		return Stats{}, err
	}
	return st, nil
}
