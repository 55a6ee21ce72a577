package flows

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
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
	// FeedbackSender is the last field of the Feedback-ID header
	// ("<flow>:flow:<sender>", for Gmail's feedback loop); empty: no header.
	FeedbackSender string
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

	listsJSON string // cfg.Lists as a JSON array, the parameter of the list checks

	mu       sync.Mutex
	cache    map[cacheKey]*templates.Template // compiled step texts
	problems map[string]string                // per flow, the entry error last logged

	// Statements run once per run or per cart, prepared once on the writer:
	// parsing them again for each of 10,000 due carts took most of a tick.
	prepOnce sync.Once
	stmts    map[string]*sql.Stmt // a statement missing here is parsed per use
}

// prepare prepares the per-run statements on the writer. It must run outside
// a transaction: the writer has one connection, which a transaction holds. A
// statement that fails to prepare is parsed per use instead.
func (e *Engine) prepare(ctx context.Context) {
	e.prepOnce.Do(func() {
		e.stmts = make(map[string]*sql.Stmt)
		for _, q := range []string{moveRun, insertSend, enterCart, savepoint, rollbackTo, release} {
			st, err := e.db.Writer().PrepareContext(context.WithoutCancel(ctx), q)
			if err != nil {
				e.log.WarnContext(ctx, "flows: prepare; statements will be parsed per use", "err", err)
				continue
			}
			e.stmts[q] = st
		}
	})
}

// Close releases the prepared statements.
func (e *Engine) Close() error {
	e.prepOnce.Do(func() {}) // no preparing after Close
	for _, st := range e.stmts {
		st.Close()
	}
	return nil
}

// wtx is a write transaction with the prepared statements bound to it, each
// once per transaction.
type wtx struct {
	*store.Tx
	e     *Engine
	bound map[string]*sql.Stmt
}

func (e *Engine) bind(tx *store.Tx) *wtx {
	return &wtx{Tx: tx, e: e, bound: make(map[string]*sql.Stmt, len(e.stmts))}
}

