package subscribers

import (
	"context"
	"fmt"
	"github.com/treu-mail/treu/internal/errs"
	"sync"

	"github.com/treu-mail/treu/store"
)

// Group commit for enrollments. SQLite has one writer, and most of an
// enrollment's cost is the transaction itself (BEGIN, writing the WAL frames,
// COMMIT). Enrollments that arrive while the writer is busy are therefore
// gathered and written in one transaction; if one fails (a validation the
// database makes, a duplicate), it is answered alone and the others are
// written again without it. Every caller still returns only
// after the commit that made its subscriber and confirmation mail durable. An
// enrollment that finds the writer idle runs at once, alone.
//
// There is no goroutine: the first caller to find no batch running leads; when
// its batch is done it hands the lead to the oldest waiting caller, so no
// caller serves others for longer than one batch.

const maxBatch = 64

type enrollJob struct {
	ctx     context.Context
	e       *enrollment
	sub     Subscriber
	created bool
	err     error
	done    chan struct{}
	lead    chan struct{} // receives when this job's caller is to run the next batch
}

type batcher struct {
	mu      sync.Mutex
	pending []*enrollJob
	running bool
}

func (s *Service) submitEnroll(ctx context.Context, e *enrollment) (Subscriber, bool, error) {
	j := &enrollJob{ctx: ctx, e: e, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	b := &s.batch
	b.mu.Lock()
	b.pending = append(b.pending, j)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if !lead {
		select {
		case <-j.done:
			return j.sub, j.created, j.err
		case <-j.lead:
		}
	}
	s.leadBatch()
	<-j.done // our job was in the batch just run (it was first in line)
	return j.sub, j.created, j.err
}

// leadBatch runs one batch and passes the lead on (or gives it up).
func (s *Service) leadBatch() {
	b := &s.batch
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := make([]*enrollJob, n)
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

func (s *Service) runBatch(batch []*enrollJob) {
	// The transaction serves many callers: one caller giving up must not
	// abort the others' work.
	ctx := context.WithoutCancel(batch[0].ctx)
	defer func() {
		// A panic must not leave the lead taken and every later caller
		// waiting: it fails this batch, and leadBatch passes the lead on.
		if r := recover(); r != nil {
			for _, j := range batch {
				j.sub, j.created, j.err = Subscriber{}, false, fmt.Errorf("subscribers: enroll panicked: %v", r)
				close(j.done)
			}
		}
	}()
	todo := batch
	for len(todo) > 0 {
		var failed int = -1
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			for i, j := range todo {
				j.sub, j.created, j.err = s.enrollTx(ctx, tx, j.e)
				if j.err != nil {
					failed = i
					return j.err
				}
			}
			return nil
		})
		if err == nil {
			break
		}
		if _, ok := errs.As(err); !ok || failed < 0 {
			// Not this enrollment's fault (disk, database): all fail alike.
			for _, j := range todo {
				j.sub, j.created, j.err = Subscriber{}, false, err
			}
			break
		}
		// One enrollment was refused (a 4xx): the transaction rolled back;
		// write the others again without it. Savepoints would avoid the
		// repetition but cost more on every batch than refusals ever do.
		todo = append(todo[:failed:failed], todo[failed+1:]...)
	}
	s.wakeQueue()
	for _, j := range batch {
		close(j.done)
	}
}
