package campaigns

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// run is a campaign this engine is sending, compiled once.
type run struct {
	id       int64
	stopped  atomic.Bool
	tmpl     *templates.Template
	pool     string            // coupon pool; "" for none
	lists    []string          // the campaign's list slugs
	existing bool              // may reach existing customers (subscribers.Mailing)
	listID   string            // List-Id header value
	headers  map[string]string // shared by all its messages; read-only
	links    *tracking.Links   // nil: links stay as written
	// variants of an A/B test, compiled (A first); nil: tmpl for everyone.
	variants []*templates.Template
	contact  string // ContactSkip, ContactWait or ContactIgnore

	nextSweep time.Time // when to look for expired leases again
	idleUntil time.Time // nothing due before this (unless poked)
}

// recipient is what a mail needs of a subscriber.
type recipient struct {
	ID                              int64
	Email, Name, Locale, Attributes string
	Coupon                          string // the code assigned to this delivery, if the campaign has a pool
	Tracking                        bool   // consented to per-person tracking (subscribers.tracking)
	ExistingCustomer                bool   // mailed as an existing customer: the footer has the objection notice
	Loyalty                         templates.Loyalty
}

type item struct {
	run      *run
	delivery int64
	attempts int
	variant  int // A/B test variant (abtest.go); -1: none
	rcpt     recipient
}

type resultKind uint8

const (
	resSent resultKind = iota
	resFailed
	resRetry   // temporary failure: pending again with next_attempt_at
	resRelease // not tried (pause, shutdown): pending again as it was
	resSkipped // not mailable any more (reply says why; "capped": the contact policy's cap)
	resHeld    // the contact policy holds it: pending again, due at until
)

type result struct {
	delivery int64
	kind     resultKind
	attempts int // failed attempts before this one
	reply    string
	refused  *Refusal // a 5xx: reported to Config.OnRefused when recorded
	until    int64    // resHeld: when the contact policy allows it
}

func (e *Engine) claimLoop(ctx context.Context, jobs chan<- *item, results chan<- result) {
	var (
		runs        []*run
		lastRefresh time.Time
	)
	for ctx.Err() == nil {
		poked := false
		select {
		case <-e.wake:
			poked = true
		default:
		}
		if poked || time.Since(lastRefresh) >= e.cfg.PollInterval {
			runs = e.refreshRuns(ctx)
			lastRefresh = time.Now()
			if poked {
				for _, r := range runs {
					r.idleUntil = time.Time{}
				}
			}
		}
		progressed := false
		next := time.Now().Add(e.cfg.PollInterval)
		for _, r := range runs {
			if r.stopped.Load() || time.Now().Before(r.idleUntil) {
				if r.idleUntil.Before(next) && !r.stopped.Load() {
					next = r.idleUntil
				}
				continue
			}
			if until, quiet := e.quiet(r); quiet {
				// Quiet hours: the campaign stays running and claims nothing
				// until they end (looked at again every PollInterval, so an
				// injected clock is followed).
				r.idleUntil = time.Now().Add(min(until.Sub(e.now()), e.cfg.PollInterval))
				if r.idleUntil.Before(next) {
					next = r.idleUntil
				}
				continue
			}
			if !e.waitCapacity(ctx) {
				return
			}
			items, done, err := e.claim(ctx, r)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("claim deliveries", "campaign_id", r.id, "err", err)
				}
				continue
			}
			for _, res := range done {
				results <- res // never blocks: results has room for every claim in flight
			}
			if len(items) == 0 && len(done) == 0 {
				r.idleUntil = e.idle(ctx, r)
				if r.idleUntil.Before(next) {
					next = r.idleUntil
				}
				continue
			}
			progressed = true
			for _, it := range items {
				jobs <- it
			}
		}
		if progressed {
			continue
		}
		tm := time.NewTimer(max(time.Until(next), time.Millisecond))
		select {
		case <-ctx.Done():
		case <-e.wake:
			e.poke() // handled at the top of the loop
		case <-tm.C:
		}
		tm.Stop()
	}
}

// waitCapacity blocks until a full batch fits into the in-flight bound, which
// bounds memory whatever the audience size.
func (e *Engine) waitCapacity(ctx context.Context) bool {
	for int(e.inflight.Load())+e.cfg.BatchSize > e.maxInflight {
		tm := time.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-e.freed:
		case <-tm.C:
		}
		tm.Stop()
		if ctx.Err() != nil {
			return false
		}
	}
	return ctx.Err() == nil
}

