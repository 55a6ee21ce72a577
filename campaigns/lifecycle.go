package campaigns

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// Start sends a draft campaign: now (the status is running and the audience is
// snapshotted in this call, in short chunks: snapshot.go), or at its send_at, or, with a cron expression,
// at each occurrence (status scheduled until then).
func (e *Engine) Start(ctx context.Context, id int64) (Campaign, error) {
	began := false
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		var (
			st     Status
			sendAt sql.NullInt64
			spec   string
		)
		err := tx.QueryRowContext(ctx, `SELECT status, send_at, cron FROM campaigns WHERE id = ?`, id).Scan(&st, &sendAt, &spec)
		if err == sql.ErrNoRows {
			return errs.NotFoundf("campaign %d not found", id)
		}
		if err != nil {
			return err
		}
		if st != Draft {
			return errs.Conflictf("campaign %d is %s; only a draft can be started", id, st)
		}
		if spec != "" || (sendAt.Valid && sendAt.Int64 > tx.Now.Unix()) {
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'scheduled', updated_at = ? WHERE id = ?`, tx.Now.Unix(), id); err != nil {
				return err
			}
			return e.schedule(ctx, tx, id, nullTime(sendAt), spec)
		}
		began = true
		return e.begin(ctx, tx, id)
	})
	if err != nil {
		return Campaign{}, wrap("start", id, err)
	}
	e.changed()
	if began {
		// The engine starts sending with the first chunk; Start answers with
		// the whole audience. A client that gives up does not stop the copy.
		if err := e.snapshot(context.WithoutCancel(ctx), id, e.now()); err != nil {
			return Campaign{}, err
		}
	}
	return e.Get(ctx, id)
}

// schedule sets next_run_at of a recurring campaign: its first occurrence not
// before send_at (if any) and not before now.
func (e *Engine) schedule(ctx context.Context, tx *store.Tx, id int64, sendAt *time.Time, spec string) error {
	if spec == "" {
		_, err := tx.ExecContext(ctx, `UPDATE campaigns SET next_run_at = NULL WHERE id = ?`, id)
		return err
	}
	sched, err := e.parseCron(spec)
	if err != nil {
		return errs.Invalidf("cron", "cron: %v", err)
	}
	from := e.now()
	if sendAt != nil && sendAt.After(from) {
		from = sendAt.Add(-time.Second) // Next is strictly after its argument
	}
	_, err = tx.ExecContext(ctx, `UPDATE campaigns SET next_run_at = ? WHERE id = ?`, sched.Next(from).Unix(), id)
	return err
}

// begin moves campaign id to running; its audience is copied into deliveries
// by snapshot after the caller's transaction commits (snapshot.go), in
// chunks, so the writer is never held for the whole audience.
func (e *Engine) begin(ctx context.Context, tx *store.Tx, id int64) error {
	var (
		lists     string
		segmentID sql.NullInt64
		existing  bool
	)
	if err := tx.QueryRowContext(ctx, `SELECT lists, segment_id, existing_customers FROM campaigns WHERE id = ?`, id).Scan(&lists, &segmentID, &existing); err != nil {
		return err
	}
	// A broken audience (a deleted segment, bad lists) fails the start here,
	// not later in the copy.
	if _, _, err := e.audienceWhere(ctx, lists, nullID(segmentID), existing); err != nil {
		return err
	}
	return e.markStarted(ctx, tx, id)
}

// audienceWhere is the SQL condition over subscribers s for a campaign's
// recipients; segments.AudienceWhere is the one definition of an audience
// (active, active on one of the lists, in the segment, not suppressed), shared
// with the segment counts the marketer sees.
func (e *Engine) audienceWhere(ctx context.Context, lists string, segmentID *int64, existingCustomers bool) (string, []any, error) {
	var slugs []string
	if err := json.Unmarshal([]byte(lists), &slugs); err != nil {
		return "", nil, fmt.Errorf("lists: %w", err)
	}
	if len(slugs) == 0 {
		slugs = []string{DefaultList}
	}
	var rule *segments.Rule
	if segmentID != nil {
		seg, err := e.segs.Get(ctx, *segmentID)
		if err != nil {
			return "", nil, err
		}
		rule = &seg.Rule
	}
	return segments.AudienceWhereFor(rule, subscribers.Mailing{Lists: slugs, ExistingCustomers: existingCustomers}, e.now())
}

// Pause stops sending within a second; Resume continues where it stopped.
// Pausing a scheduled (e.g. recurring) campaign holds its occurrences.
func (e *Engine) Pause(ctx context.Context, id int64) (Campaign, error) {
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := statusOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if st == Paused {
			return nil
		}
		if st != Running && st != Scheduled {
			return errs.Conflictf("campaign %d is %s; only a running or scheduled campaign can be paused", id, st)
		}
		_, err = tx.ExecContext(ctx, `UPDATE campaigns SET status = 'paused', updated_at = ? WHERE id = ?`, tx.Now.Unix(), id)
		return err
	})
	if err != nil {
		return Campaign{}, wrap("pause", id, err)
	}
	e.stopRun(id)
	e.changed()
	return e.Get(ctx, id)
}

// Resume continues a paused campaign: sending again if its audience was
// snapshotted, scheduled otherwise.
func (e *Engine) Resume(ctx context.Context, id int64) (Campaign, error) {
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		var (
			st      Status
			started sql.NullInt64
			sendAt  sql.NullInt64
			spec    string
		)
		err := tx.QueryRowContext(ctx, `SELECT status, started_at, send_at, cron FROM campaigns WHERE id = ?`, id).Scan(&st, &started, &sendAt, &spec)
		if err == sql.ErrNoRows {
			return errs.NotFoundf("campaign %d not found", id)
		}
		if err != nil {
			return err
		}
		if st == Running {
			return nil
		}
		if st != Paused {
			return errs.Conflictf("campaign %d is %s; only a paused campaign can be resumed", id, st)
		}
		if started.Valid {
			_, err = tx.ExecContext(ctx, `UPDATE campaigns SET status = 'running', updated_at = ? WHERE id = ?`, tx.Now.Unix(), id)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'scheduled', updated_at = ? WHERE id = ?`, tx.Now.Unix(), id); err != nil {
			return err
		}
		// Occurrences missed while paused are skipped, not sent in a burst.
		return e.schedule(ctx, tx, id, nullTime(sendAt), spec)
	})
	if err != nil {
		return Campaign{}, wrap("resume", id, err)
	}
	e.changed()
	return e.Get(ctx, id)
}

