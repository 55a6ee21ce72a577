package flows

// The offers flow: on its cron (in the shop's zone) a round snapshots the
// audience (the offers segment on the flow's lists, under the marketing rule)
// into runs keyed by the round, each to get a unique coupon code.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

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
	// A schedule without CRON_TZ= reads its hours in the zone of the time it
	// is given: the shop's, so a round keeps its wall-clock hour across DST.
	next := sched.Next(ref.In(e.cfg.Location))
	if next.After(now) {
		return 0, nil
	}
	// Not started, last_round_at stays: the round is tried again next tick.
	rule, err := e.offersRule(ctx, f)
	if err != nil {
		return 0, err
	}
	where, args, err := segments.AudienceWhereFor(rule, subscribers.Mailing{Lists: e.cfg.Lists, ExistingCustomers: f.ExistingCustomers}, now)
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
			now.Unix(), f.Slug, prev, prev)
		if err != nil {
			return err
		}
		if k, _ := r.RowsAffected(); k == 0 || late {
			return nil // another tick started it, or the round is too old to send
		}
		// The flow's once per person and cool-down keep those who had a
		// recent round out of this one.
		key := "round:" + strconv.FormatInt(now.Unix(), 10)
		n, err = e.enterWhere(ctx, tx, &f.Flow, where, args, false, key, nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("flows: %s round: %w", f.Slug, err)
	}
	if late {
		e.log.WarnContext(ctx, "offers round skipped: due too long ago", "due", next, "max_late", e.cfg.MaxLate)
	} else if n > 0 {
		e.log.InfoContext(ctx, "offers round started", "recipients", n)
	}
	return int(n), nil
}
