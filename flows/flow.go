package flows

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
)

// The built-in flows.
const (
	Welcome         = "welcome"
	CartAbandonment = "cart-abandonment"
	Offers          = "offers"
)

// Slugs lists the built-in flows in display order.
var Slugs = []string{Welcome, CartAbandonment, Offers}

// Locales a step can carry its own text for.
var Locales = []string{"de", "en"}

// Flow is GET|PUT /api/flows/{slug}.
type Flow struct {
	Slug      string `json:"slug"`
	Enabled   bool   `json:"enabled"`
	Steps     []Step `json:"steps"`
	Cron      string `json:"cron,omitempty"`       // offers only: when a round starts
	SegmentID *int64 `json:"segment_id,omitempty"` // offers only: who gets it (nil: every active subscriber)
	Version   int64  `json:"version"`              // read-only; bumped on every save
	// Default is true while the flow runs on the built-in texts (read-only).
	Default bool `json:"default"`
	// ExistingCustomers: the flow mails about the shop's own similar
	// products and may reach existing customers (UWG § 7 (3); subscribers.Mailing).
	ExistingCustomers bool `json:"existing_customers"`
}

// Step is one mail of a flow.
//
// Subject and Markdown are the text for every recipient whose locale has no
// entry in Locales; Locales["de"] / Locales["en"] give a locale its own text.
// The built-in flows carry English in Subject/Markdown and German in
// Locales["de"]. A shop that only writes Subject/Markdown sends that text to all.
type Step struct {
	Delay      Duration        `json:"delay"` // after the trigger (step 1) or the previous step
	Subject    string          `json:"subject"`
	Markdown   string          `json:"markdown"`
	CouponPool string          `json:"coupon_pool,omitempty"`
	Locales    map[string]Text `json:"locales,omitempty"`
}

// Text is a step's subject and body in one locale.
type Text struct {
	Subject  string `json:"subject"`
	Markdown string `json:"markdown"`
}

// text returns the step's text for locale.
func (s *Step) text(locale string) Text {
	if t, ok := s.Locales[locale]; ok {
		return t
	}
	return Text{Subject: s.Subject, Markdown: s.Markdown}
}

// Duration is a time.Duration written as a Go duration string ("1h", "72h").
type Duration time.Duration

// MarshalJSON writes "1h0m0s" style text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errs.Invalidf("delay", "delay must be a Go duration such as \"1h\" or \"72h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errs.Invalidf("delay", "delay must be a Go duration such as \"1h\" or \"72h\"")
	}
	*d = Duration(v)
	return nil
}

const (
	maxSteps = 10
	maxDelay = 365 * 24 * time.Hour
)

// validate checks f for slug and compiles every text, so that a template
// error is a 422 at save time naming "steps[i].markdown" (or
// "steps[i].locales.de.subject"), never a failed send later.
func (e *Engine) validate(ctx context.Context, slug string, f *Flow) error {
	if len(f.Steps) == 0 || len(f.Steps) > maxSteps {
		return errs.Invalidf("steps", "a flow has 1 to %d steps", maxSteps)
	}
	for i := range f.Steps {
		st := &f.Steps[i]
		p := fmt.Sprintf("steps[%d]", i)
		d := time.Duration(st.Delay)
		if d < 0 || d > maxDelay {
			return errs.Invalidf(p+".delay", "%s.delay must be between 0 and %s", p, maxDelay)
		}
		if slug == CartAbandonment && i == 0 && d < time.Minute {
			return errs.Invalidf(p+".delay", "the first cart reminder waits at least a minute after the last cart update")
		}
		if err := e.checkText(p, Text{st.Subject, st.Markdown}); err != nil {
			return err
		}
		for loc, t := range st.Locales {
			if loc != "de" && loc != "en" {
				return errs.Invalidf(p+".locales", "locale %q: use de or en", loc)
			}
			if err := e.checkText(p+".locales."+loc, t); err != nil {
				return err
			}
		}
		if st.CouponPool == "" && usesCoupon(e, *st) {
			// It would go out with an empty code.
			return errs.Invalidf(p+".coupon_pool", "%s uses {{ .Coupon }}: choose the coupon pool its codes come from", p)
		}
		if st.CouponPool != "" {
			if e.pools == nil {
				return errs.Invalidf(p+".coupon_pool", "coupon pools are not available")
			}
			ok, err := e.pools.Exists(ctx, st.CouponPool)
			if err != nil {
				return err
			}
			if !ok {
				return errs.Invalidf(p+".coupon_pool", "coupon pool %q does not exist", st.CouponPool)
			}
		}
	}
	if slug == Offers {
		if f.Cron == "" && f.Enabled {
			return errs.Invalidf("cron", "offers need a cron expression such as \"0 9 * * MON\"")
		}
		if f.Cron != "" {
			if _, err := cron.ParseStandard(f.Cron); err != nil {
				return errs.Invalidf("cron", "cron: %v", err)
			}
		}
		if f.SegmentID != nil && e.segs != nil {
			if _, err := e.segs.Get(ctx, *f.SegmentID); err != nil {
				if errs.Is(err, errs.NotFound) {
					return errs.Invalidf("segment_id", "segment %d does not exist", *f.SegmentID)
				}
				return err
			}
		}
	} else if f.Cron != "" || f.SegmentID != nil {
		return errs.Invalidf("cron", "only the offers flow runs on a schedule or a segment")
	}
	return nil
}

