package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// GroupCommit writes the work of concurrent callers in shared transactions.
// SQLite has one writer, and most of a small write's cost is the transaction
// itself (BEGIN, the WAL frames, COMMIT). Work that arrives while a batch is
// being written is gathered and written together in the next transaction, in
// arrival order; every caller returns only after the commit that holds its
// work, or with its own error. Work that finds the writer idle is written at
// once, alone.
//
// There is no goroutine: the first caller to find no batch running leads; when
// its batch is done it hands the lead to the oldest waiting caller, so no
// caller serves others for longer than one batch.
type GroupCommit[J any] struct {
	db    *DB
	max   int
	apply func(ctx context.Context, tx *Tx, job J) error
	after func()

	mu      sync.Mutex
	pending []*groupJob[J]
	running bool
}

type groupJob[J any] struct {
	ctx  context.Context
	job  J
	err  error
	done chan struct{}
	lead chan struct{} // receives when this caller is to run the next batch
}

// NewGroupCommit writes jobs with apply, at most max per transaction. after,
// if not nil, runs once after each batch (e.g. to wake a queue worker).
// apply may run more than once for a job: when another job of its batch
// fails, the transaction is rolled back and the others are written again.
func NewGroupCommit[J any](db *DB, max int, apply func(ctx context.Context, tx *Tx, job J) error, after func()) *GroupCommit[J] {
	return &GroupCommit[J]{db: db, max: max, apply: apply, after: after}
}

// Do writes job in a batch and returns after the batch committed. A job whose
// caller gave up (ctx done) before its turn is not written.
func (g *GroupCommit[J]) Do(ctx context.Context, job J) error {
	j := &groupJob[J]{ctx: ctx, job: job, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, j)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		select {
		case <-j.done:
			return j.err
		case <-j.lead:
		}
	}
	g.leadBatch()
	<-j.done // our job was in the batch just run (it was first in line)
	return j.err
}

// leadBatch runs one batch and passes the lead on (or gives it up).
func (g *GroupCommit[J]) leadBatch() {
	// Let callers that are ready to run (woken by the last commit, say) reach
	// Do first and join this batch: on a busy machine they would otherwise
	// each find the writer idle and commit alone. With nobody else runnable
	// this returns at once.
	runtime.Gosched()
	g.mu.Lock()
	n := min(len(g.pending), g.max)
	batch := make([]*groupJob[J], n)
	copy(batch, g.pending)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	g.mu.Unlock()

	g.runBatch(batch)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.running = false
		g.mu.Unlock()
		return
	}
	next := g.pending[0]
	g.mu.Unlock()
	next.lead <- struct{}{}
}

func (g *GroupCommit[J]) runBatch(batch []*groupJob[J]) {
	closed := false
	defer func() {
		// A panic must not leave the lead taken and every later caller
		// waiting: it fails this batch, and leadBatch passes the lead on.
		if r := recover(); r != nil && !closed {
			for _, j := range batch {
				j.err = fmt.Errorf("store: batched write panicked: %v", r)
				close(j.done)
			}
		}
	}()
	todo := make([]*groupJob[J], 0, len(batch))
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		todo = append(todo, j)
	}
	for len(todo) > 0 {
		// The transaction serves many callers: one caller giving up must not
		// abort the others' work.
		ctx := context.WithoutCancel(todo[0].ctx)
		failed := -1
		err := g.db.Tx(ctx, func(tx *Tx) error {
			for i, j := range todo {
				if j.err = g.apply(ctx, tx, j.job); j.err != nil {
					failed = i
					return j.err
				}
			}
			return nil
		})
		if err == nil {
			break
		}
		if failed < 0 {
			// BEGIN or COMMIT failed: nobody's work is written.
			for _, j := range todo {
				j.err = err
			}
			break
		}
		// One job failed and the transaction rolled back: write the others
		// again without it, so each caller gets the outcome it would have had
		// alone. Savepoints would avoid the repetition but cost more on every
		// batch than failures ever do.
		todo = append(todo[:failed:failed], todo[failed+1:]...)
	}
	if g.after != nil {
		g.after()
	}
	closed = true
	for _, j := range batch {
		close(j.done)
	}
}
