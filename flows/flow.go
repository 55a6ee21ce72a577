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
	"github.com/treu-mail/treu/segments"
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

// Flow is GET|PUT /api/flows/{slug} and the body of POST /api/flows.
type Flow struct {
	Slug    string  `json:"slug"`
	Name    string  `json:"name"`
	Enabled bool    `json:"enabled"`
	Trigger Trigger `json:"trigger"`
	Steps   []Step  `json:"steps"`
	Exit    Exit    `json:"exit"`
	// OncePerPerson: a person enters the flow at most once, whatever the
	// trigger key. Cooldown: a person who entered it less than this long ago
	// does not enter again.
	OncePerPerson bool     `json:"once_per_person"`
	Cooldown      Duration `json:"cooldown"`
	Cron          string   `json:"cron,omitempty"`       // schedule trigger (offers): when a round starts
	SegmentID     *int64   `json:"segment_id,omitempty"` // schedule trigger (offers): who gets it (nil: every active subscriber)
	Version       int64    `json:"version"`              // read-only; bumped on every save
	// Default is true while the flow runs on the built-in texts (read-only).
	Default bool `json:"default"`
	// Builtin marks the three ready-made flows: not deleted, trigger fixed (read-only).
	Builtin bool `json:"builtin"`
	// ExistingCustomers: the flow mails about the shop's own similar
	// products and may reach existing customers (UWG § 7 (3); subscribers.Mailing).
	ExistingCustomers bool `json:"existing_customers"`
}

// Exit ends a run early when it advances; an unsubscribe always does.
type Exit struct {
	Order       bool `json:"order,omitempty"`        // an order placed after the run started
	StageChange bool `json:"stage_change,omitempty"` // the ladder stage changed after the run started
}

// Step is one step of a flow. A step without Type is a mail ("send"), the
// original contract: Delay before it, Subject/Markdown, optional CouponPool.
//
// Subject and Markdown are the text for every recipient whose locale has no
// entry in Locales; Locales["de"] / Locales["en"] give a locale its own text.
// The built-in flows carry English in Subject/Markdown and German in
// Locales["de"]. A shop that only writes Subject/Markdown sends that text to all.
//
// Every step waits Delay after the previous one (after the trigger for the
// first) and then, with Until, on to the next Until weekday and time in the
// shop's zone. Typed steps (steps.go): wait, condition, send, coupon, list,
// attribute, webhook.
type Step struct {
	Type       string          `json:"type,omitempty"`
	Delay      Duration        `json:"delay"`
	Until      *Until          `json:"until,omitempty"`
	Subject    string          `json:"subject,omitempty"`
	Markdown   string          `json:"markdown,omitempty"`
	CouponPool string          `json:"coupon_pool,omitempty"`
	Locales    map[string]Text `json:"locales,omitempty"`

	// condition: a segment rule (inline, or a saved segment) the subscriber
	// must match to go on with the next step; otherwise the run jumps to No.
	Rule      *segments.Rule `json:"rule,omitempty"`
	SegmentID *int64         `json:"segment_id,omitempty"`
	No        Jump           `json:"no,omitempty"`

	// list: add to or remove from List (add: private lists only).
	// attribute: set Key to Value, or remove Key.
	Action string          `json:"action,omitempty"` // "add"/"remove" (list), "set"/"remove" (attribute)
	List   string          `json:"list,omitempty"`
	Key    string          `json:"key,omitempty"`
	Value  json.RawMessage `json:"value,omitempty"`
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
	maxSteps    = 20
	maxDelay    = 365 * 24 * time.Hour
	maxCooldown = 5 * 365 * 24 * time.Hour
)

