package campaigns

import (
	"context"
	"time"

	"github.com/treu-mail/treu/store"
)

// recordLoop writes results as they come back: the first result of a batch
// waits at most FlushInterval (2 ms) for the others that arrive meanwhile,
// then all go in one transaction (or at once when BatchSize are there).
// Waiting a little is what keeps the commits few (one per ~2 ms, not one per
// mail); waiting long would widen what a kill -9 can send twice.
func (e *Engine) recordLoop(results <-chan result) {
	buf := make([]result, 0, e.cfg.BatchSize)
	tm := time.NewTimer(time.Hour)
	tm.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		e.record(buf)
		e.inflight.Add(-int64(len(buf)))
		buf = buf[:0]
		select {
		case e.freed <- struct{}{}:
		default:
		}
		e.poke()
	}
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				return
			}
			buf = append(buf, r)
			if len(buf) >= e.cfg.BatchSize {
				tm.Stop()
				flush()
			} else if len(buf) == 1 {
				tm.Reset(e.cfg.FlushInterval)
			}
		case <-tm.C:
			flush()
		}
	}
}

// recordSent is prepared once (Run): a batch is recorded every few
// milliseconds, and parsing the statement cost as much as running it.
const recordSent = `UPDATE deliveries SET status = 'sent', sent_at = ?, reply = NULL,
	lease_owner = NULL, lease_until = NULL WHERE id IN (SELECT value FROM json_each(?))`

// record writes one batch of results. It must not be lost: an error (the disk
// is full, say) is retried for a while; if it still fails the leases run out
// and those deliveries are sent again, which is the at-least-once fallback.
func (e *Engine) record(buf []result) {
	ctx := context.Background()
	var sent, release []int64
	for _, r := range buf {
		switch r.kind {
		case resSent:
			sent = append(sent, r.delivery)
		case resRelease:
			release = append(release, r.delivery)
		}
	}
	now := e.now()
	var err error
	for try := range 30 {
		err = e.db.Tx(ctx, func(tx *store.Tx) error {
			// Sent is the truth even if the campaign was cancelled meanwhile or
			// the lease was lost: the mail is out.
			if len(sent) > 0 {
				if _, err := tx.ExecCached(ctx, recordSent, now.Unix(), store.JSONInts(sent)); err != nil {
					return err
				}
			}
			// The rest only while this instance still holds the claim: a row that
			// Cancel marked cancelled stays cancelled.
			if len(release) > 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL
					WHERE id IN (SELECT value FROM json_each(?)) AND status = 'sending' AND lease_owner = ?`,
					store.JSONInts(release), e.cfg.Owner); err != nil {
					return err
				}
			}
			for _, r := range buf {
				var err error
				switch r.kind {
				case resFailed:
					_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', reply = ?, attempts = ?,
						lease_owner = NULL, lease_until = NULL WHERE id = ?`, r.reply, r.attempts+1, r.delivery)
					if err == nil && r.refused != nil && e.cfg.OnRefused != nil {
						err = e.cfg.OnRefused(ctx, tx, *r.refused)
					}
				case resHeld:
					// Held by the contact policy: due again when it allows;
					// not an attempt.
					_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?,
						lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
						r.until, r.delivery, e.cfg.Owner)
				case resSkipped:
					_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'skipped', reply = ?,
						lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
						r.reply, r.delivery, e.cfg.Owner)
				case resRetry:
					attempts := r.attempts + 1
					if attempts >= e.cfg.MaxAttempts {
						_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', reply = ?, attempts = ?,
							lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
							r.reply, attempts, r.delivery, e.cfg.Owner)
						break
					}
					_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', reply = ?, attempts = ?,
						next_attempt_at = ?, lease_owner = NULL, lease_until = NULL
						WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
						r.reply, attempts, now.Add(e.retryBackoff(attempts)).Unix(), r.delivery, e.cfg.Owner)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			e.countResults(buf)
			return
		}
		e.log.Error("record delivery results", "try", try+1, "err", err)
		time.Sleep(time.Second)
	}
	e.log.Error("delivery results lost; their leases will expire and they will be sent again", "count", len(buf), "err", err)
}

// countResults tells OnResult what a recorded batch did.
func (e *Engine) countResults(buf []result) {
	if e.cfg.OnResult == nil {
		return
	}
	var sent, retry, failed, skipped, capped, held int
	for _, r := range buf {
		switch r.kind {
		case resSent:
			sent++
		case resFailed:
			failed++
		case resSkipped:
			if r.reply == Capped {
				capped++
			} else {
				skipped++
			}
		case resHeld:
			held++
		case resRetry:
			if r.attempts+1 >= e.cfg.MaxAttempts {
				failed++ // the last attempt: recorded as failed
			} else {
				retry++
			}
		}
	}
	for _, c := range [...]struct {
		name string
		n    int
	}{{"sent", sent}, {"retry", retry}, {"failed", failed}, {"skipped", skipped}, {"capped", capped}, {"held", held}} {
		if c.n > 0 {
			e.cfg.OnResult(c.name, c.n)
		}
	}
}

// retryBackoff after the n-th temporary failure: RetryBackoff doubling, capped.
func (e *Engine) retryBackoff(n int) time.Duration {
	d := e.cfg.RetryBackoff
	for i := 1; i < n && d < e.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, e.cfg.MaxRetryBackoff)
}
