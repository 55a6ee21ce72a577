package flows

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// Queue is what the engine needs of the mailer: a durable enqueue inside the
// transaction that advances the run. *mailer.Queue is one.
type Queue interface {
	Enqueue(ctx context.Context, tx *store.Tx, m *mailer.Message) (int64, error)
}

// Links makes the per-subscriber links every marketing mail carries.
// *subscribers.Service is one.
// Both links share one token, so a recipient costs one HMAC, not two.
type Links interface {
	ManageURLs(id int64) (unsubscribe, preferences string)
}

// Segments loads a saved segment for the offers audience. *segments.Store is one.
type Segments interface {
	Get(ctx context.Context, id int64) (segments.Segment, error)
}

// Pools checks that a step's coupon pool exists. *coupons.Service is one.
type Pools interface {
	Exists(ctx context.Context, slug string) (bool, error)
}

// assigner is coupons.Assign with its statement prepared once;
// *coupons.Service (the usual Pools) is one.
type assigner interface {
	Assign(ctx context.Context, tx *store.Tx, poolSlug string, subscriberID int64) (string, error)
}

// Config is the engine's wiring.
type Config struct {
	From, FromName, ReplyTo string
	ListID                  string // List-Id of flow mails, e.g. "newsletter.shop.example"; required
	UnsubscribeMailto       string
	Footer                  templates.Footer
	Layout                  string // "" = templates' default layout
	// Lists: the lists flow mails are for (default ["newsletter"]). Every flow
	// mails only subscribers active on one of them, the rule campaigns follow:
	// a flow mail carries ListID, so leaving that list stops it, whatever
	// other lists the subscriber stays on.
	Lists []string
	// MaxLate: a step due longer ago than this (Treu was down) is skipped and
	// counted instead of sent late. Default 24h.
	MaxLate time.Duration
	// AttributionWindow: an order this long after a flow mail counts as
	// converted by it. Default 5 days.
	AttributionWindow time.Duration
	// Batch: runs advanced per write transaction. Default 200.
	Batch int
	// Location is the shop's time zone: the offers cron "0 9 * * MON" means
	// 09:00 there, summer and winter (default UTC). A CRON_TZ= prefix wins.
	Location *time.Location

	// Tracking rewrites the links of flow mails to tracked redirects (and
	// adds the open pixel where consented); nil sends them as written.
	Tracking *tracking.Service
	// Loyalty reads a recipient's points and referral link ({{ .Points }},
	// {{ .ReferralURL }}; package loyalty) for steps that print them; nil:
	// they stay empty.
	Loyalty templates.LoyaltyOf
	// Survey returns the base of a subscriber's signed NPS links for survey
	// ({{ .SurveyURL }}/0 … /10; retention.SurveyLinks.URL); nil: empty.
	// The survey is the triggering order's id, else the flow's slug.
	Survey func(subscriberID int64, survey string) string

	// Emit queues a webhook event in the caller's transaction (package
	// webhooks' durable queue; *webhooks.Service.Emit); nil: flows cannot
	// have webhook steps.
	Emit func(ctx context.Context, tx *store.Tx, typ, orderingKey string, data any) error

	// SegmentEvery: how often segment-entered flows look for new members
	// (a segment's audience query per flow). Default 15 minutes.
	SegmentEvery time.Duration

	// FeedbackSender is the last field of the Feedback-ID header
	// ("<flow>:flow:<sender>", for Gmail's feedback loop); empty: no header.
	FeedbackSender string

	// Feedback lists a flow's bounced and complained mails (package
	// feedback) for the per-step figures; nil counts none.
	Feedback func(ctx context.Context, flow string) ([]MailFeedback, error)
	// Contact is the contact policy (package contact): a step that would
	// break the frequency cap or fall in quiet hours waits until allowed
	// (its due time moves); nil: none.
	Contact *contact.Policy
}

// Engine runs the flows.
type Engine struct {
	db    *store.DB
	q     Queue
	links Links
	segs  Segments
	pools Pools
	cfg   Config
	log   *slog.Logger

	// enterCart starts a cart-abandonment run for one subscriber if the
	// marketing rule holds for Config.Lists; its args follow the run's.
	enterCart     string
	enterCartArgs []any

	mu       sync.Mutex
	cache    map[cacheKey]*templates.Template // compiled step texts
	problems map[string]string                // per flow, the entry error last logged
}