// validSlug: lower-case letters, digits and dashes, 1 to 64, starting with a
// letter or digit (it is part of URLs and mail headers).
func validSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// validate checks f and compiles every text, so that a template error is a
// 422 at save time naming "steps[i].markdown" (or
// "steps[i].locales.de.subject"), never a failed send later.
func (e *Engine) validate(ctx context.Context, f *Flow) error {
	if len(f.Name) > 200 {
		return errs.Invalidf("name", "name may be at most 200 bytes")
	}
	if err := e.checkTrigger(ctx, f); err != nil {
		return err
	}
	if c := time.Duration(f.Cooldown); c < 0 || c > maxCooldown {
		return errs.Invalidf("cooldown", "cooldown must be between 0 and %s", maxCooldown)
	}
	if len(f.Steps) == 0 || len(f.Steps) > maxSteps {
		return errs.Invalidf("steps", "a flow has 1 to %d steps", maxSteps)
	}
	mails := 0
	for i := range f.Steps {
		st := &f.Steps[i]
		p := fmt.Sprintf("steps[%d]", i)
		d := time.Duration(st.Delay)
		if d < 0 || d > maxDelay {
			return errs.Invalidf(p+".delay", "%s.delay must be between 0 and %s", p, maxDelay)
		}
		if f.Trigger.CartAbandoned && i == 0 && d < time.Minute {
			return errs.Invalidf(p+".delay", "the first cart reminder waits at least a minute after the last cart update")
		}
		if err := st.Until.check(p + ".until"); err != nil {
			return err
		}
		if err := e.checkStep(ctx, f, i, p, st); err != nil {
			return err
		}
		if st.kind() == StepSend {
			mails++
		}
	}
	if f.Trigger.CartAbandoned && (f.Steps[0].kind() != StepSend) {
		return errs.Invalidf("steps[0].type", "a cart flow starts with a mail")
	}
	if f.Trigger.Schedule {
		if f.Cron == "" && f.Enabled {
			return errs.Invalidf("cron", "a scheduled flow needs a cron expression such as \"0 9 * * MON\"")
		}
		if f.Cron != "" {
			if _, err := cron.ParseStandard(f.Cron); err != nil {
				return errs.Invalidf("cron", "cron: %v", err)
			}
		}
		if f.SegmentID != nil && e.segs != nil {
			if err := e.segmentExists(ctx, "segment_id", *f.SegmentID); err != nil {
				return err
			}
		}
	} else if f.Cron != "" {
		return errs.Invalidf("cron", "only a scheduled flow (offers) runs on a cron")
	} else if f.SegmentID != nil {
		return errs.Invalidf("segment_id", "only a scheduled flow (offers) has an audience segment; a flow for people entering a segment has the trigger {\"segment_id\": N}")
	}
	return nil
}

func (e *Engine) segmentExists(ctx context.Context, field string, id int64) error {
	if e.segs == nil {
		return errs.Invalidf(field, "segments are not available")
	}
	if _, err := e.segs.Get(ctx, id); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.Invalidf(field, "segment %d does not exist", id)
		}
		return err
	}
	return nil
}

// checkMail checks a send step's texts and its coupon pool.
func (e *Engine) checkMail(ctx context.Context, p string, st *Step) error {
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
	return nil
}

