package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// A/B tests: a campaign with 2-4 variants sends each to an even part of a
// test share of its audience; when the wait after the start is over (and
// every test mail has had its first attempt), Tick chooses the variant with
// the best rate of the metric and the rest of the audience gets it. The
// assignment is made in the transaction that snapshots the audience and kept
// on the deliveries (deliveries.variant), so pausing, resuming or restarting
// never changes who gets what; the rest wait as pending deliveries due at
// heldUntil, which the claimer never reaches, until the choice releases them.

// Metric is what decides an A/B test.
type Metric string

// The metrics: unique clickers, unique openers (needs tracking), or revenue
// credited to the campaign, each per sent mail of the variant.
const (
	MetricClicks  Metric = "clicks"
	MetricOpens   Metric = "opens"
	MetricRevenue Metric = "revenue"
)

// The A/B limits and defaults of API.md.
const (
	MinVariants      = 2
	MaxVariants      = 4
	DefaultTestShare = 0.2
	MinTestShare     = 0.05
	MaxTestShare     = 0.5
	DefaultWait      = 4 * time.Hour
	MinWait          = time.Minute
	MaxWait          = 72 * time.Hour
)

// heldUntil is next_attempt_at of the deliveries waiting for a test's
// winner: later than any real time, so the claim's "due" condition skips them
// and they sort last in deliveries_claim.
const heldUntil int64 = 1 << 62

// Variant is one version of an A/B-tested campaign's mail. On input an empty
// subject or Markdown takes the campaign's own (a variant may change only
// its subject); variant 0 (A) is the campaign's own mail.
type Variant struct {
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	Markdown  string `json:"markdown"`
	// Stats are the test recipients' figures (Get only, once started).
	Stats *VariantStats `json:"stats,omitempty"`
}

// VariantStats is what the test recipients given one variant did. Opens,
// clicks, unsubscribes and orders count people who can be named: clicks and
// opens of those who allow tracking (anonymous clicks count for the
// campaign only), unsubscribes and credited orders of anyone.
type VariantStats struct {
	Audience     int64   `json:"audience"`  // test recipients given this variant
	Delivered    int64   `json:"delivered"` // sent (bounces are counted per campaign)
	OpensUnique  int64   `json:"opens_unique"`
	ClicksUnique int64   `json:"clicks_unique"`
	Unsubscribed int64   `json:"unsubscribed"`
	Orders       int64   `json:"orders"`
	Revenue      float64 `json:"revenue"`
}

// AB is an A/B test's settings and, once started, its state.
type AB struct {
	TestShare float64 `json:"test_share"`
	Wait      string  `json:"wait"` // a Go duration: "4h", "90m"
	Metric    Metric  `json:"metric"`
	// DecideAt: the winner is chosen automatically from then on (start + wait).
	DecideAt  *time.Time `json:"decide_at,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"` // "auto" or "manual"
	// Rest is how many recipients get the winner after the test.
	Rest int64 `json:"rest"`

	wait time.Duration
}

// ABInput is the "ab" object of a campaign's input; zero fields take the defaults.
type ABInput struct {
	TestShare *float64 `json:"test_share"`
	Wait      string   `json:"wait"`
	Metric    Metric   `json:"metric"`
}

// fillFromVariants makes variant A the campaign's own mail when the input
// names only variants: the top-level subject, preheader and Markdown are
// then taken from variants[0].
func fillFromVariants(in Input) Input {
	if len(in.Variants) == 0 {
		return in
	}
	a := in.Variants[0]
	if strings.TrimSpace(in.Subject) == "" {
		in.Subject = a.Subject
	}
	if strings.TrimSpace(in.Markdown) == "" {
		in.Markdown = a.Markdown
	}
	if in.Preheader == "" {
		in.Preheader = a.Preheader
	}
	return in
}

