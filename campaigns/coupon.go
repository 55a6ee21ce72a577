package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
)

// Pools checks that a coupon pool exists. *coupons.Service is one.
type Pools interface {
	Exists(ctx context.Context, slug string) (bool, error)
}

// checkCouponPool refuses a mail that prints {{ .Coupon }} without a pool to
// take codes from (it would go out with an empty code), and a pool that does
// not exist. It returns the pool's slug trimmed.
func (e *Engine) checkCouponPool(ctx context.Context, pool string, tmpl *templates.Template) (string, error) {
	pool = strings.TrimSpace(pool)
	if pool == "" {
		if tmpl.UsesCoupon() {
			return "", errs.Invalidf("coupon_pool", "the mail uses {{ .Coupon }}: choose the coupon pool its codes come from")
		}
		return "", nil
	}
	if e.cfg.Pools == nil {
		return "", errs.Invalidf("coupon_pool", "coupon pools are not available")
	}
	ok, err := e.cfg.Pools.Exists(ctx, pool)
	if err != nil {
		return "", fmt.Errorf("campaigns: coupon pool: %w", err)
	}
	if !ok {
		return "", errs.Invalidf("coupon_pool", "coupon pool %q does not exist", pool)
	}
	return pool, nil
}

// assignCoupons gives each claimed delivery without a code one code of the
// run's pool and keeps it on the delivery, in one transaction, so a resumed
// send mails the same code. Deliveries of recipients who are skipped never
// reach here, so no code is spent on them. When the pool runs dry the
// deliveries left without a code are handed back and the campaign is
// paused: nobody gets the mail with an empty code, and once codes are added
// the marketer resumes it.
func (e *Engine) assignCoupons(ctx context.Context, r *run, items []*item) ([]*item, []result) {
	kept := items[:0:0]
	var released []result
	empty := false
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		kept, released, empty = kept[:0], released[:0], false
		for _, it := range items {
			if it.rcpt.Coupon != "" {
				kept = append(kept, it)
				continue
			}
			if empty {
				released = append(released, result{delivery: it.delivery, kind: resRelease})
				continue
			}
			code, err := coupons.Assign(ctx, tx, r.pool, it.rcpt.ID)
			if errors.Is(err, coupons.ErrEmpty) || errs.Is(err, errs.NotFound) {
				empty = true
				released = append(released, result{delivery: it.delivery, kind: resRelease})
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET coupon = ? WHERE id = ?`, code, it.delivery); err != nil {
				return err
			}
			it.rcpt.Coupon = code
			kept = append(kept, it)
		}
		return nil
	})
	if err != nil {
		// Hand the whole batch back; it is claimed again on a later round.
		e.log.Error("assign coupons; batch handed back", "campaign_id", r.id, "err", err)
		out := make([]result, len(items))
		for i, it := range items {
			it.rcpt.Coupon = ""
			out[i] = result{delivery: it.delivery, kind: resRelease}
		}
		return nil, out
	}
	if empty {
		e.log.Warn("coupon pool empty: campaign paused", "campaign_id", r.id, "pool", r.pool)
		if _, err := e.Pause(ctx, r.id); err != nil && !errs.Is(err, errs.Conflict) {
			e.log.Error("pause campaign", "campaign_id", r.id, "err", err)
		}
	}
	return kept, released
}
