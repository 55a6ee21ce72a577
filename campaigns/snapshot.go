package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/store"
)

// The chunked audience snapshot. A start used to copy the whole audience in
// one INSERT ... SELECT inside the start's transaction: at 1,000,000
// subscribers that held the one writer for seconds, and every enrollment
// waited behind it. Now a start is two steps:
//
//  1. markStarted, inside the start's transaction: the campaign is running,
//     its audience 0, snapshot_upto the highest subscriber id at this moment.
//  2. snapshot, after that commit: ONE read statement on the read pool streams
//     the ids of the audience (segments.AudienceWhere, ids <= snapshot_upto);
//     the first SnapshotChunk of them is written to deliveries at once, the
//     rest once the read is closed, each chunk in a write transaction of its
//     own (about snapshotHold), which also adds to audience. The
//     engine is told after the first chunk, so the first mail leaves while the
//     rest is still being copied; the campaign cannot finish before the copy
//     is complete (snapshot_upto is NULL again).
//
// Exactly who matched at the start: a single SELECT in SQLite's WAL mode reads
// one consistent snapshot of the database however long it streams, so the
// audience is the set of people who matched at the instant the read began
// (milliseconds after the start committed), whatever is written meanwhile.
// People who enroll during the start have ids above snapshot_upto and are not
// taken (they wait for the next campaign), even once confirmed. People who
// unsubscribe, are suppressed or erased during the start were in the read's
// snapshot and get a delivery row, which the per-batch check
// (subscribers.Recipients in claim) skips with the reason, as for anyone who
// leaves during a send.
//
// An A/B test's variants are assigned as the rows are copied (abAssign: by
// the row's place in the scan); only an audience too small for one test
// recipient per variant is fixed up by the last chunk (abSmall).
//
// Pause during the copy pauses sending, not the copy. Cancel stops the copy at
// the next chunk; deliveries already written are cancelled by Cancel.
//
// A crash during the copy: the campaign stays running with snapshot_upto set
// and an expiring lease (snapshot_until, renewed per chunk). Tick, on this or
// another instance, takes the copy over once the lease ran out and reads the
// audience again (ids <= snapshot_upto, as of that read), adding only the
// missing rows (INSERT OR IGNORE on deliveries_recipient): nobody gets two
// deliveries, and the audience is then who matched at the resume.

// SnapshotChunk is how many delivery rows the first write transaction of a
// start adds. Later chunks adapt so that one holds the writer for about
// snapshotHold: halved when a chunk took longer than twice that (a loaded
// machine), doubled up to snapshotMaxChunk when it took less than half. An
// enrollment waits behind at most one chunk.
const SnapshotChunk = 2000

// The floor matters as much as the target: each chunk is a commit, and while
// the read is open the WAL cannot be checkpointed past its start, so many
// tiny commits pile up frames that every later page look-up searches (at
// 100 rows a chunk a 1M start took minutes on a loaded machine).
const (
	snapshotHold     = 10 * time.Millisecond
	snapshotMinChunk = 1000
	snapshotMaxChunk = 10000
)

// snapshotLease is how long a copy may go without progress before another
// process takes it over.
const snapshotLease = time.Minute

// snapshotHook, if set (tests only), runs after each chunk's commit with the
// rows copied so far; returning false stops the copy there as a crash would.
var snapshotHook func(id, copied int64) bool

// markStarted moves campaign id to running with an empty audience still to be
// copied by snapshot (after the caller's transaction commits).
func (e *Engine) markStarted(ctx context.Context, tx *store.Tx, id int64) error {
	var upto sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM subscribers`).Scan(&upto); err != nil {
		return fmt.Errorf("snapshot audience: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'running', audience = 0, started_at = ?, finished_at = NULL,
		snapshot_upto = ?, snapshot_until = NULL, updated_at = ? WHERE id = ?`,
		tx.Now.Unix(), upto.Int64, tx.Now.Unix(), id)
	return err
}