// exec runs q, prepared if prepare could.
func (w *wtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, ok := w.bound[q]
	if !ok {
		if p := w.e.stmts[q]; p != nil {
			st = w.StmtContext(ctx, p)
			w.bound[q] = st
		}
	}
	if st == nil {
		return w.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

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
	if cfg.AttributionWindow <= 0 {
		cfg.AttributionWindow = 5 * 24 * time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	lists, err := json.Marshal(cfg.Lists)
	if err != nil {
		return nil, fmt.Errorf("flows: lists: %w", err)
	}
	return &Engine{db: db, q: q, links: links, segs: segs, pools: pools, cfg: cfg, log: log, listsJSON: string(lists),
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
)

// StartWelcome starts the welcome flow for a subscriber who just became
// active, inside the activating transaction. Wire it into the subscribers
// OnActivated hook. A subscriber gets the welcome series once in a lifetime.
func (e *Engine) StartWelcome(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	var enabled bool
	var steps sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT enabled, steps FROM flows WHERE slug = ?`, Welcome).Scan(&enabled, &steps); err != nil {
		return fmt.Errorf("flows: welcome: %w", err)
	}
	if !enabled {
		return nil
	}
	first := DefaultSteps(Welcome)[0].Delay
	if steps.Valid {
		var st []Step
		if err := json.Unmarshal([]byte(steps.String), &st); err != nil || len(st) == 0 {
			return fmt.Errorf("flows: welcome steps: %v", err)
		}
		first = st[0].Delay
	}
	due := tx.Now.Add(time.Duration(first)).Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, due_at, created_at, updated_at)
		VALUES (?, ?, '', ?, ?, ?) ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`,
		Welcome, subscriberID, due, tx.Now.Unix(), tx.Now.Unix())
	if err != nil {
		return fmt.Errorf("flows: welcome %d: %w", subscriberID, err)
	}
	return nil
}

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
		switch f.Slug {
		case CartAbandonment:
			n, err = e.enterCarts(ctx, f, now, &res)
		case Offers:
			n, err = e.startRound(ctx, f, now)
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

// offersRule loads the offers segment's rule (nil: the whole lists). An
// error is a *problem.
func (e *Engine) offersRule(ctx context.Context, f *flowRow) (*segments.Rule, error) {
	if f.SegmentID == nil || e.segs == nil {
		return nil, nil
	}
	seg, err := e.segs.Get(ctx, *f.SegmentID)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			err = fmt.Errorf("offers segment %d was deleted; choose another segment or none", *f.SegmentID)
		} else {
			err = fmt.Errorf("offers segment %d: %w", *f.SegmentID, err)
		}
		return nil, &problem{err}
	}
	return &seg.Rule, nil
}

// onLists is true when subscriber s is active on one of the lists in the
// JSON array parameter (Config.Lists): the flow mails are for those lists.
const onLists = `EXISTS (SELECT 1 FROM subscriptions AS sub WHERE sub.subscriber_id = s.id AND sub.status = 'active'
	  AND sub.list_id IN (SELECT l.id FROM lists AS l WHERE l.slug IN (SELECT value FROM json_each(?))))`

// enterCart starts a cart-abandonment run. Only subscribers with marketing
// consent enter (active, on one of Config.Lists).
const enterCart = `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, status, due_at, end_reason, created_at, updated_at)
	SELECT ?, s.id, ?, ?, ?, ?, ?, ? FROM subscribers AS s WHERE s.id = ? AND s.status = 'active'
	  AND ` + onLists + `
	ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`

// enterCarts starts a cart-abandonment run for each open cart with items
// whose wait (the first step's delay after its last update) ended since the
// last tick. A cart that already has a run is left alone (one series per cart).
func (e *Engine) enterCarts(ctx context.Context, f *flowRow, now time.Time, res *TickResult) (int, error) {
	wait := time.Duration(f.Steps[0].Delay)
	to := now.Add(-wait)
	from := f.enabledAt
	if f.cursorAt.Valid && f.cursorAt.Int64 > from.Unix() {
		from = time.Unix(f.cursorAt.Int64, 0).UTC()
	}
	if to.Before(from) {
		return 0, nil
	}
	entered := 0
	var afterAt time.Time
	afterID := ""
	for {
		var batch []events.DueCart
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			var err error
			batch, err = events.DueCarts(ctx, tx, from, to, afterAt, afterID, 500)
			if err != nil {
				return err
			}
			w := e.bind(tx)
			for _, c := range batch {
				// Ordered without naming the cart: nothing to remind of.
				if c.Ordered {
					continue
				}
				due := c.UpdatedAt.Add(wait)
				status, dueAt, reason := "active", any(due.Unix()), ""
				if now.Sub(due) > e.cfg.MaxLate {
					status, dueAt, reason = "ended", nil, EndLate
				}
				r, err := w.exec(ctx, enterCart, CartAbandonment, c.CartID, status, dueAt, reason, tx.Now.Unix(), tx.Now.Unix(), c.SubscriberID, e.listsJSON)
				if err != nil {
					return fmt.Errorf("flows: enter cart: %w", err)
				}
				if n, _ := r.RowsAffected(); n > 0 {
					entered++
					if reason == EndLate {
						res.Skipped++
					}
				}
			}
			if len(batch) < 500 {
				_, err = tx.ExecContext(ctx, `UPDATE flows SET cursor_at = ? WHERE slug = ?`, to.Unix(), CartAbandonment)
			}
			return err
		})
		if err != nil {
			return entered, err
		}
		if len(batch) < 500 {
			return entered, nil
		}
		afterAt, afterID = batch[len(batch)-1].UpdatedAt, batch[len(batch)-1].CartID
	}
}