// prepare prepares the per-run statements on the writer (store's statement
// cache): parsing them again for each of 10,000 due carts took most of a
// tick. It must run outside a transaction: the writer has one connection,
// which a transaction holds. A statement that fails to prepare is parsed per
// use instead.
func (e *Engine) prepare(ctx context.Context) {
	if err := e.db.Prepare(ctx, moveRun, insertSend, e.enterCart, savepoint, rollbackTo, release); err != nil {
		e.log.WarnContext(ctx, "flows: prepare; statements will be parsed per use", "err", err)
	}
}

// Close is kept for callers; the store owns the prepared statements.
func (e *Engine) Close() error { return nil }

type cacheKey struct {
	slug    string
	version int64
	step    int
	locale  string
}

// New returns an engine. segs and pools may be nil (no segment, no coupon check).
func New(db *store.DB, q Queue, links Links, segs Segments, pools Pools, cfg Config, log *slog.Logger) (*Engine, error) {
	if q == nil || links == nil || log == nil {
		return nil, errors.New("flows: queue, links and logger are required")
	}
	if cfg.From == "" || cfg.ListID == "" {
		return nil, errors.New("flows: Config.From and Config.ListID are required")
	}
	if len(cfg.Lists) == 0 {
		cfg.Lists = []string{"newsletter"}
	}
	if cfg.MaxLate <= 0 {
		cfg.MaxLate = 24 * time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.AttributionWindow <= 0 {
		cfg.AttributionWindow = 5 * 24 * time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.SegmentEvery <= 0 {
		cfg.SegmentEvery = 15 * time.Minute
	}
	enterCart, args := cartEntry(subscribers.Mailing{Lists: cfg.Lists})
	return &Engine{db: db, q: q, links: links, segs: segs, pools: pools, cfg: cfg, log: log,
		enterCart: enterCart, enterCartArgs: args,
		cache: map[cacheKey]*templates.Template{}, problems: map[string]string{}}, nil
}

// Run end reasons, as stored in flow_runs.end_reason and shown in Stats.
const (
	EndNotSubscribed   = "not_subscribed"    // no longer active on one of Config.Lists, or suppressed
	EndOrdered         = "ordered"           // an order for the cart, or any order after its last update
	EndCartCleared     = "cart_cleared"      // the shop cleared the cart (or it vanished)
	EndCartEmpty       = "cart_empty"        // the cart has no items any more
	EndCouponPoolEmpty = "coupon_pool_empty" // no code left: nothing sent without one
	EndLate            = "late"              // the first step was due longer than MaxLate ago
	EndRenderFailed    = "render_failed"     // the step's mail could not be built for this subscriber (logged)
	EndStageChanged    = "stage_changed"     // the ladder stage changed after entry (Exit.StageChange)
	EndStepFailed      = "step_failed"       // a list, attribute or condition step could not be applied (its list or segment deleted; logged)
)

// TickResult says what one Tick did.
type TickResult struct {
	Entered int // runs started (carts, offer round)
	Sent    int // mails queued
	Ended   int // runs ended early
	Skipped int // steps skipped as too late
}

// Tick does everything due at now: carts whose wait is over enter the cart
// flow, a due offers round starts, and every run whose step is due is checked
// and advanced, its mail queued in the same transaction. Ticks may overlap or
// repeat (several instances, a double cron fire): a run advances only from the
// step it was read at, so nothing is sent twice.
//
// One flow that cannot start runs holds up no other: a flow saved with a
// problem (its offers segment deleted, say) skips its round, logged once and
// shown in Stats.Problem, and is retried every tick; any other error entering
// runs is returned after the due steps of all flows have been advanced.
func (e *Engine) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	var res TickResult
	now = now.UTC().Truncate(time.Second)
	e.prepare(ctx)
	flows, err := e.loadAll(ctx, e.db)
	if err != nil {
		return res, err
	}
	enabled := map[string]*flowRow{}
	var entryErrs []error
	for i := range flows {
		f := &flows[i]
		if !f.Enabled || len(f.Steps) == 0 {
			continue
		}
		enabled[f.Slug] = f
		var n int
		switch {
		case f.Trigger.CartAbandoned:
			n, err = e.enterCarts(ctx, f, now, &res)
		case f.Trigger.Schedule:
			n, err = e.startRound(ctx, f, now)
		case f.Trigger.DateAttribute != "":
			n, err = e.enterDates(ctx, f, now)
		case f.Trigger.SegmentID != nil:
			n, err = e.checkSegment(ctx, f, now)
		}
		var p *problem
		if errors.As(err, &p) {
			e.noteProblem(ctx, f.Slug, p)
			continue
		}
		e.noteProblem(ctx, f.Slug, nil)
		if err != nil {
			entryErrs = append(entryErrs, err)
			continue
		}
		res.Entered += n
	}
	if len(enabled) == 0 {
		return res, errors.Join(entryErrs...)
	}
	for {
		n, err := e.advanceBatch(ctx, enabled, now, &res)
		if err != nil {
			return res, errors.Join(append(entryErrs, err)...)
		}
		if n < e.cfg.Batch {
			return res, errors.Join(entryErrs...)
		}
	}
}

// problem is a flow saved in a way it cannot run (an offers segment that no
// longer exists or no longer parses, a cron that does not parse): the
// marketer's to fix, not a failure of the tick.
type problem struct{ err error }

func (p *problem) Error() string { return p.err.Error() }
func (p *problem) Unwrap() error { return p.err }

// noteProblem logs a flow's entry error when it differs from the last one
// logged for the flow, so a segment deleted over the weekend is one log line,
// not one per tick; err == nil clears it.
func (e *Engine) noteProblem(ctx context.Context, slug string, p *problem) {
	msg := ""
	if p != nil {
		msg = p.Error()
	}
	e.mu.Lock()
	last := e.problems[slug]
	if msg == "" {
		delete(e.problems, slug)
	} else {
		e.problems[slug] = msg
	}
	e.mu.Unlock()
	switch {
	case msg == last:
	case msg == "":
		e.log.InfoContext(ctx, "flow entering runs again", "flow", slug)
	default:
		e.log.ErrorContext(ctx, "flow cannot enter runs; its other due steps and the other flows go on", "flow", slug, "err", p.err)
	}
}

type dueRun struct {
	id, sub int64
	flow    string
	trigger string
	step    int
	due     int64
	created int64
	event   []byte // the triggering event's JSON, nil without
	coupon  string // assigned by a coupon step
	// lastOrder is when the subscriber last ordered (Unix; 0: never, or
	// not loaded because the flow has no order exit).
	lastOrder int64
	rc        subscribers.Recipient
	held      time.Time // the contact policy holds its mail until then; zero: it may go
}

// selectDue loads a batch of due runs; their subscribers are loaded and
// checked against the marketing rule in one batch (subscribers.Recipients).
// The unary + keeps SQLite from reading the runs through the unique index
// on (flow, subscriber_id, trigger_key), which would visit every run of the
// flow ever started, done ones included, and sort them, once per batch; the
// partial index flow_runs_due holds only the active runs, in due order.
const selectDue = `SELECT r.id, r.subscriber_id, r.flow, r.trigger_key, r.step, r.due_at, r.created_at, r.event, r.coupon
	FROM flow_runs AS r
	WHERE r.status = 'active' AND r.due_at <= ? AND +r.flow IN (`

// advanceBatch advances up to Batch due runs in one transaction and returns
// how many it looked at. What a run's checks read (its subscriber, the
// suppressions, its cart and the orders) is loaded for the whole batch at the
// start: advancing a run writes none of it.
func (e *Engine) advanceBatch(ctx context.Context, enabled map[string]*flowRow, now time.Time, res *TickResult) (int, error) {
	slugs := make([]any, 0, 3)
	for s := range enabled {
		slugs = append(slugs, s)
	}
	ph := "?"
	for range len(slugs) - 1 {
		ph += ", ?"
	}
	var seen int
	emptyPools := map[string]bool{}
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, selectDue+ph+`) ORDER BY r.due_at, r.id LIMIT ?`,
			append(append([]any{now.Unix()}, slugs...), e.cfg.Batch)...)
		if err != nil {
			return err
		}
		var runs []dueRun
		for rows.Next() {
			var r dueRun
			var ev sql.NullString
			if err := rows.Scan(&r.id, &r.sub, &r.flow, &r.trigger, &r.step, &r.due, &r.created, &ev, &r.coupon); err != nil {
				rows.Close()
				return err
			}
			if ev.Valid {
				r.event = []byte(ev.String)
			}
			runs = append(runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		seen = len(runs)
		rcpts, err := e.recipients(ctx, tx, runs, enabled)
		if err != nil {
			return err
		}
		var refs []events.CartRef
		var exitOrder []int64
		for i := range runs {
			r := &runs[i]
			r.rc = rcpts[r.id] // missing (erased): the zero Recipient, whose May is false
			if !r.rc.May() {
				continue
			}
			f := enabled[r.flow]
			if f.Trigger.CartAbandoned && r.step < len(f.Steps) {
				refs = append(refs, events.CartRef{CartID: r.trigger, SubscriberID: r.sub})
			}
			if f.Exit.Order {
				exitOrder = append(exitOrder, r.sub)
			}
		}
		carts, err := events.CartChecks(ctx, tx, refs)
		if err != nil {
			return err
		}
		// Orders do not change while the batch runs: one read for the order exits.
		lastOrders, err := events.LastOrders(ctx, tx, exitOrder)
		if err != nil {
			return err
		}
		for i := range runs {
			if at, ok := lastOrders[runs[i].sub]; ok {
				runs[i].lastOrder = at.Unix()
			}
		}
		// The contact policy, one query for the batch; each mail queued
		// counts for the runs after it and is logged with the batch.
		subs := make([]int64, len(runs))
		for i := range runs {
			subs[i] = runs[i].sub
		}
		contacts, err := e.cfg.Contact.Check(ctx, tx, subs, now, 0)
		if err != nil {
			return err
		}
		w := tx
		for i := range runs {
			r := &runs[i]
			if until, held := contacts.Held(r.sub); held {
				r.held = until
			}
			sent := res.Sent
			if err := e.advance(ctx, w, enabled[r.flow], r, carts, now, res, emptyPools); err != nil {
				return fmt.Errorf("flows: run %d: %w", r.id, err)
			}
			if res.Sent > sent {
				contacts.Take(r.sub)
			}
		}
		return contacts.Record(ctx, tx)
	})
	for p := range emptyPools {
		e.log.WarnContext(ctx, "coupon pool empty: flow mails not sent", "pool", p)
	}
	return seen, err
}