// validateAB checks the variants and the test settings of in (already
// validated otherwise) and fills in their defaults; each variant compiles
// with layout. Errors name the field: "variants[1].subject", "ab.wait".
func (e *Engine) validateAB(ctx context.Context, in Input, layout string) (Input, error) {
	if len(in.Variants) == 0 {
		if in.AB != nil {
			return in, errs.Invalidf("variants", "an A/B test needs %d to %d variants", MinVariants, MaxVariants)
		}
		return in, nil
	}
	if len(in.Variants) < MinVariants || len(in.Variants) > MaxVariants {
		return in, errs.Invalidf("variants", "an A/B test has %d to %d variants, not %d", MinVariants, MaxVariants, len(in.Variants))
	}
	vs := make([]Variant, len(in.Variants))
	for i, v := range in.Variants {
		field := fmt.Sprintf("variants[%d].", i)
		v.Subject, v.Stats = strings.TrimSpace(v.Subject), nil
		if v.Subject == "" {
			v.Subject = in.Subject
		}
		if strings.TrimSpace(v.Markdown) == "" {
			v.Markdown = in.Markdown
		}
		if v.Preheader == "" {
			v.Preheader = in.Preheader
		}
		switch {
		case utf8.RuneCountInString(v.Subject) > 500:
			return in, errs.Invalidf(field+"subject", "subject is longer than 500 characters")
		case len(v.Markdown) > 1<<20:
			return in, errs.Invalidf(field+"markdown", "markdown is larger than 1 MiB")
		}
		tmpl, err := templates.Compile(e.source(v.Subject, v.Preheader, v.Markdown, layout))
		if err != nil {
			return in, variantField(field, err)
		}
		if tmpl.UsesCoupon() && strings.TrimSpace(in.CouponPool) == "" {
			return in, errs.Invalidf(field+"markdown", "the mail uses {{ .Coupon }}: choose the coupon pool its codes come from")
		}
		vs[i] = v
	}
	// Variant A is the campaign's own mail, so previews and test sends show it.
	in.Subject, in.Preheader, in.Markdown = vs[0].Subject, vs[0].Preheader, vs[0].Markdown
	in.Variants = vs

	ab := ABInput{}
	if in.AB != nil {
		ab = *in.AB
	}
	share := DefaultTestShare
	if ab.TestShare != nil {
		share = *ab.TestShare
	}
	if !(share >= MinTestShare && share <= MaxTestShare) { // also NaN
		return in, errs.Invalidf("ab.test_share", "test_share must be between %.2f and %.2f", MinTestShare, MaxTestShare)
	}
	wait := DefaultWait
	if s := strings.TrimSpace(ab.Wait); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return in, errs.Invalidf("ab.wait", "wait must be a duration such as 4h or 90m")
		}
		wait = d
	}
	if wait < MinWait || wait > MaxWait {
		return in, errs.Invalidf("ab.wait", "wait must be between %s and %s", fmtWait(MinWait), fmtWait(MaxWait))
	}
	switch ab.Metric {
	case "":
		ab.Metric = MetricClicks
	case MetricClicks, MetricRevenue:
	case MetricOpens:
		if e.cfg.Tracking == nil {
			return in, errs.Invalidf("ab.metric", "opens are not tracked on this server; choose clicks or revenue")
		}
	default:
		return in, errs.Invalidf("ab.metric", "metric must be clicks, opens or revenue")
	}
	in.AB = &ABInput{TestShare: &share, Wait: fmtWait(wait), Metric: ab.Metric}
	return in, nil
}

// variantField renames a template error's field to the variant's.
func variantField(prefix string, err error) error {
	var ee *errs.Error
	if errors.As(err, &ee) && ee.Kind == errs.Invalid && ee.Field != "" && ee.Field != "layout" {
		out := *ee
		out.Field = prefix + ee.Field
		return &out
	}
	return err
}

// fmtWait writes a duration without zero tails: 4h, 1h30m, 90s.
func fmtWait(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// saveAB replaces campaign id's variants and test settings with in's
// (validated), in the caller's transaction.
func saveAB(ctx context.Context, tx *store.Tx, id int64, in Input) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM campaign_variants WHERE campaign_id = ?`, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM campaign_ab WHERE campaign_id = ?`, id); err != nil {
		return err
	}
	if len(in.Variants) == 0 || in.AB == nil {
		return nil
	}
	wait, _ := time.ParseDuration(in.AB.Wait)
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_ab (campaign_id, test_share, wait, metric) VALUES (?, ?, ?, ?)`,
		id, *in.AB.TestShare, int64(wait/time.Second), string(in.AB.Metric)); err != nil {
		return err
	}
	for i, v := range in.Variants {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_variants (campaign_id, variant, subject, preheader, markdown)
			VALUES (?, ?, ?, ?, ?)`, id, i, v.Subject, v.Preheader, v.Markdown); err != nil {
			return err
		}
	}
	return nil
}

// copyAB gives child (a recurring campaign's occurrence) parent's variants
// and test settings: each occurrence is a test of its own.
func copyAB(ctx context.Context, tx *store.Tx, parent, child int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_ab (campaign_id, test_share, wait, metric)
		SELECT ?, test_share, wait, metric FROM campaign_ab WHERE campaign_id = ?`, child, parent); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO campaign_variants (campaign_id, variant, subject, preheader, markdown)
		SELECT ?, variant, subject, preheader, markdown FROM campaign_variants WHERE campaign_id = ?`, child, parent)
	return err
}