// startRound starts an offers round when the cron is due: the schedule's next
// time after the last round (or after the flow was switched on) has come. The
// audience is snapshotted into runs keyed by the round, in one transaction
// that also moves last_round_at, guarded by its old value, so a double tick
// starts one round.
func (e *Engine) startRound(ctx context.Context, f *flowRow, now time.Time) (int, error) {
	if f.Cron == "" {
		return 0, nil
	}
	sched, err := cron.ParseStandard(f.Cron)
	if err != nil {
		return 0, &problem{fmt.Errorf("offers cron %q: %w", f.Cron, err)}
	}
	ref := f.enabledAt
	if f.lastRoundAt.Valid {
		ref = time.Unix(f.lastRoundAt.Int64, 0).UTC()
	}
	next := sched.Next(ref)
	if next.After(now) {
		return 0, nil
	}
	// Not started, last_round_at stays: the round is tried again next tick.
	rule, err := e.offersRule(ctx, f)
	if err != nil {
		return 0, err
	}
	where, args, err := segments.AudienceWhere(rule, e.cfg.Lists, now)
	if err != nil {
		return 0, &problem{fmt.Errorf("offers audience: %w", err)}
	}
	late := now.Sub(next) > e.cfg.MaxLate
	var n int64
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		var prev any
		if f.lastRoundAt.Valid {
			prev = f.lastRoundAt.Int64
		}
		r, err := tx.ExecContext(ctx, `UPDATE flows SET last_round_at = ?
			WHERE slug = ? AND (last_round_at = ? OR (last_round_at IS NULL AND ? IS NULL))`,
			now.Unix(), Offers, prev, prev)
		if err != nil {
			return err
		}
		if k, _ := r.RowsAffected(); k == 0 || late {
			return nil // another tick started it, or the round is too old to send
		}
		key := "round:" + strconv.FormatInt(now.Unix(), 10)
		q := `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, due_at, created_at, updated_at)
			SELECT ?, s.id, ?, ?, ?, ? FROM subscribers AS s WHERE ` + where + `
			ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`
		a := append([]any{Offers, key, now.Add(time.Duration(f.Steps[0].Delay)).Unix(), tx.Now.Unix(), tx.Now.Unix()}, args...)
		r, err = tx.ExecContext(ctx, q, a...)
		if err != nil {
			return err
		}
		n, _ = r.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("flows: offers round: %w", err)
	}
	if late {
		e.log.WarnContext(ctx, "offers round skipped: due too long ago", "due", next, "max_late", e.cfg.MaxLate)
	} else if n > 0 {
		e.log.InfoContext(ctx, "offers round started", "recipients", n)
	}
	return int(n), nil
}

type dueRun struct {
	id, sub int64
	flow    string
	trigger string
	step    int
	due     int64
	rc      recipient
}

// selectDue loads a batch of due runs with their subscribers in one query.
// The unary + keeps SQLite from reading the runs through the unique index
// on (flow, subscriber_id, trigger_key), which would visit every run of the
// flow ever started, done ones included, and sort them, once per batch; the
// partial index flow_runs_due holds only the active runs, in due order.
const selectDue = `SELECT r.id, r.subscriber_id, r.flow, r.trigger_key, r.step, r.due_at,
	coalesce(s.email, ''), coalesce(s.email_key, ''), coalesce(s.name, ''), coalesce(s.locale, ''),
	coalesce(s.attributes, ''), coalesce(s.status, ''),
	` + onLists + `
	FROM flow_runs AS r LEFT JOIN subscribers AS s ON s.id = r.subscriber_id
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
			append(append([]any{e.listsJSON, now.Unix()}, slugs...), e.cfg.Batch)...)
		if err != nil {
			return err
		}
		var runs []dueRun
		var keys []string
		for rows.Next() {
			var r dueRun
			var status, key string
			if err := rows.Scan(&r.id, &r.sub, &r.flow, &r.trigger, &r.step, &r.due,
				&r.rc.email, &key, &r.rc.name, &r.rc.locale, &r.rc.attrsJSON, &status, &r.rc.listed); err != nil {
				rows.Close()
				return err
			}
			if r.rc.active = status == "active"; r.rc.active && r.rc.listed {
				sum := sha256.Sum256([]byte(key))
				r.rc.hash = hex.EncodeToString(sum[:])
				keys = append(keys, r.rc.hash)
			}
			runs = append(runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		seen = len(runs)
		suppressed, err := suppressedHashes(ctx, tx, keys)
		if err != nil {
			return err
		}
		var refs []events.CartRef
		for _, r := range runs {
			if f := enabled[r.flow]; f.Slug == CartAbandonment && r.step < len(f.Steps) && r.rc.hash != "" && !suppressed[r.rc.hash] {
				refs = append(refs, events.CartRef{CartID: r.trigger, SubscriberID: r.sub})
			}
		}
		carts, err := events.CartChecks(ctx, tx, refs)
		if err != nil {
			return err
		}
		w := e.bind(tx)
		for i := range runs {
			r := &runs[i]
			r.rc.ok = r.rc.hash != "" && !suppressed[r.rc.hash]
			if err := e.advance(ctx, w, enabled[r.flow], r, carts, now, res, emptyPools); err != nil {
				return fmt.Errorf("flows: run %d: %w", r.id, err)
			}
		}
		return nil
	})
	for p := range emptyPools {
		e.log.WarnContext(ctx, "coupon pool empty: flow mails not sent", "pool", p)
	}
	return seen, err
}

// suppressedHashes returns which of the email hashes are suppressed.
func suppressedHashes(ctx context.Context, tx *store.Tx, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(hashes) == 0 {
		return out, nil
	}
	js, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT email_hash FROM suppressions WHERE email_hash IN (SELECT value FROM json_each(?))`, string(js))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out[h] = true
	}
	return out, rows.Err()
}