// recipients checks the marketing rule for the runs' subscribers, in one
// read per kind of flow: those that may reach existing customers and those
// that may not (subscribers.Mailing). The map is keyed by run id.
func (e *Engine) recipients(ctx context.Context, tx *store.Tx, runs []dueRun, enabled map[string]*flowRow) (map[int64]subscribers.Recipient, error) {
	var subs [2][]int64
	for _, r := range runs {
		i := 0
		if enabled[r.flow].ExistingCustomers {
			i = 1
		}
		subs[i] = append(subs[i], r.sub)
	}
	var got [2]map[int64]subscribers.Recipient
	for i := range subs {
		if len(subs[i]) == 0 {
			continue
		}
		var err error
		if got[i], err = subscribers.RecipientsFor(ctx, tx, subs[i], subscribers.Mailing{Lists: e.cfg.Lists, ExistingCustomers: i == 1}); err != nil {
			return nil, err
		}
	}
	out := make(map[int64]subscribers.Recipient, len(runs))
	for _, r := range runs {
		i := 0
		if enabled[r.flow].ExistingCustomers {
			i = 1
		}
		if rc, ok := got[i][r.sub]; ok {
			out[r.id] = rc
		}
	}
	return out, nil
}

// decodeAttrs decodes a subscriber's attributes.
func decodeAttrs(rc *subscribers.Recipient) (map[string]any, error) {
	if rc.Attributes == "" || rc.Attributes == "{}" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(rc.Attributes), &m); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	return m, nil
}

