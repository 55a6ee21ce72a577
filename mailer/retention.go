package mailer

import (
	"context"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
)

// pruneBatch bounds one delete transaction, so pruning a large backlog never
// holds the writer for long.
const pruneBatch = 2000

// Prune deletes the queue rows that are done (sent, or failed for good) and
// older than keep at now: they hold the recipient's address and, for failed
// mail, the message. Queued mail is never pruned. The scheduler calls it with
// its clock; it returns how many rows went.
func (q *Queue) Prune(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := now.Add(-keep).Unix()
	return pruneLoop(ctx, q.db, "mail queue",
		// mail_queue_sent: only rows with a sent_at, in order.
		[]string{`DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue WHERE sent_at < ?1 LIMIT ?2)`,
			`DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue WHERE status = 'failed' AND created_at < ?1 LIMIT ?2)`},
		cutoff)
}

// Prune deletes mail captured more than keep before now.
func (o *Outbox) Prune(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	// Ids grow with time: walk the oldest rows by id and stop at the first
	// batch with none old enough, without an index on created_at.
	return pruneLoop(ctx, o.db, "outbox",
		[]string{`DELETE FROM outbox WHERE created_at < ?1 AND id IN (SELECT id FROM outbox ORDER BY id LIMIT ?2)`},
		now.Add(-keep).Unix())
}

func pruneLoop(ctx context.Context, db *store.DB, what string, queries []string, cutoff int64) (int64, error) {
	var total int64
	for _, q := range queries {
		for {
			var n int64
			err := db.Tx(ctx, func(tx *store.Tx) error {
				res, err := tx.ExecContext(ctx, q, cutoff, pruneBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("mailer: prune %s: %w", what, err)
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}