// refreshRuns returns the running campaigns, compiling new ones and stopping
// those paused, cancelled or finished meanwhile (here or by another instance).
func (e *Engine) refreshRuns(ctx context.Context) []*run {
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM campaigns WHERE status = 'running' ORDER BY id`)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("list running campaigns", "err", err)
		}
		return nil
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()

	e.mu.Lock()
	stoppedElsewhere := false
	for id, r := range e.runs {
		if !slices.Contains(ids, id) {
			r.stopped.Store(true)
			delete(e.runs, id)
			stoppedElsewhere = true
		}
	}
	var missing []int64
	for _, id := range ids {
		if e.runs[id] == nil {
			missing = append(missing, id)
		}
	}
	e.mu.Unlock()
	if stoppedElsewhere {
		e.changed()
	}
	for _, id := range missing {
		r, err := e.loadRun(ctx, id)
		if err != nil {
			// A campaign that cannot be rendered any more (its layout was changed
			// to something broken) is paused, not sent half-way.
			e.log.Error("campaign cannot be sent; pausing it", "campaign_id", id, "err", err)
			e.db.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'paused', updated_at = ? WHERE id = ? AND status = 'running'`, tx.Now.Unix(), id)
				return err
			})
			e.changed()
			continue
		}
		e.mu.Lock()
		e.runs[id] = r
		e.mu.Unlock()
	}
	e.mu.Lock()
	out := make([]*run, 0, len(e.runs))
	for _, r := range e.runs {
		out = append(out, r)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b *run) int { return int(a.id - b.id) })
	return out
}

func (e *Engine) loadRun(ctx context.Context, id int64) (*run, error) {
	var (
		name, subject, preheader, markdown, lists, pool, policy string
		layoutID                                                sql.NullInt64
		utm, existing                                           bool
	)
	err := e.db.QueryRowContext(ctx, `SELECT name, subject, preheader, markdown, lists, layout_id, coupon_pool, utm, contact_policy, existing_customers
		FROM campaigns WHERE id = ?`, id).
		Scan(&name, &subject, &preheader, &markdown, &lists, &layoutID, &pool, &utm, &policy, &existing)
	if err != nil {
		return nil, err
	}
	layout, err := e.layoutHTML(ctx, nullID(layoutID))
	if err != nil {
		return nil, err
	}
	src, err := e.sourceCtx(ctx, subject, preheader, markdown, layout)
	if err != nil {
		return nil, err
	}
	tmpl, err := templates.Compile(src)
	if err != nil {
		return nil, err
	}
	variants, err := e.loadVariants(ctx, id, layout)
	if err != nil {
		return nil, err
	}
	var slugs []string
	json.Unmarshal([]byte(lists), &slugs)
	first := DefaultList
	if len(slugs) > 0 {
		first = slugs[0]
	}
	r := &run{
		id:       id,
		tmpl:     tmpl,
		variants: variants,
		pool:     pool,
		lists:    slugs,
		listID:   e.listID(first),
		headers:  e.headers(id),
		contact:  policy,
		existing: existing,
	}
	if e.cfg.Tracking != nil {
		r.links = e.cfg.Tracking.Links(tracking.CampaignMail(id, name, utm))
	}
	return r, nil
}

// headers are the extra headers of every mail of campaign id: its id, and
// the Feedback-ID Gmail's feedback loop reports complaint rates by.
func (e *Engine) headers(id int64) map[string]string {
	sender := e.cfg.FeedbackSender
	if sender == "" {
		sender = "localhost"
		if u, err := url.Parse(e.cfg.BaseURL); err == nil && u.Hostname() != "" {
			sender = u.Hostname()
		}
	}
	return map[string]string{
		"X-Treu-Campaign": strconv.FormatInt(id, 10),
		"Feedback-ID":     strconv.FormatInt(id, 10) + ":campaign:" + sender,
	}
}