// advance checks a due run's exits and runs its step, and the steps after
// it that are due already (a list step followed by a mail, say), all inside
// the batch's transaction.
func (e *Engine) advance(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, carts map[events.CartRef]events.CartCheck, now time.Time, res *TickResult, emptyPools map[string]bool) error {
	for hop := 0; ; hop++ {
		if r.step >= len(f.Steps) { // the flow lost steps since
			return e.finish(ctx, w, r, "done", "", nil, res)
		}
		if hop > 0 && (r.due > now.Unix() || hop > len(f.Steps)) {
			return nil // the next step waits
		}
		if !r.rc.May() {
			return e.end(ctx, w, r, EndNotSubscribed, res)
		}
		// Strictly after entry: the order that started the run is no exit.
		if f.Exit.Order && r.lastOrder > r.created {
			return e.end(ctx, w, r, EndOrdered, res)
		}
		var cart *templates.Cart
		if f.Trigger.CartAbandoned {
			c, found := carts[events.CartRef{CartID: r.trigger, SubscriberID: r.sub}]
			switch {
			case !found:
				return e.end(ctx, w, r, EndCartCleared, res)
			case c.Status == events.StatusOrdered:
				return e.end(ctx, w, r, EndOrdered, res)
			case c.Status == events.StatusCleared:
				return e.end(ctx, w, r, EndCartCleared, res)
			case len(c.Items) == 0:
				return e.end(ctx, w, r, EndCartEmpty, res)
			case c.Ordered:
				return e.end(ctx, w, r, EndOrdered, res)
			}
			// A cart updated again restarts the wait for the first reminder.
			if r.step == 0 {
				if due := c.UpdatedAt.Add(time.Duration(f.Steps[0].Delay)); due.After(now) {
					return e.reschedule(ctx, w, r, due.Unix())
				}
			}
			cart = toTemplateCart(c.CartState)
		}
		sent := res.Sent
		goOn, err := e.runStep(ctx, w, f, r, cart, now, res, emptyPools)
		if err != nil || !goOn {
			return err
		}
		// A second mail in one go would pass the contact policy's batch
		// check unasked: it waits for the next tick, which checks it.
		if e.cfg.Contact != nil && res.Sent > sent {
			return nil
		}
	}
}