// checkPool checks that a step's coupon pool exists.
func (e *Engine) checkPool(ctx context.Context, p, pool string) error {
	if e.pools == nil {
		return errs.Invalidf(p+".coupon_pool", "coupon pools are not available")
	}
	ok, err := e.pools.Exists(ctx, pool)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Invalidf(p+".coupon_pool", "coupon pool %q does not exist", pool)
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

const selectFlow = `SELECT slug, name, enabled, steps, cron, segment_id, version, enabled_at, last_round_at, cursor_at,
	trigger_kind, trigger_arg, exit_order, exit_stage, once_per_person, cooldown, builtin, existing_customers FROM flows`

func scanFlow(sc interface{ Scan(...any) error }) (flowRow, error) {
	var f flowRow
	var steps sql.NullString
	var seg sql.NullInt64
	var enabledAt, cooldown int64
	var kind, arg string
	if err := sc.Scan(&f.Slug, &f.Name, &f.Enabled, &steps, &f.Cron, &seg, &f.Version, &enabledAt, &f.lastRoundAt, &f.cursorAt,
		&kind, &arg, &f.Exit.Order, &f.Exit.StageChange, &f.OncePerPerson, &cooldown, &f.Builtin, &f.ExistingCustomers); err != nil {
		return flowRow{}, err
	}
	f.Cooldown = Duration(time.Duration(cooldown) * time.Second)
	f.Trigger = triggerOf(kind, arg, seg)
	if seg.Valid && kind == kindSchedule {
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

// Get returns one flow.
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

// List returns the flows (GET /api/flows): the built-in ones first, then
// the marketer's by slug.
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
	rows, err := q.QueryContext(ctx, selectFlow+` ORDER BY CASE slug WHEN 'welcome' THEN 0 WHEN 'cart-abandonment' THEN 1 WHEN 'offers' THEN 2 ELSE 3 END, slug`)
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

// Create stores a new flow (POST /api/flows). A slug in use is a 409.
func (e *Engine) Create(ctx context.Context, in Flow) (Flow, error) {
	if !validSlug(in.Slug) {
		return Flow{}, errs.Invalidf("slug", "slug must be 1 to 64 lower-case letters, digits and dashes")
	}
	if in.Slug == "templates" || in.Slug == "new" {
		// GET /api/flows/templates and /ui/flows/new are pages of their own.
		return Flow{}, errs.Invalidf("slug", "slug %q is reserved", in.Slug)
	}
	if in.Trigger.kind() == "" {
		return Flow{}, errs.Invalidf("trigger", "trigger is required: event, stage, date_attribute, segment_id or confirmed")
	}
	if in.Trigger.CartAbandoned || in.Trigger.Schedule {
		// One cart cursor and one offers round keep their own flows.
		return Flow{}, errs.Invalidf("trigger", "cart and schedule triggers belong to the built-in flows; edit those")
	}
	if err := e.validate(ctx, &in); err != nil {
		return Flow{}, err
	}
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return Flow{}, fmt.Errorf("flows: encode steps: %w", err)
	}
	kind, arg, seg := in.Trigger.columns()
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO flows (slug, name, enabled, steps, cron, segment_id, enabled_at, updated_at,
			trigger_kind, trigger_arg, exit_order, exit_stage, once_per_person, cooldown, existing_customers)
			VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Slug, in.Name, in.Enabled, string(steps), seg, tx.Now.Unix(), tx.Now.Unix(),
			kind, arg, in.Exit.Order, in.Exit.StageChange, in.OncePerPerson, int64(time.Duration(in.Cooldown)/time.Second),
			in.ExistingCustomers)
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return errs.Conflictf("flow %q exists", in.Slug)
		}
		return err
	})
	if err != nil {
		if _, ok := errs.As(err); ok {
			return Flow{}, err
		}
		return Flow{}, fmt.Errorf("flows: create %s: %w", in.Slug, err)
	}
	return e.Get(ctx, in.Slug)
}

