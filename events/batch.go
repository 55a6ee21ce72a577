package events

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/treu-mail/treu/store"
)

// Group commit for Ingest, as subscribers does for enrollments. Most of an
// event's cost is its transaction (BEGIN, the WAL frames, COMMIT), and the
// writer is one connection anyway. Events that arrive while a batch is being
// written are gathered and written together in the next transaction, in
// arrival order; every caller returns only after the commit that holds its
// event (or with its own error). An event that finds the writer idle is
// written at once, alone.
//
// There is no goroutine: the first caller to find no batch running leads; when
// its batch is done it hands the lead to the oldest waiting caller, so no
// caller serves others for longer than one batch.

const maxBatch = 64

type ingestJob struct {
	ctx     context.Context
	ev      *Event
	key     string
	items   []byte
	payload []byte
	err     error
	done    chan struct{}
	lead    chan struct{} // receives when this job's caller is to run the next batch
}

type batcher struct {
	mu      sync.Mutex
	pending []*ingestJob
	running bool
}

// submit writes j in a batch and returns after the batch committed.
func (s *Service) submit(ctx context.Context, j *ingestJob) error {
	j.ctx, j.done, j.lead = ctx, make(chan struct{}), make(chan struct{}, 1)
	b := &s.batch
	b.mu.Lock()
	b.pending = append(b.pending, j)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if !lead {
		select {
		case <-j.done:
			return j.err
		case <-j.lead:
		}
	}
	s.leadBatch()
	<-j.done // our job was in the batch just run (it was first in line)
	return j.err
}

// leadBatch runs one batch and passes the lead on (or gives it up).
func (s *Service) leadBatch() {
	b := &s.batch
	// Let callers that are ready to run (woken by the last commit, say) reach
	// submit first and join this batch: on a busy machine they would
	// otherwise each find the writer idle and commit alone. With nobody else
	// runnable this returns at once.
	runtime.Gosched()
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := make([]*ingestJob, n)
	copy(batch, b.pending)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	b.mu.Unlock()

	s.runBatch(batch)

	b.mu.Lock()
	if len(b.pending) == 0 {
		b.running = false
		b.mu.Unlock()
		return
	}
	next := b.pending[0]
	b.mu.Unlock()
	next.lead <- struct{}{}
}

func (s *Service) runBatch(batch []*ingestJob) {
	defer func() {
		// A panic must not leave the lead taken and every later caller
		// waiting: it fails this batch, and leadBatch passes the lead on.
		if r := recover(); r != nil {
			for _, j := range batch {
				j.err = fmt.Errorf("events: ingest panicked: %v", r)
				close(j.done)
			}
		}
	}()
	// A caller that gave up before its turn writes nothing.
	todo := make([]*ingestJob, 0, len(batch))
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = fmt.Errorf("events: %w", err)
			continue
		}
		todo = append(todo, j)
	}
	for len(todo) > 0 {
		// The transaction serves many callers: one caller giving up must not
		// abort the others' events.
		ctx := context.WithoutCancel(todo[0].ctx)
		failed := -1
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			b := s.bind(tx)
			for i, j := range todo {
				if j.err = b.applyTx(ctx, j); j.err != nil {
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
			// BEGIN or COMMIT failed: nobody's event is written.
			for _, j := range todo {
				j.err = err
			}
			break
		}
		// One event failed: the transaction rolled back; write the others
		// again without it, so each caller gets the outcome it would have
		// had alone.
		todo = append(todo[:failed:failed], todo[failed+1:]...)
	}
	for _, j := range batch {
		close(j.done)
	}
}