// runStep runs the run's current step and moves it on; goOn says that the
// run is active at a next step (which may be due already).
func (e *Engine) runStep(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, cart *templates.Cart, now time.Time, res *TickResult, emptyPools map[string]bool) (goOn bool, err error) {
	st := &f.Steps[r.step]
	switch st.kind() {
	case StepSend:
		return e.send(ctx, w, f, r, cart, now, res, emptyPools)
	case StepCondition:
		yes, err := e.matches(ctx, w, st, r.sub, now)
		if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Invalid) {
			e.log.ErrorContext(ctx, "flow condition cannot be checked", "flow", f.Slug, "step", r.step, "err", err)
			return false, e.end(ctx, w, r, EndStepFailed, res)
		}
		if err != nil {
			return false, err
		}
		if yes {
			return e.next(ctx, w, f, r, r.step+1, now)
		}
		if st.No == 0 {
			return false, e.finish(ctx, w, r, "done", "", nil, res)
		}
		return e.next(ctx, w, f, r, int(st.No), now)
	case StepCoupon:
		at := r.step
		if ok, err := e.next(ctx, w, f, r, r.step+1, now); err != nil || (!ok && r.step == at) {
			return false, err
		}
		code, err := e.assign(ctx, w, st.CouponPool, r.sub)
		if errors.Is(err, coupons.ErrEmpty) || errs.Is(err, errs.NotFound) {
			emptyPools[st.CouponPool] = true
			_, err := w.ExecContext(ctx, `UPDATE flow_runs SET status = 'ended', due_at = NULL, end_reason = ? WHERE id = ?`, EndCouponPoolEmpty, r.id)
			res.Ended++
			return false, err
		}
		if err != nil {
			return false, err
		}
		r.coupon = code
		if _, err := w.ExecContext(ctx, `UPDATE flow_runs SET coupon = ? WHERE id = ?`, code, r.id); err != nil {
			return false, err
		}
		return r.step < len(f.Steps), nil
	}
	// The steps that change the subscriber or tell the shop; a list or a
	// key the subscribers package refuses ends the run, logged.
	var apply error
	switch st.kind() {
	case StepList:
		apply = subscribers.AutomationList(ctx, w, r.sub, st.List, st.Action == "add", f.Slug)
	case StepAttribute:
		apply = subscribers.SetAttribute(ctx, w, r.sub, st.Key, st.Value)
	case StepWebhook:
		if e.cfg.Emit == nil {
			apply = errs.Invalidf("type", "webhooks are not available")
		} else {
			apply = e.cfg.Emit(ctx, w, WebhookEvent, fmt.Sprintf("subscriber:%d", r.sub),
				webhookData(f.Slug, r.step, &recipientView{r.sub, r.rc.Email}, r.event))
		}
	}
	if errs.Is(apply, errs.NotFound) || errs.Is(apply, errs.Invalid) {
		e.log.ErrorContext(ctx, "flow step not applied", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", apply)
		return false, e.end(ctx, w, r, EndStepFailed, res)
	}
	if apply != nil {
		return false, apply
	}
	return e.next(ctx, w, f, r, r.step+1, now) // wait, list, attribute, webhook
}