// Cancel ends a campaign for good: deliveries not yet sent are cancelled.
// Mails already handed to the SMTP server at this moment still count as sent.
func (e *Engine) Cancel(ctx context.Context, id int64) (Campaign, error) {
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := statusOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if st == Cancelled {
			return nil
		}
		if st == Finished || st == Draft {
			return errs.Conflictf("campaign %d is %s; there is nothing to cancel", id, st)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'cancelled', finished_at = ?, next_run_at = NULL, updated_at = ? WHERE id = ?`,
			tx.Now.Unix(), tx.Now.Unix(), id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'cancelled', lease_owner = NULL, lease_until = NULL
			WHERE campaign_id = ? AND status IN ('pending', 'sending')`, id)
		return err
	})
	if err != nil {
		return Campaign{}, wrap("cancel", id, err)
	}
	e.stopRun(id)
	e.changed()
	return e.Get(ctx, id)
}

// Tick starts what is due at now: scheduled one-off campaigns whose send_at
// has come, and one child send per recurring campaign whose next occurrence
// has come. The caller's scheduler calls it (cmd/treu, every --flow-tick);
// tests call it with a fake time. Safe to call from several instances: each
// start is a conditional update, so an occurrence is sent once.
func (e *Engine) Tick(ctx context.Context, now time.Time) error {
	type due struct {
		id   int64
		spec string
		next int64
	}
	rows, err := e.db.QueryContext(ctx, `SELECT id, cron, coalesce(next_run_at, 0) FROM campaigns
		WHERE status = 'scheduled' AND ((cron = '' AND send_at <= ?1) OR (cron <> '' AND next_run_at <= ?1))
		ORDER BY id`, now.Unix())
	if err != nil {
		return fmt.Errorf("campaigns: tick: %w", err)
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.spec, &d.next); err != nil {
			rows.Close()
			return fmt.Errorf("campaigns: tick: %w", err)
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("campaigns: tick: %w", err)
	}
	started := false
	for _, d := range list {
		var err error
		if d.spec == "" {
			err = e.db.Tx(ctx, func(tx *store.Tx) error {
				st, err := statusOf(ctx, tx, d.id)
				if err != nil || st != Scheduled {
					return err // someone else started, paused or cancelled it meanwhile
				}
				return e.begin(ctx, tx, d.id)
			})
		} else {
			err = e.db.Tx(ctx, func(tx *store.Tx) error { return e.spawn(ctx, tx, d.id, d.spec, d.next, now) })
		}
		if err != nil {
			// One broken campaign must not hold up the others; the next tick retries.
			e.log.ErrorContext(ctx, "campaign start failed", "campaign_id", d.id, "err", err)
			continue
		}
		started = true
	}
	if started {
		e.changed()
	}
	// A/B tests whose wait is over choose their winner.
	if _, err := e.abTick(ctx, now); err != nil {
		return err
	}
	// Copies of the starts above, and of starts whose process died mid-copy.
	return e.resumeSnapshots(ctx, now)
}

// spawn makes one child send of recurring campaign parent for the occurrence
// at next, and moves the parent to its following occurrence after now.
// Occurrences missed while the server was down are folded into this one.
func (e *Engine) spawn(ctx context.Context, tx *store.Tx, parent int64, spec string, next int64, now time.Time) error {
	sched, err := e.parseCron(spec)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE campaigns SET next_run_at = ?, updated_at = ?
		WHERE id = ? AND status = 'scheduled' AND next_run_at = ?`, sched.Next(now).Unix(), tx.Now.Unix(), parent, next)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // another instance took this occurrence
	}
	occurrence := time.Unix(next, 0).In(e.location())
	var child int64
	err = tx.QueryRowContext(ctx, `INSERT INTO campaigns
		(name, subject, preheader, markdown, lists, segment_id, layout_id, send_at, cron, parent_id, status, created_at, updated_at, coupon_pool, utm, contact_policy, existing_customers)
		SELECT name || ' (' || ? || ')', subject, preheader, markdown, lists, segment_id, layout_id, ?, '', id, 'draft', ?, ?, coupon_pool, utm, contact_policy, existing_customers
		FROM campaigns WHERE id = ? RETURNING id`,
		occurrence.Format("2006-01-02 15:04"), next, tx.Now.Unix(), tx.Now.Unix(), parent).Scan(&child)
	if err != nil {
		return err
	}
	if err := copyAB(ctx, tx, parent, child); err != nil {
		return err
	}
	return e.begin(ctx, tx, child)
}

func (e *Engine) location() *time.Location {
	if e.cfg.Location != nil {
		return e.cfg.Location
	}
	return time.UTC
}