// Put saves a flow (PUT /api/flows/{slug}). Switching a flow on restarts its
// clock: carts from before that never enter the cart flow, the offers cron
// counts from then, a segment flow takes who is in the segment then as
// already in. Runs already under way continue with the new steps by position
// (a run past the last step is done). A body without a trigger keeps the
// flow's; a built-in flow keeps its trigger.
func (e *Engine) Put(ctx context.Context, slug string, in Flow) (Flow, error) {
	cur, err := e.Get(ctx, slug)
	if err != nil {
		return Flow{}, err
	}
	in.Slug = slug
	if in.Trigger.kind() == "" {
		in.Trigger = cur.Trigger
	} else if !in.Trigger.same(cur.Trigger) && (cur.Builtin || in.Trigger.CartAbandoned || in.Trigger.Schedule) {
		return Flow{}, errs.Invalidf("trigger", "the trigger of this flow cannot change")
	}
	if in.Name == "" {
		in.Name = cur.Name
	}
	if err := e.validate(ctx, &in); err != nil {
		return Flow{}, err
	}
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return Flow{}, fmt.Errorf("flows: encode steps: %w", err)
	}
	kind, arg, seg := in.Trigger.columns()
	if in.SegmentID != nil {
		seg = *in.SegmentID
	}
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		// A segment flow switched on, or pointed at another segment,
		// takes its members anew (cursor_at NULL: the first check only
		// records who is in).
		res, err := tx.ExecContext(ctx, `UPDATE flows SET
			enabled_at = CASE WHEN enabled = 0 AND ? THEN ? ELSE enabled_at END,
			last_round_at = CASE WHEN enabled = 0 AND ? THEN NULL ELSE last_round_at END,
			cursor_at = CASE WHEN trigger_kind = 'segment' AND ((enabled = 0 AND ?) OR segment_id IS NOT ?) THEN NULL ELSE cursor_at END,
			enabled = ?, steps = ?, cron = ?, segment_id = ?, version = version + 1, updated_at = ?,
			name = ?, trigger_kind = ?, trigger_arg = ?, exit_order = ?, exit_stage = ?, once_per_person = ?, cooldown = ?,
			existing_customers = ?
			WHERE slug = ?`, in.Enabled, tx.Now.Unix(), in.Enabled, in.Enabled, seg,
			in.Enabled, string(steps), in.Cron, seg, tx.Now.Unix(),
			in.Name, kind, arg, in.Exit.Order, in.Exit.StageChange, in.OncePerPerson, int64(time.Duration(in.Cooldown)/time.Second),
			in.ExistingCustomers, slug)
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

// Delete removes a flow the marketer made, with its runs and their records
// (DELETE /api/flows/{slug}); the built-in flows are switched off instead.
func (e *Engine) Delete(ctx context.Context, slug string) error {
	cur, err := e.Get(ctx, slug)
	if err != nil {
		return err
	}
	if cur.Builtin {
		return errs.Conflictf("flow %q is built in: switch it off instead", slug)
	}
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`DELETE FROM flow_sends WHERE flow = ?`,
			`DELETE FROM flow_runs WHERE flow = ?`,
			`DELETE FROM flow_segment_members WHERE flow = ?`,
			`DELETE FROM flows WHERE slug = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, slug); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("flows: delete %s: %w", slug, err)
	}
	return nil
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

// UnmarshalJSON reads a flow and names a step's field by its place
// ("steps[2].delay", "steps[1].rule.all[0].op"), so a 422 from the decoder
// says which step as the checks after it do.
func (f *Flow) UnmarshalJSON(b []byte) error {
	type plain Flow
	aux := struct {
		*plain
		Steps []json.RawMessage `json:"steps"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(b, &aux); err != nil {
		if ee, ok := errs.As(err); ok && ee.Field == "delay" {
			// The one duration outside the steps.
			return errs.Invalidf("cooldown", "cooldown must be a Go duration such as \"720h\"")
		}
		return err
	}
	f.Steps = nil
	if aux.Steps != nil {
		f.Steps = make([]Step, len(aux.Steps))
	}
	for i, raw := range aux.Steps {
		if err := json.Unmarshal(raw, &f.Steps[i]); err != nil {
			p := fmt.Sprintf("steps[%d]", i)
			var typ *json.UnmarshalTypeError
			switch ee, ok := errs.As(err); {
			case ok && ee.Field != "":
				return errs.Invalidf(p+"."+ee.Field, "%s.%s", p, ee.Msg)
			case errors.As(err, &typ) && typ.Field != "":
				return errs.Invalidf(p+"."+typ.Field, "%s.%s has the wrong type", p, typ.Field)
			default:
				return errs.Invalidf(p, "%s: %v", p, err)
			}
		}
	}
	return nil
}