// matches checks a condition step for one subscriber.
func (e *Engine) matches(ctx context.Context, w *store.Tx, st *Step, sub int64, now time.Time) (bool, error) {
	rule := st.Rule
	if st.SegmentID != nil {
		if e.segs == nil {
			return false, errs.NotFoundf("segments are not available")
		}
		seg, err := e.segs.Get(ctx, *st.SegmentID)
		if err != nil {
			return false, err
		}
		rule = &seg.Rule
	}
	return segments.Matches(ctx, w, *rule, sub, now)
}

// next moves the run from its step to step to (the end when past the last),
// due as that step says from now; goOn is true when the run is active at it.
func (e *Engine) next(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, to int, now time.Time) (goOn bool, err error) {
	status, due := "done", any(nil)
	var dueAt int64
	if to < len(f.Steps) {
		dueAt = e.due(&f.Steps[to], w.Now).Unix()
		status, due = "active", dueAt
	}
	ok, err := e.move(ctx, w, r, to, status, due, "")
	if err != nil || !ok {
		return false, err
	}
	r.step, r.due = to, dueAt
	return status == "active", nil
}

// assign takes a code of pool for the subscriber inside w.
func (e *Engine) assign(ctx context.Context, w *store.Tx, pool string, sub int64) (string, error) {
	if a, ok := e.pools.(assigner); ok {
		return a.Assign(ctx, w, pool, sub) // *coupons.Service: prepared
	}
	return coupons.Assign(ctx, w, pool, sub)
}

// send is a mail step: it builds the run's mail for its subscriber and
// queues it with the run's move, in the batch's transaction. Every flow
// mail goes through here.
func (e *Engine) send(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, cart *templates.Cart, now time.Time, res *TickResult, emptyPools map[string]bool) (bool, error) {
	rc := &r.rc
	step := f.Steps[r.step]
	// A step due while Treu was down too long ago is skipped, not sent late.
	if now.Unix()-r.due > int64(e.cfg.MaxLate/time.Second) {
		moved, err := e.finishStep(ctx, w, f, r, "late", nil, "", res)
		if moved {
			res.Skipped++
		}
		return moved && r.step < len(f.Steps), err
	}
	// Over the contact policy's cap or in quiet hours: the step waits.
	if !r.held.IsZero() {
		return false, e.reschedule(ctx, w, r, r.held.Unix())
	}
	tpl, err := e.template(f, r.step, rc.Locale)
	if err != nil {
		e.log.ErrorContext(ctx, "flow step does not compile", "flow", f.Slug, "step", r.step, "err", err)
		return false, e.end(ctx, w, r, EndRenderFailed, res)
	}
	attrs, err := decodeAttrs(rc)
	if err != nil {
		e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
		return false, e.end(ctx, w, r, EndRenderFailed, res)
	}
	data := &templates.Data{Email: rc.Email, Name: rc.Name, Locale: rc.Locale, Attributes: attrs, Cart: cart, Coupon: r.coupon,
		ExistingCustomer: rc.ExistingCustomer()}
	if len(r.event) > 0 {
		if err := json.Unmarshal(r.event, &data.Event); err != nil {
			e.log.ErrorContext(ctx, "flow mail not built: event data", "flow", f.Slug, "run", r.id, "err", err)
			return false, e.end(ctx, w, r, EndRenderFailed, res)
		}
	}
	if e.cfg.Loyalty != nil && tpl.UsesLoyalty() {
		ls, err := e.cfg.Loyalty(ctx, []int64{r.sub})
		if err != nil {
			return false, fmt.Errorf("flows: points of %d: %w", r.sub, err)
		}
		l := ls[r.sub]
		data.Points, data.RewardCode, data.ReferralURL = l.Points, l.RewardCode, l.ReferralURL
	}
	if e.cfg.Survey != nil {
		data.SurveyURL = e.cfg.Survey(r.sub, surveyOf(f.Slug, data.Event))
	}
	data.UnsubscribeURL, data.PreferencesURL = e.links.ManageURLs(r.sub)
	if step.CouponPool != "" {
		sent, err := e.sendWithCoupon(ctx, w, f, r, step.CouponPool, tpl, data, res, emptyPools)
		return sent && r.step < len(f.Steps), err
	}
	msg, err := e.compose(ctx, w, f, r, tpl, data)
	if err != nil {
		if errors.Is(err, errTracking) {
			return false, err // the database's trouble, not the subscriber's: the batch rolls back
		}
		e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
		return false, e.end(ctx, w, r, EndRenderFailed, res)
	}
	sent, err := e.finishStep(ctx, w, f, r, "sent", msg, "", res)
	return sent && r.step < len(f.Steps), err
}