// listID is the List-Id of mail for a list: "<slug>.<host of BaseURL>"
// (RFC 2919 wants a unique, stable dotted name; the instance's host is ours).
func (e *Engine) listID(slug string) string {
	host := "localhost"
	if u, err := url.Parse(e.cfg.BaseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return slug + "." + host
}

// claim takes up to BatchSize due deliveries of r for this instance, with a
// lease, and loads their recipients. The claim is one UPDATE ... RETURNING on
// deliveries_claim, so instances sharing the database never take the same row.
// Deliveries that need no sending (skipped, or handed back because their
// recipients could not be loaded) come back as results.
func (e *Engine) claim(ctx context.Context, r *run) ([]*item, []result, error) {
	now := e.now()
	type claimed struct {
		id, sub  int64
		attempts int
		coupon   sql.NullString
		variant  int
	}
	var got []claimed
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		got = got[:0]
		if !now.Before(r.nextSweep) {
			// Leases of a crashed or stopped instance: their deliveries are due again.
			// Never our own: a stalled writer must not re-queue mail this process
			// still has in flight (a restarted process has a new owner).
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL
				WHERE campaign_id = ? AND status = 'sending' AND lease_until < ? AND lease_owner <> ?`,
				r.id, now.Unix(), e.cfg.Owner); err != nil {
				return err
			}
			r.nextSweep = now.Add(e.cfg.Lease / 2)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET status = 'sending', lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM deliveries
				WHERE campaign_id = ? AND status = 'pending' AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			AND EXISTS (SELECT 1 FROM campaigns WHERE id = ? AND status = 'running')
			RETURNING id, subscriber_id, attempts, coupon,
				coalesce(variant, (SELECT winner FROM campaign_ab WHERE campaign_id = ?), -1)`,
			e.cfg.Owner, now.Add(e.cfg.Lease).Unix(), r.id, now.Unix(), e.cfg.BatchSize, r.id, r.id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			if err := rows.Scan(&c.id, &c.sub, &c.attempts, &c.coupon, &c.variant); err != nil {
				return err
			}
			got = append(got, c)
		}
		return rows.Err()
	})
	if err != nil || len(got) == 0 {
		return nil, nil, err
	}
	e.inflight.Add(int64(len(got)))
	slices.SortFunc(got, func(a, b claimed) int { return int(a.id - b.id) })

	subs := make([]int64, len(got))
	for i, c := range got {
		subs[i] = c.sub
	}
	// The send may take hours: an unsubscribe, a bounce or an erasure in the
	// meantime is honoured by checking the marketing rule again per batch.
	rcpts, err := subscribers.RecipientsFor(ctx, e.db, subs, subscribers.Mailing{Lists: r.lists, ExistingCustomers: r.existing})
	if err != nil {
		// Hand the batch back; it is claimed again on a later round.
		done := make([]result, len(got))
		for i, c := range got {
			done[i] = result{delivery: c.id, kind: resRelease}
		}
		e.log.Error("load recipients; batch handed back", "campaign_id", r.id, "err", err)
		return nil, done, nil
	}
	items := make([]*item, 0, len(got))
	var done []result
	for _, c := range got {
		rc, ok := rcpts[c.sub]
		if !ok || !rc.May() {
			reason := rc.Skip
			if !ok {
				reason = "erased"
			}
			done = append(done, result{delivery: c.id, kind: resSkipped, reply: reason})
			continue
		}
		items = append(items, &item{run: r, delivery: c.id, attempts: c.attempts, variant: c.variant,
			rcpt: recipient{ID: rc.ID, Email: rc.Email, Name: rc.Name, Locale: rc.Locale, Attributes: rc.Attributes, Tracking: rc.Tracking,
				Coupon: c.coupon.String, ExistingCustomer: rc.ExistingCustomer()}})
	}
	if e.cfg.Loyalty != nil && r.tmpl.UsesLoyalty() && len(items) > 0 {
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.rcpt.ID
		}
		ls, err := e.cfg.Loyalty(ctx, ids)
		if err != nil {
			for _, it := range items {
				done = append(done, result{delivery: it.delivery, kind: resRelease})
			}
			e.log.Error("load points; batch handed back", "campaign_id", r.id, "err", err)
			return nil, done, nil
		}
		for _, it := range items {
			it.rcpt.Loyalty = ls[it.rcpt.ID]
		}
	}
	if e.cfg.Contact != nil && len(items) > 0 {
		var held []result
		items, held, err = e.checkContact(ctx, r, items, now)
		if err != nil {
			done := done[:0:0]
			for _, c := range got {
				done = append(done, result{delivery: c.id, kind: resRelease})
			}
			e.log.Error("contact policy check; batch handed back", "campaign_id", r.id, "err", err)
			return nil, done, nil
		}
		done = append(done, held...)
	}
	if r.pool != "" {
		var released []result
		items, released = e.assignCoupons(ctx, r, items)
		done = append(done, released...)
	}
	return items, done, nil
}