// snapshot copies the audience of campaign id in chunks if its copy is due
// and nobody else holds it at now (see the comment above). It returns once the
// copy is complete or stopped (cancelled, ctx done).
func (e *Engine) snapshot(ctx context.Context, id int64, now time.Time) error {
	var (
		lists     string
		segmentID sql.NullInt64
		upto      int64
		took      bool
		existing  bool
		// An A/B test's split (abtest.go): each row's variant is decided
		// by its place in the scan, so the chunks assign as they copy.
		ab                  bool
		abShare, abVariants int64
	)
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET snapshot_until = ?
			WHERE id = ? AND snapshot_upto IS NOT NULL AND status IN ('running', 'paused')
			AND (snapshot_until IS NULL OR snapshot_until < ?)`,
			now.Add(snapshotLease).Unix(), id, now.Unix())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		took = true
		if err := tx.QueryRowContext(ctx, `SELECT lists, segment_id, snapshot_upto, existing_customers FROM campaigns WHERE id = ?`, id).
			Scan(&lists, &segmentID, &upto, &existing); err != nil {
			return err
		}
		abShare, abVariants, ab, err = abPlan(ctx, tx, id)
		return err
	})
	if err != nil || !took {
		return wrap("snapshot", id, err)
	}
	where, args, err := e.audienceWhere(ctx, lists, nullID(segmentID), existing)
	if err != nil {
		return wrap("snapshot", id, err)
	}
	t0 := time.Now()
	// No ORDER BY (see the note in the old begin): SQLite scans subscribers in
	// rowid order by itself, and ORDER BY s.id makes it pick a quadratic plan.
	rows, err := e.db.QueryContext(ctx, `SELECT s.id FROM subscribers s WHERE s.id <= ? AND `+where, append([]any{upto}, args...)...)
	if err != nil {
		return wrap("snapshot", id, fmt.Errorf("read audience: %w", err))
	}
	defer rows.Close()
	var (
		size    = SnapshotChunk
		chunk   = make([]int64, 0, snapshotMaxChunk)
		total   int64
		slowest time.Duration
		holdSum time.Duration
		chunks  int
		first   = true
		rn      int64 // rows read so far: the place in the scan A/B assignment goes by
	)
	flush := func(last bool) (bool, error) {
		var (
			goOn bool
			w0   time.Time
		)
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			w0 = time.Now() // the writer is ours from here to the commit
			var st Status
			if err := tx.QueryRowContext(ctx, `SELECT status FROM campaigns WHERE id = ?`, id).Scan(&st); err != nil {
				return err
			}
			if st != Running && st != Paused {
				// Cancelled meanwhile: no more rows; the copy is over.
				_, err := tx.ExecContext(ctx, `UPDATE campaigns SET snapshot_upto = NULL, snapshot_until = NULL WHERE id = ?`, id)
				return err
			}
			goOn = true
			var n int64
			if len(chunk) > 0 {
				var (
					res sql.Result
					err error
				)
				if ab {
					res, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries (campaign_id, subscriber_id, variant, next_attempt_at)
						SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)`,
						id, abRows(chunk, rn-int64(len(chunk)), abShare, abVariants))
				} else {
					res, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries (campaign_id, subscriber_id) SELECT ?, value FROM json_each(?)`,
						id, store.JSONInts(chunk))
				}
				if err != nil {
					return err
				}
				n, _ = res.RowsAffected()
			}
			if !last {
				_, err := tx.ExecContext(ctx, `UPDATE campaigns SET audience = audience + ?, snapshot_until = ? WHERE id = ?`,
					n, e.now().Add(snapshotLease).Unix(), id)
				return err
			}
			if ab {
				var size int64
				if err := tx.QueryRowContext(ctx, `SELECT audience + ? FROM campaigns WHERE id = ?`, n, id).Scan(&size); err != nil {
					return err
				}
				if err := abSmall(ctx, tx, id, size, abShare, abVariants); err != nil {
					return err
				}
			}
			// Complete: an empty audience finishes the campaign at once.
			_, err := tx.ExecContext(ctx, `UPDATE campaigns SET audience = audience + ?1, snapshot_upto = NULL, snapshot_until = NULL,
				status = CASE WHEN audience + ?1 = 0 AND status = 'running' THEN 'finished' ELSE status END,
				finished_at = CASE WHEN audience + ?1 = 0 AND status = 'running' THEN ?2 ELSE finished_at END,
				updated_at = ?2 WHERE id = ?3`, n, tx.Now.Unix(), id)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("write audience: %w", err)
		}
		hold := time.Since(w0)
		switch {
		case hold > 2*snapshotHold:
			size = max(size/2, snapshotMinChunk)
		case hold < snapshotHold/2:
			size = min(size*2, snapshotMaxChunk)
		}
		slowest = max(slowest, hold)
		holdSum += hold
		total += int64(len(chunk))
		chunks++
		chunk = chunk[:0]
		if first || last || !goOn {
			first = false
			e.changed() // the claimer starts on the first chunk
		}
		if snapshotHook != nil && !last && !snapshotHook(id, total) {
			return false, nil
		}
		return goOn, nil
	}
	// Only the first chunk is written while the read is open: the WAL cannot
	// be checkpointed past an open read, and a million rows written behind
	// it made every later look-up and the final checkpoint slow (seconds).
	// The rest of the ids wait in memory (8 bytes each: 8 MB at 1M) until
	// the read is closed.
	var rest []int64
	for rows.Next() {
		var sid int64
		if err := rows.Scan(&sid); err != nil {
			return wrap("snapshot", id, fmt.Errorf("read audience: %w", err))
		}
		if !first {
			rest = append(rest, sid)
			continue
		}
		chunk = append(chunk, sid)
		rn++
		if len(chunk) >= size {
			goOn, err := flush(false)
			if err != nil {
				return wrap("snapshot", id, err)
			}
			if !goOn {
				return nil
			}
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("snapshot", id, fmt.Errorf("read audience: %w", err))
	}
	rows.Close() // end the read snapshot before the other writes
	for len(rest) > 0 {
		n := min(size, len(rest))
		chunk = append(chunk[:0], rest[:n]...)
		rest = rest[n:]
		rn += int64(n) // the place in the scan, for A/B assignment
		goOn, err := flush(false)
		if err != nil {
			return wrap("snapshot", id, err)
		}
		if !goOn {
			return nil
		}
	}
	if _, err := flush(true); err != nil {
		return wrap("snapshot", id, err)
	}
	e.log.InfoContext(ctx, "campaign audience snapshotted", "campaign_id", id, "audience", total,
		"ms", time.Since(t0).Milliseconds(), "chunks", chunks,
		"writer_held_ms", holdSum.Milliseconds(), "longest_hold_ms", slowest.Milliseconds())
	return nil
}

// resumeSnapshots takes over the copies whose lease ran out (their process
// crashed or stopped), and copies of starts made inside Tick.
func (e *Engine) resumeSnapshots(ctx context.Context, now time.Time) error {
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM campaigns WHERE snapshot_upto IS NOT NULL
		AND status IN ('running', 'paused') AND (snapshot_until IS NULL OR snapshot_until < ?) ORDER BY id`, now.Unix())
	if err != nil {
		return fmt.Errorf("campaigns: resume snapshots: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("campaigns: resume snapshots: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("campaigns: resume snapshots: %w", err)
	}
	for _, id := range ids {
		if err := e.snapshot(ctx, id, now); err != nil {
			e.log.ErrorContext(ctx, "campaign snapshot failed", "campaign_id", id, "err", err)
		}
	}
	return nil
}

// abRows is chunk as JSON [subscriber, variant, next_attempt_at] triples for
// an A/B test's INSERT, the first row at place from of the scan.
func abRows(chunk []int64, from, share, variants int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, sid := range chunk {
		if i > 0 {
			b.WriteByte(',')
		}
		v, next := abAssign(from+int64(i), share, variants)
		vs := "null"
		if v != nil {
			vs = strconv.FormatInt(v.(int64), 10)
		}
		fmt.Fprintf(&b, "[%d,%s,%d]", sid, vs, next)
	}
	b.WriteByte(']')
	return b.String()
}