// Savepoint statements around a coupon step: the code assigned is given back
// when the step's mail is not queued after all.
const (
	savepoint  = `SAVEPOINT flow_coupon`
	rollbackTo = `ROLLBACK TO flow_coupon`
	release    = `RELEASE flow_coupon`
)

// sendWithCoupon sends a step with a code of pool. The code is assigned, the
// mail built with it and the run moved inside a savepoint: a mail that cannot
// be built, or a run another tick moved already, rolls the assignment back, so
// a code goes only to a mail that is queued.
func (e *Engine) sendWithCoupon(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, pool string, tpl *templates.Template, data *templates.Data, res *TickResult, emptyPools map[string]bool) (bool, error) {
	if _, err := w.ExecCached(ctx, savepoint); err != nil {
		return false, err
	}
	// sent: the mail is queued and the code stays assigned. Otherwise the
	// savepoint is rolled back and the run ends for reason ("": another tick
	// moved it already, nothing to end).
	sent, reason, err := func() (bool, string, error) {
		code, err := e.assign(ctx, w, pool, r.sub)
		if errors.Is(err, coupons.ErrEmpty) || errs.Is(err, errs.NotFound) {
			emptyPools[pool] = true
			return false, EndCouponPoolEmpty, nil
		}
		if err != nil {
			return false, "", err
		}
		data.Coupon = code
		msg, err := e.compose(ctx, w, f, r, tpl, data)
		if errors.Is(err, errTracking) {
			return false, "", err
		}
		if err != nil {
			e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
			return false, EndRenderFailed, nil
		}
		sent, err := e.finishStep(ctx, w, f, r, "sent", msg, code, res)
		return sent, "", err
	}()
	if err != nil {
		return false, err // the batch's transaction rolls back as a whole
	}
	if !sent {
		if _, err := w.ExecCached(ctx, rollbackTo); err != nil {
			return false, err
		}
	}
	if _, err := w.ExecCached(ctx, release); err != nil {
		return false, err
	}
	if reason == "" {
		return sent, nil
	}
	return false, e.end(ctx, w, r, reason, res)
}

// errTracking marks a failure to register a mail's links: a database error.
var errTracking = errors.New("flows: tracking")

// compose renders the step for one recipient and checks the result as the
// queue will, so that one subscriber's values (a control character or 500
// characters in the subject, say) end that run rather than failing the batch.
func (e *Engine) compose(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, tpl *templates.Template, data *templates.Data) (*mailer.Message, error) {
	sub := r.sub
	out, err := tpl.Render(data)
	if err != nil {
		return nil, err
	}
	if e.cfg.Tracking != nil {
		// Inside the batch's transaction: new links are registered with the
		// mail that uses them, and vanish with it if the batch rolls back.
		links := e.cfg.Tracking.Links(tracking.FlowMail(f.Slug, r.step))
		out.HTML, out.Text, err = links.Rewrite(ctx, w, out.HTML, out.Text,
			tracking.Recipient{SubscriberID: sub, Tracking: r.rc.Tracking, SentAt: w.Now})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errTracking, err)
		}
		data.UnsubscribeURL = links.UnsubscribeURL(data.UnsubscribeURL)
	}
	msg := &mailer.Message{
		From: e.cfg.From, FromName: e.cfg.FromName, ReplyTo: e.cfg.ReplyTo,
		To: data.Email, ToName: data.Name,
		Subject: out.Subject, Text: out.Text, HTML: out.HTML,
		ListID: e.cfg.ListID, UnsubscribeURL: data.UnsubscribeURL, UnsubscribeMailto: e.cfg.UnsubscribeMailto,
		Headers:      map[string]string{"X-Treu-Flow": f.Slug},
		Kind:         "flow",
		SubscriberID: sub,
	}
	if e.cfg.FeedbackSender != "" {
		msg.Headers["Feedback-ID"] = f.Slug + ":flow:" + e.cfg.FeedbackSender
	}
	if err := msg.Validate(); err != nil {
		return nil, err
	}
	return msg, nil
}