// idle is called when r had nothing due: it finishes r if nothing is left, and
// otherwise says when to look again (the next retry, or a lease to expire).
func (e *Engine) idle(ctx context.Context, r *run) time.Time {
	var done bool
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'finished', finished_at = ?, updated_at = ?
			WHERE id = ? AND status = 'running' AND snapshot_upto IS NULL
			AND NOT EXISTS (SELECT 1 FROM deliveries WHERE campaign_id = ? AND status IN ('pending', 'sending'))`,
			tx.Now.Unix(), tx.Now.Unix(), r.id, r.id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		done = n > 0
		if done && e.cfg.OnFinished != nil {
			return e.cfg.OnFinished(ctx, tx, r.id)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("finish campaign", "campaign_id", r.id, "err", err)
		}
		return time.Now().Add(e.cfg.PollInterval)
	}
	if done {
		e.log.Info("campaign finished", "campaign_id", r.id)
		e.stopRun(r.id)
		e.changed()
		return time.Time{}
	}
	// Look again at the next retry time or when another owner's lease runs out
	// (then sweep it), and at least every PollInterval.
	var nextAttempt, leaseEnd sql.NullInt64
	e.db.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM deliveries WHERE campaign_id = ? AND status = 'pending'`, r.id).Scan(&nextAttempt)
	e.db.QueryRowContext(ctx, `SELECT min(lease_until) FROM deliveries WHERE campaign_id = ? AND status = 'sending' AND lease_owner <> ?`, r.id, e.cfg.Owner).Scan(&leaseEnd)
	wait := e.cfg.PollInterval
	now := e.now()
	if nextAttempt.Valid {
		wait = min(wait, max(time.Unix(nextAttempt.Int64, 0).Sub(now), 0))
	}
	if leaseEnd.Valid {
		at := time.Unix(leaseEnd.Int64+1, 0) // expired once lease_until < now
		r.nextSweep = at
		wait = min(wait, max(at.Sub(now), 0))
	}
	return time.Now().Add(wait)
}

// quiet reports whether r must not claim now because of the contact
// policy's quiet hours, and until when.
func (e *Engine) quiet(r *run) (time.Time, bool) {
	if e.cfg.Contact == nil || r.contact == ContactIgnore {
		return time.Time{}, false
	}
	return e.cfg.Contact.QuietUntil(e.now())
}

// checkContact applies the contact policy to a claimed batch in one write
// transaction (one query for the batch): recipients over the cap are
// skipped as "capped" or held until allowed, per r.contact; the rest are
// logged as contacted, so that another campaign or a flow sending at the same
// time sees them. A recipient this campaign logged before (a retry, a resume)
// goes through and is not counted again. It runs before coupons are
// assigned, so a capped recipient takes no code.
func (e *Engine) checkContact(ctx context.Context, r *run, items []*item, now time.Time) ([]*item, []result, error) {
	var (
		keep []*item
		held []result
	)
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		keep, held = keep[:0], held[:0]
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.rcpt.ID
		}
		b, err := e.cfg.Contact.Check(ctx, tx, ids, now, r.id)
		if err != nil {
			return err
		}
		for _, it := range items {
			if r.contact != ContactIgnore {
				if until, h := b.Held(it.rcpt.ID); h {
					if r.contact == ContactWait {
						held = append(held, result{delivery: it.delivery, kind: resHeld, until: until.Unix()})
					} else {
						held = append(held, result{delivery: it.delivery, kind: resSkipped, reply: Capped})
					}
					continue
				}
			}
			b.Take(it.rcpt.ID)
			keep = append(keep, it)
		}
		return b.Record(ctx, tx)
	})
	if err != nil {
		return nil, nil, err
	}
	return keep, held, nil
}

// Capped is the reply of a delivery skipped because of the contact
// policy's frequency cap (counted as Stats.Capped).
const Capped = "capped"