func (e *Engine) checkText(field string, t Text) error {
	if strings.TrimSpace(t.Subject) == "" {
		return errs.Invalidf(field+".subject", "%s.subject is required", field)
	}
	if strings.TrimSpace(t.Markdown) == "" {
		return errs.Invalidf(field+".markdown", "%s.markdown is required", field)
	}
	_, err := templates.Compile(e.source(t, "en"))
	if err != nil {
		if ee, ok := errs.As(err); ok && ee.Field != "" {
			return errs.Invalidf(field+"."+ee.Field, "%s.%s: %s", field, ee.Field, ee.Msg)
		}
		return errs.Invalidf(field+".markdown", "%s: %v", field, err)
	}
	return nil
}

func (e *Engine) source(t Text, locale string) templates.Source {
	return templates.Source{Subject: t.Subject, Markdown: t.Markdown, Layout: e.cfg.Layout, Footer: e.cfg.Footer, Locale: locale}
}

// flowRow is a flows row with its steps resolved (built-in defaults when NULL).
type flowRow struct {
	Flow
	enabledAt   time.Time
	lastRoundAt sql.NullInt64
	cursorAt    sql.NullInt64
}

const selectFlow = `SELECT slug, enabled, steps, cron, segment_id, version, enabled_at, last_round_at, cursor_at, existing_customers FROM flows`

func scanFlow(sc interface{ Scan(...any) error }) (flowRow, error) {
	var f flowRow
	var steps sql.NullString
	var seg sql.NullInt64
	var enabledAt int64
	if err := sc.Scan(&f.Slug, &f.Enabled, &steps, &f.Cron, &seg, &f.Version, &enabledAt, &f.lastRoundAt, &f.cursorAt, &f.ExistingCustomers); err != nil {
		return flowRow{}, err
	}
	if seg.Valid {
		f.SegmentID = &seg.Int64
	}
	f.enabledAt = time.Unix(enabledAt, 0).UTC()
	if steps.Valid {
		if err := json.Unmarshal([]byte(steps.String), &f.Steps); err != nil {
			return flowRow{}, fmt.Errorf("flows: %s steps: %w", f.Slug, err)
		}
	} else {
		f.Steps = DefaultSteps(f.Slug)
		f.Default = true
	}
	return f, nil
}

// Get returns one built-in flow.
func (e *Engine) Get(ctx context.Context, slug string) (Flow, error) {
	f, err := scanFlow(e.db.QueryRowContext(ctx, selectFlow+` WHERE slug = ?`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return Flow{}, errs.NotFoundf("flow %q", slug)
	}
	if err != nil {
		return Flow{}, fmt.Errorf("flows: get %s: %w", slug, err)
	}
	return f.Flow, nil
}

// List returns the built-in flows (GET /api/flows).
func (e *Engine) List(ctx context.Context) ([]Flow, error) {
	rows, err := e.loadAll(ctx, e.db)
	if err != nil {
		return nil, err
	}
	out := make([]Flow, len(rows))
	for i, r := range rows {
		out[i] = r.Flow
	}
	return out, nil
}

func (e *Engine) loadAll(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]flowRow, error) {
	rows, err := q.QueryContext(ctx, selectFlow+` ORDER BY CASE slug WHEN 'welcome' THEN 0 WHEN 'cart-abandonment' THEN 1 ELSE 2 END`)
	if err != nil {
		return nil, fmt.Errorf("flows: list: %w", err)
	}
	defer rows.Close()
	var out []flowRow
	for rows.Next() {
		f, err := scanFlow(rows)
		if err != nil {
			return nil, fmt.Errorf("flows: list: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Put saves a flow (PUT /api/flows/{slug}). Switching a flow on restarts its
// clock: carts from before that never enter the cart flow, and the offers
// cron counts from then. Runs already under way continue with the new steps
// by position (a run past the last step is done).
func (e *Engine) Put(ctx context.Context, slug string, in Flow) (Flow, error) {
	if err := e.validate(ctx, slug, &in); err != nil {
		return Flow{}, err
	}
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return Flow{}, fmt.Errorf("flows: encode steps: %w", err)
	}
	var seg any
	if in.SegmentID != nil {
		seg = *in.SegmentID
	}
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET
			enabled_at = CASE WHEN enabled = 0 AND ? THEN ? ELSE enabled_at END,
			last_round_at = CASE WHEN enabled = 0 AND ? THEN NULL ELSE last_round_at END,
			enabled = ?, steps = ?, cron = ?, segment_id = ?, version = version + 1, updated_at = ?, existing_customers = ?
			WHERE slug = ?`, in.Enabled, tx.Now.Unix(), in.Enabled, in.Enabled, string(steps), in.Cron, seg, tx.Now.Unix(), in.ExistingCustomers, slug)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("flow %q", slug)
		}
		return nil
	})
	if err != nil {
		if _, ok := errs.As(err); ok {
			return Flow{}, err
		}
		return Flow{}, fmt.Errorf("flows: save %s: %w", slug, err)
	}
	return e.Get(ctx, slug)
}

// usesCoupon says whether a step's text (any locale) prints {{ .Coupon }};
// the texts compiled already in validate, so an error here means no.
func usesCoupon(e *Engine, st Step) bool {
	texts := []Text{{st.Subject, st.Markdown}}
	for _, t := range st.Locales {
		texts = append(texts, t)
	}
	for _, t := range texts {
		if tpl, err := templates.Compile(e.source(t, "en")); err == nil && tpl.UsesCoupon() {
			return true
		}
	}
	return false
}