// finishStep records the step (sent or skipped) and moves the run on. The
// guarded UPDATE runs first: if another tick advanced this run already, it
// touches no row, nothing is queued and it returns false.
func (e *Engine) finishStep(ctx context.Context, w *store.Tx, f *flowRow, r *dueRun, outcome string, msg *mailer.Message, code string, res *TickResult) (bool, error) {
	at := r.step
	next := r.step + 1
	status, due := "done", any(nil)
	var dueAt int64
	if next < len(f.Steps) {
		base := w.Now
		if outcome == "late" {
			base = time.Unix(r.due, 0) // keep the series' rhythm when catching up
		}
		dueAt = e.due(&f.Steps[next], base).Unix()
		status, due = "active", dueAt
	}
	ok, err := e.move(ctx, w, r, next, status, due, "")
	if err != nil || !ok {
		return false, err
	}
	r.step, r.due = next, dueAt
	var mailID any
	if msg != nil {
		id, err := e.q.Enqueue(ctx, w, msg)
		if err != nil {
			return false, err
		}
		mailID = id
	}
	if _, err = w.ExecCached(ctx, insertSend, r.id, f.Slug, at, r.sub, outcome, mailID, code, w.Now.Unix()); err != nil {
		return false, err
	}
	if outcome == "sent" {
		res.Sent++
	}
	return true, nil
}

const insertSend = `INSERT INTO flow_sends (run_id, flow, step, subscriber_id, outcome, mail_id, coupon, sent_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func (e *Engine) end(ctx context.Context, w *store.Tx, r *dueRun, reason string, res *TickResult) error {
	ok, err := e.move(ctx, w, r, r.step, "ended", nil, reason)
	if ok {
		res.Ended++
	}
	return err
}

func (e *Engine) finish(ctx context.Context, w *store.Tx, r *dueRun, status, reason string, due any, res *TickResult) error {
	_, err := e.move(ctx, w, r, r.step, status, due, reason)
	return err
}

func (e *Engine) reschedule(ctx context.Context, w *store.Tx, r *dueRun, due int64) error {
	_, err := e.move(ctx, w, r, r.step, "active", due, "")
	return err
}

const moveRun = `UPDATE flow_runs SET step = ?, status = ?, due_at = ?, end_reason = ?, updated_at = ?
	WHERE id = ? AND step = ? AND status = 'active'`

// move is the single-transaction claim: it changes the run only if it is
// still active at the step it was read at.
func (e *Engine) move(ctx context.Context, w *store.Tx, r *dueRun, step int, status string, due any, reason string) (bool, error) {
	res, err := w.ExecCached(ctx, moveRun, step, status, due, reason, w.Now.Unix(), r.id, r.step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func toTemplateCart(c events.CartState) *templates.Cart {
	out := &templates.Cart{ID: c.ID, URL: c.URL, Currency: c.Currency, Total: c.Total, Items: make([]templates.Item, len(c.Items))}
	for i, it := range c.Items {
		out.Items[i] = templates.Item{SKU: it.SKU, Name: it.Name, Price: it.Price, Quantity: it.Quantity, URL: it.URL, ImageURL: it.ImageURL}
	}
	return out
}

// template compiles a step's text for a locale once per flow version.
func (e *Engine) template(f *flowRow, step int, locale string) (*templates.Template, error) {
	if locale != "de" {
		locale = "en"
	}
	k := cacheKey{f.Slug, f.Version, step, locale}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.cache[k]; ok {
		return t, nil
	}
	t, err := templates.Compile(e.source(f.Steps[step].text(locale), locale))
	if err != nil {
		return nil, err
	}
	for old := range e.cache { // drop older versions of this flow
		if old.slug == f.Slug && old.version != f.Version {
			delete(e.cache, old)
		}
	}
	e.cache[k] = t
	return t, nil
}

// surveyOf names the NPS survey of a flow mail: the triggering order's id
// ("order:1001"), else the flow ("flow:nps"), so each order is asked once.
func surveyOf(slug string, ev map[string]any) string {
	if o, ok := ev["order"].(map[string]any); ok {
		switch id := o["id"].(type) {
		case string:
			if id != "" && len(id) <= 150 {
				return "order:" + id
			}
		case float64:
			return "order:" + strconv.FormatFloat(id, 'f', -1, 64)
		}
	}
	return "flow:" + slug
}