// loadAB reads c's variants and test settings (none: c is no A/B test), and
// with stats the test's figures per variant.
func (e *Engine) loadAB(ctx context.Context, c *Campaign, stats bool) error {
	var (
		ab                AB
		wait              int64
		winner, decidedAt sql.NullInt64
		decidedBy         sql.NullString
	)
	err := e.db.QueryRowContext(ctx, `SELECT test_share, wait, metric, winner, decided_at, decided_by FROM campaign_ab WHERE campaign_id = ?`, c.ID).
		Scan(&ab.TestShare, &wait, &ab.Metric, &winner, &decidedAt, &decidedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("campaigns: a/b test of %d: %w", c.ID, err)
	}
	ab.wait = time.Duration(wait) * time.Second
	ab.Wait = fmtWait(ab.wait)
	ab.DecidedAt, ab.DecidedBy = nullTime(decidedAt), decidedBy.String
	if c.StartedAt != nil {
		t := c.StartedAt.Add(ab.wait)
		ab.DecideAt = &t
	}
	if winner.Valid {
		w := int(winner.Int64)
		c.Winner = &w
	}
	rows, err := e.db.QueryContext(ctx, `SELECT subject, preheader, markdown FROM campaign_variants WHERE campaign_id = ? ORDER BY variant`, c.ID)
	if err != nil {
		return fmt.Errorf("campaigns: variants of %d: %w", c.ID, err)
	}
	defer rows.Close()
	c.Variants = c.Variants[:0]
	for rows.Next() {
		var v Variant
		if err := rows.Scan(&v.Subject, &v.Preheader, &v.Markdown); err != nil {
			return fmt.Errorf("campaigns: variants of %d: %w", c.ID, err)
		}
		c.Variants = append(c.Variants, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("campaigns: variants of %d: %w", c.ID, err)
	}
	rows.Close()
	c.AB = &ab
	if !stats || c.StartedAt == nil {
		return nil // no figures yet (or not asked for): Rest stays 0
	}
	vs, err := e.variantStats(ctx, c.ID, len(c.Variants))
	if err != nil {
		return err
	}
	var test int64
	for i := range c.Variants {
		c.Variants[i].Stats = &vs[i]
		test += vs[i].Audience
	}
	ab.Rest = max(c.Stats.Audience-test, 0)
	return nil
}

// variantStats counts the test recipients of each of n variants and what
// they did. The people who did something come from package tracking (few,
// next to the audience) and are looked up in deliveries_recipient.
func (e *Engine) variantStats(ctx context.Context, id int64, n int) ([]VariantStats, error) {
	out := make([]VariantStats, n)
	// deliveries_variant holds only the test group.
	rows, err := e.db.QueryContext(ctx, `SELECT variant, status, count(*) FROM deliveries
		WHERE campaign_id = ? AND variant IS NOT NULL GROUP BY variant, status`, id)
	if err != nil {
		return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v  int
			st string
			k  int64
		)
		if err := rows.Scan(&v, &st, &k); err != nil {
			return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
		}
		if v < 0 || v >= n {
			continue
		}
		out[v].Audience += k
		if st == "sent" {
			out[v].Delivered += k
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
	}
	rows.Close()
	if e.cfg.Tracking == nil {
		return out, nil
	}
	people, err := e.cfg.Tracking.People(ctx, tracking.CampaignKey(id))
	if err != nil || len(people) == 0 {
		return out, err
	}
	ids := make([]int64, len(people))
	for i, p := range people {
		ids[i] = p.SubscriberID
	}
	variantOf := make(map[int64]int, len(people))
	vr, err := e.db.QueryContext(ctx, `SELECT subscriber_id, variant FROM deliveries
		WHERE campaign_id = ? AND variant IS NOT NULL AND subscriber_id IN (SELECT value FROM json_each(?))`, id, store.JSONInts(ids))
	if err != nil {
		return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
	}
	defer vr.Close()
	for vr.Next() {
		var sub int64
		var v int
		if err := vr.Scan(&sub, &v); err != nil {
			return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
		}
		variantOf[sub] = v
	}
	if err := vr.Err(); err != nil {
		return nil, fmt.Errorf("campaigns: variant stats of %d: %w", id, err)
	}
	for _, p := range people {
		v, ok := variantOf[p.SubscriberID]
		if !ok || v < 0 || v >= n {
			continue // the rest, who got the winner
		}
		s := &out[v]
		s.OpensUnique += b2i(p.Opened)
		s.ClicksUnique += b2i(p.Clicked)
		s.Unsubscribed += b2i(p.Unsubscribed)
		s.Orders += p.Orders
		s.Revenue += p.Revenue
	}
	return out, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// best is the variant with the highest rate of metric per delivered mail;
// a tie goes to the earlier variant (A before B), so the choice is
// deterministic. Rates are compared by cross-multiplying, not dividing.
func best(vs []VariantStats, m Metric) int {
	score := func(s VariantStats) float64 {
		switch m {
		case MetricOpens:
			return float64(s.OpensUnique)
		case MetricRevenue:
			return s.Revenue
		default:
			return float64(s.ClicksUnique)
		}
	}
	win := 0
	for i := 1; i < len(vs); i++ {
		a, b := vs[win], vs[i]
		// b beats a when score(b)/sent(b) > score(a)/sent(a); no mail, no rate.
		if b.Delivered == 0 {
			continue
		}
		if a.Delivered == 0 && score(b) > 0 || score(b)*float64(a.Delivered) > score(a)*float64(b.Delivered) {
			win = i
		}
	}
	return win
}

// shareScale is the resolution of the test share in the snapshot's integer
// arithmetic: 0.2 is 2000/10000.
const shareScale = 10_000

// abPlan reads campaign id's A/B split for the snapshot: the test share in
// shareScale units and the number of variants; ok is false for a plain
// campaign.
func abPlan(ctx context.Context, tx *store.Tx, id int64) (p, variants int64, ok bool, err error) {
	var share float64
	err = tx.QueryRowContext(ctx, `SELECT a.test_share, (SELECT count(*) FROM campaign_variants v WHERE v.campaign_id = a.campaign_id)
		FROM campaign_ab a WHERE a.campaign_id = ?`, id).Scan(&share, &variants)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("a/b test: %w", err)
	}
	if variants < MinVariants {
		return 0, 0, false, nil // cannot happen through Create: send it as a plain campaign
	}
	return int64(share*shareScale + 0.5), variants, true, nil
}

// abAssign places row rn (0-based) of the snapshot's scan (subscriber order)
// of an A/B test with share p and the given variants. The test group is a
// systematic sample: row rn is in it when floor((rn+1)*p) steps past
// floor(rn*p) (in shareScale units), so it is spread over the whole audience,
// not its oldest subscribers, and the step's number modulo the variants is
// the variant: an even split (sizes differ by at most one), the same for the
// same audience, decided per row without knowing the audience's size, so the
// chunked snapshot assigns as it copies. The rest are held (heldUntil) until
// the winner is chosen.
func abAssign(rn, p, variants int64) (variant any, next int64) {
	if (rn+1)*p/shareScale > rn*p/shareScale {
		return (rn * p / shareScale) % variants, 0
	}
	return nil, heldUntil
}

// abSmall fixes the split of an audience of n too small for one test
// recipient per variant at share p: each variant gets one (or everyone one,
// if there are fewer people). Run when the snapshot is complete.
func abSmall(ctx context.Context, tx *store.Tx, id, n, p, variants int64) error {
	if n > 0 && n*p/shareScale < variants {
		return smallTest(ctx, tx, id, min(variants, n), variants)
	}
	return nil
}

// smallTest makes the first test deliveries of campaign id (in id order) the
// test group, variant by turn, and holds the rest.
func smallTest(ctx context.Context, tx *store.Tx, id, test, variants int64) error {
	_, err := tx.ExecContext(ctx, `WITH ranked AS (
			SELECT id, row_number() OVER (ORDER BY id) - 1 AS rk FROM deliveries WHERE campaign_id = ?1)
		UPDATE deliveries SET
			variant = (SELECT CASE WHEN rk < ?2 THEN rk % ?3 END FROM ranked r WHERE r.id = deliveries.id),
			next_attempt_at = (SELECT CASE WHEN rk < ?2 THEN 0 ELSE ?4 END FROM ranked r WHERE r.id = deliveries.id)
		WHERE campaign_id = ?1`, id, test, variants, heldUntil)
	if err != nil {
		return fmt.Errorf("a/b test: assign variants: %w", err)
	}
	return nil
}

// abTick chooses the winner of every A/B test whose wait is over at now and
// whose test mails have all been tried once, and releases the rest to it.
// A paused campaign is decided after it is resumed.
func (e *Engine) abTick(ctx context.Context, now time.Time) (bool, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT a.campaign_id, a.metric, (SELECT count(*) FROM campaign_variants v WHERE v.campaign_id = a.campaign_id)
		FROM campaign_ab a JOIN campaigns c ON c.id = a.campaign_id
		WHERE a.winner IS NULL AND c.status IN ('running', 'finished') AND c.started_at + a.wait <= ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = a.campaign_id AND d.variant IS NOT NULL
			AND d.status IN ('pending', 'sending') AND d.attempts = 0)
		ORDER BY a.campaign_id`, now.Unix())
	if err != nil {
		return false, fmt.Errorf("campaigns: a/b tick: %w", err)
	}
	type due struct {
		id     int64
		metric Metric
		n      int
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.metric, &d.n); err != nil {
			rows.Close()
			return false, fmt.Errorf("campaigns: a/b tick: %w", err)
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("campaigns: a/b tick: %w", err)
	}
	decided := false
	for _, d := range list {
		vs, err := e.variantStats(ctx, d.id, d.n)
		if err != nil {
			e.log.ErrorContext(ctx, "a/b test figures", "campaign_id", d.id, "err", err)
			continue
		}
		w := best(vs, d.metric)
		ok, err := e.decide(ctx, d.id, w, "auto", nil)
		if err != nil {
			e.log.ErrorContext(ctx, "a/b test decision", "campaign_id", d.id, "err", err)
			continue
		}
		if ok {
			decided = true
			e.log.InfoContext(ctx, "a/b test decided", "campaign_id", d.id, "metric", d.metric, "winner", variantName(w))
		}
	}
	return decided, nil
}

// decide records winner w of campaign id's test, once (several instances may
// tick), and makes the held deliveries due. check, if set, runs first in the
// transaction.
func (e *Engine) decide(ctx context.Context, id int64, w int, by string, check func(tx *store.Tx) error) (bool, error) {
	var done bool
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE campaign_ab SET winner = ?, decided_at = ?, decided_by = ?
			WHERE campaign_id = ? AND winner IS NULL`, w, tx.Now.Unix(), by, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		done = true
		// Due now; the claim renders them with the winner (deliveries.variant stays NULL:
		// the variant figures remain the test's).
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = 0
			WHERE campaign_id = ? AND status = 'pending' AND next_attempt_at = ?`, id, heldUntil)
		return err
	})
	if err != nil {
		return false, wrap("decide a/b test", id, err)
	}
	if done {
		e.changed()
	}
	return done, nil
}

// PickWinner ends campaign id's A/B test early: variant (0 = A) goes to the
// rest of the audience. The test must have started and not been decided.
func (e *Engine) PickWinner(ctx context.Context, id int64, variant int) (Campaign, error) {
	_, err := e.decide(ctx, id, variant, "manual", func(tx *store.Tx) error {
		st, err := statusOf(ctx, tx, id)
		if err != nil {
			return err
		}
		var n int
		var winner sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM campaign_variants WHERE campaign_id = ?1), winner
			FROM campaign_ab WHERE campaign_id = ?1`, id).Scan(&n, &winner)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.Conflictf("campaign %d is no A/B test", id)
		}
		if err != nil {
			return err
		}
		if variant < 0 || variant >= n {
			return errs.Invalidf("variant", "variant must be between 0 and %d", n-1)
		}
		if winner.Valid {
			return errs.Conflictf("the test of campaign %d was decided already: variant %s", id, variantName(int(winner.Int64)))
		}
		if st != Running && st != Paused && st != Finished {
			return errs.Conflictf("campaign %d is %s; a winner is picked once the test has started", id, st)
		}
		return nil
	})
	if err != nil {
		return Campaign{}, err
	}
	return e.Get(ctx, id)
}

// variantName is the letter a marketer sees: A for 0.
func variantName(i int) string {
	if i < 0 || i > 25 {
		return fmt.Sprint(i)
	}
	return string(rune('A' + i))
}

// loadVariants compiles campaign id's variants for sending; nil when it is
// no A/B test.
func (e *Engine) loadVariants(ctx context.Context, id int64, layout string) ([]*templates.Template, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT subject, preheader, markdown FROM campaign_variants WHERE campaign_id = ? ORDER BY variant`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*templates.Template
	for rows.Next() {
		var subject, preheader, markdown string
		if err := rows.Scan(&subject, &preheader, &markdown); err != nil {
			return nil, err
		}
		src, err := e.sourceCtx(ctx, subject, preheader, markdown, layout)
		if err != nil {
			return nil, err
		}
		tmpl, err := templates.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", variantName(len(out)), err)
		}
		out = append(out, tmpl)
	}
	return out, rows.Err()
}

// template is the compiled mail of variant v (the campaign's own when it is
// no A/B test).
func (r *run) template(v int) *templates.Template {
	if v >= 0 && v < len(r.variants) {
		return r.variants[v]
	}
	return r.tmpl
}