// recipient is what a run needs of its subscriber.
type recipient struct {
	email, name, locale string
	attrsJSON           string
	active, listed      bool
	hash                string // hex sha256 of email_key, set when active and listed
	ok                  bool   // active, active on one of Config.Lists, not suppressed
}

// attrs decodes the subscriber's attributes.
func (r *recipient) attrs() (map[string]any, error) {
	if r.attrsJSON == "" || r.attrsJSON == "{}" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.attrsJSON), &m); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	return m, nil
}

// advance checks a due run's conditions and sends its step, ends it, or
// reschedules it, all inside the batch's transaction.
func (e *Engine) advance(ctx context.Context, w *wtx, f *flowRow, r *dueRun, carts map[events.CartRef]events.CartCheck, now time.Time, res *TickResult, emptyPools map[string]bool) error {
	if r.step >= len(f.Steps) { // the flow lost steps since
		return e.finish(ctx, w, r, "done", "", nil, res)
	}
	rc := &r.rc
	if !rc.ok {
		return e.end(ctx, w, r, EndNotSubscribed, res)
	}
	var cart *templates.Cart
	if f.Slug == CartAbandonment {
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
	step := f.Steps[r.step]
	// A step due while Treu was down too long ago is skipped, not sent late.
	if now.Unix()-r.due > int64(e.cfg.MaxLate/time.Second) {
		moved, err := e.finishStep(ctx, w, f, r, "late", nil, "", res)
		if moved {
			res.Skipped++
		}
		return err
	}
	tpl, err := e.template(f, r.step, rc.locale)
	if err != nil {
		e.log.ErrorContext(ctx, "flow step does not compile", "flow", f.Slug, "step", r.step, "err", err)
		return e.end(ctx, w, r, EndRenderFailed, res)
	}
	attrs, err := rc.attrs()
	if err != nil {
		e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
		return e.end(ctx, w, r, EndRenderFailed, res)
	}
	data := &templates.Data{Email: rc.email, Name: rc.name, Locale: rc.locale, Attributes: attrs, Cart: cart}
	data.UnsubscribeURL, data.PreferencesURL = e.links.ManageURLs(r.sub)
	if step.CouponPool == "" {
		msg, err := e.compose(f, tpl, data, r.sub)
		if err != nil {
			e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
			return e.end(ctx, w, r, EndRenderFailed, res)
		}
		_, err = e.finishStep(ctx, w, f, r, "sent", msg, "", res)
		return err
	}
	return e.sendWithCoupon(ctx, w, f, r, step.CouponPool, tpl, data, res, emptyPools)
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
func (e *Engine) sendWithCoupon(ctx context.Context, w *wtx, f *flowRow, r *dueRun, pool string, tpl *templates.Template, data *templates.Data, res *TickResult, emptyPools map[string]bool) error {
	if _, err := w.exec(ctx, savepoint); err != nil {
		return err
	}
	// sent: the mail is queued and the code stays assigned. Otherwise the
	// savepoint is rolled back and the run ends for reason ("": another tick
	// moved it already, nothing to end).
	sent, reason, err := func() (bool, string, error) {
		var code string
		var err error
		if a, ok := e.pools.(assigner); ok {
			code, err = a.Assign(ctx, w.Tx, pool, r.sub) // *coupons.Service: prepared
		} else {
			code, err = coupons.Assign(ctx, w.Tx, pool, r.sub)
		}
		if errors.Is(err, coupons.ErrEmpty) || errs.Is(err, errs.NotFound) {
			emptyPools[pool] = true
			return false, EndCouponPoolEmpty, nil
		}
		if err != nil {
			return false, "", err
		}
		data.Coupon = code
		msg, err := e.compose(f, tpl, data, r.sub)
		if err != nil {
			e.log.ErrorContext(ctx, "flow mail not built", "flow", f.Slug, "step", r.step, "subscriber_id", r.sub, "err", err)
			return false, EndRenderFailed, nil
		}
		sent, err := e.finishStep(ctx, w, f, r, "sent", msg, code, res)
		return sent, "", err
	}()
	if err != nil {
		return err // the batch's transaction rolls back as a whole
	}
	if !sent {
		if _, err := w.exec(ctx, rollbackTo); err != nil {
			return err
		}
	}
	if _, err := w.exec(ctx, release); err != nil {
		return err
	}
	if reason == "" {
		return nil
	}
	return e.end(ctx, w, r, reason, res)
}

// compose renders the step for one recipient and checks the result as the
// queue will, so that one subscriber's values (a control character or 500
// characters in the subject, say) end that run rather than failing the batch.
func (e *Engine) compose(f *flowRow, tpl *templates.Template, data *templates.Data, sub int64) (*mailer.Message, error) {
	out, err := tpl.Render(data)
	if err != nil {
		return nil, err
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
func (e *Engine) finishStep(ctx context.Context, w *wtx, f *flowRow, r *dueRun, outcome string, msg *mailer.Message, code string, res *TickResult) (bool, error) {
	next := r.step + 1
	status, due := "done", any(nil)
	if next < len(f.Steps) {
		base := now(w.Tx)
		if outcome == "late" {
			base = r.due // keep the series' rhythm when catching up
		}
		status, due = "active", base+int64(time.Duration(f.Steps[next].Delay)/time.Second)
	}
	ok, err := e.move(ctx, w, r, next, status, due, "")
	if err != nil || !ok {
		return false, err
	}
	var mailID any
	if msg != nil {
		id, err := e.q.Enqueue(ctx, w.Tx, msg)
		if err != nil {
			return false, err
		}
		mailID = id
	}
	if _, err = w.exec(ctx, insertSend, r.id, f.Slug, r.step, r.sub, outcome, mailID, code, w.Now.Unix()); err != nil {
		return false, err
	}
	if outcome == "sent" {
		res.Sent++
	}
	return true, nil
}

const insertSend = `INSERT INTO flow_sends (run_id, flow, step, subscriber_id, outcome, mail_id, coupon, sent_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func now(tx *store.Tx) int64 { return tx.Now.Unix() }

func (e *Engine) end(ctx context.Context, w *wtx, r *dueRun, reason string, res *TickResult) error {
	ok, err := e.move(ctx, w, r, r.step, "ended", nil, reason)
	if ok {
		res.Ended++
	}
	return err
}

func (e *Engine) finish(ctx context.Context, w *wtx, r *dueRun, status, reason string, due any, res *TickResult) error {
	_, err := e.move(ctx, w, r, r.step, status, due, reason)
	return err
}

func (e *Engine) reschedule(ctx context.Context, w *wtx, r *dueRun, due int64) error {
	_, err := e.move(ctx, w, r, r.step, "active", due, "")
	return err
}

const moveRun = `UPDATE flow_runs SET step = ?, status = ?, due_at = ?, end_reason = ?, updated_at = ?
	WHERE id = ? AND step = ? AND status = 'active'`

// move is the single-transaction claim: it changes the run only if it is
// still active at the step it was read at.
func (e *Engine) move(ctx context.Context, w *wtx, r *dueRun, step int, status string, due any, reason string) (bool, error) {
	res, err := w.exec(ctx, moveRun, step, status, due, reason, w.Now.Unix(), r.id, r.step)
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
