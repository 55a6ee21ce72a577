package imports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// errLostLease: another instance took the import over (our lease lapsed).
var errLostLease = errors.New("imports: lease lost")

// batch is BatchRows consecutive data rows of the file.
type batch struct {
	recs []record
	last int // n of the last row
}

// Run imports a started job from its checkpoint to the end of the file. It
// claims the job with a lease first and returns nil at once when another
// instance (or another call in this process) holds it.
//
// Each batch of rows is written in one transaction together with the
// checkpoint (rows read, figures, lease), so after a crash at any moment the
// job resumes exactly after the last committed batch: no row twice, none
// left out. Reading the file and judging rows runs in its own goroutine,
// beside the writes.
//
// When ctx ends (shutdown) the lease is given up so that the next start, or
// another instance, resumes at once.
func (sv *Service) Run(ctx context.Context, id string) error {
	sv.mu.Lock()
	if sv.running[id] {
		sv.mu.Unlock()
		return nil
	}
	sv.running[id] = true
	sv.mu.Unlock()
	defer func() {
		sv.mu.Lock()
		delete(sv.running, id)
		sv.mu.Unlock()
	}()

	ok, err := sv.claim(ctx, id)
	if err != nil || !ok {
		return err
	}
	j, err := sv.Get(ctx, id, 0)
	if err != nil {
		return err
	}
	sv.log.Info("import running", "import", id, "from_row", j.RowsRead, "rows", j.RowsTotal)
	err = sv.run(ctx, &j)
	switch {
	case err == nil:
		sv.log.Info("import finished", "import", id, "created", j.Created, "existing", j.Existing, "failed", j.Failed,
			"skipped", j.Skipped)
		// Fresh planner statistics for the grown tables (milliseconds: sampled).
		if err := sv.db.Analyze(ctx); err != nil {
			sv.log.Warn("analyze after import", "import", id, "err", err)
		}
		return nil
	case errors.Is(err, errLostLease):
		sv.log.Warn("import taken over by another instance", "import", id)
		return nil
	case ctx.Err() != nil:
		sv.release(id)
		return nil
	}
	sv.fail(id, err)
	return err
}

// claim takes the lease on a running job that nobody else holds.
func (sv *Service) claim(ctx context.Context, id string) (bool, error) {
	var n int64
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		now := tx.Now.Unix()
		res, err := tx.ExecContext(ctx, `UPDATE import_jobs SET owner = ?, lease_until = ?, resumed_at = ?, resumed_rows = rows_read,
			updated_at = ? WHERE id = ? AND status = 'running' AND (owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)`,
			sv.cfg.Owner, now+int64(sv.cfg.Lease.Seconds()), now, now, id, sv.cfg.Owner, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("imports: claim %s: %w", id, err)
	}
	return n == 1, nil
}

// release gives the lease up, keeping the job running for whoever resumes it.
func (sv *Service) release(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE import_jobs SET owner = NULL, lease_until = NULL, updated_at = ?
			WHERE id = ? AND owner = ? AND status = 'running'`, tx.Now.Unix(), id, sv.cfg.Owner)
		return err
	})
	if err != nil {
		sv.log.Warn("import: give up lease", "import", id, "error", err)
	}
}

// fail records an error that stopped the import; it may be started again.
func (sv *Service) fail(id string, cause error) {
	sv.log.Error("import failed", "import", id, "error", cause)
	msg := "An error on the server stopped the import (see its log)."
	if e, ok := errs.As(cause); ok && e.Kind != errs.Internal {
		msg = e.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE import_jobs SET status = 'failed', error = ?, owner = NULL, lease_until = NULL,
			finished_at = ?, updated_at = ? WHERE id = ? AND owner = ? AND status = 'running'`, msg, tx.Now.Unix(), tx.Now.Unix(),
			id, sv.cfg.Owner)
		return err
	})
	if err != nil {
		sv.log.Warn("import: record failure", "import", id, "error", err)
	}
	sv.notify()
}

func (sv *Service) run(ctx context.Context, j *Job) error {
	im, err := sv.importer(ctx, &j.Settings)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	from := j.RowsRead // the checkpoint; write moves j.RowsRead meanwhile
	var fatal *Issue
	scanErr := make(chan error, 1)
	go func() {
		defer close(batches)
		var b batch
		send := func() error {
			select {
			case batches <- b:
				b = batch{recs: make([]record, 0, sv.cfg.BatchRows)}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var err error
		fatal, err = scan(ctx, j, im, func(r record) error {
			if r.n < from {
				return nil // before the checkpoint: written already (scanned for the repeats)
			}
			b.recs, b.last = append(b.recs, r), r.n
			if len(b.recs) >= sv.cfg.BatchRows {
				return send()
			}
			return nil
		})
		if err == nil && len(b.recs) > 0 {
			err = send()
		}
		scanErr <- err
	}()
	for b := range batches {
		if err := sv.write(ctx, j, im, b); err != nil {
			cancel()
			for range batches { // let the reader end
			}
			<-scanErr
			return err
		}
	}
	if err := <-scanErr; err != nil {
		return err
	}
	if fatal != nil {
		// The dry run read the same file to its end: it changed since.
		return errs.Invalidf("file", "line %d: %s", fatal.Line, fatal.Message)
	}
	return sv.finish(ctx, j)
}

// write imports one batch and moves the checkpoint in the same transaction.
func (sv *Service) write(ctx context.Context, j *Job, im *subscribers.Importer, b batch) error {
	rows := make([]*subscribers.PreparedRow, 0, len(b.recs))
	for _, r := range b.recs {
		if r.row != nil {
			rows = append(rows, r.row)
		}
	}
	var created, existing, failed int
	issues := j.Issues
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		created, existing, failed = 0, 0, 0
		issues = j.Issues
		outs, err := im.WriteTx(ctx, tx, rows)
		if err != nil {
			return err
		}
		k := 0
		for _, r := range b.recs {
			if r.row == nil {
				continue
			}
			switch o := outs[k]; {
			case o.Err != nil:
				failed++
				if len(issues) < MaxIssues {
					msg := o.Err.Error()
					if e, ok := errs.As(o.Err); ok {
						msg = e.Msg
					}
					issues = append(issues[:len(issues):len(issues)], Issue{Line: r.line, Message: msg})
				}
			case o.Created:
				created++
			default:
				existing++
			}
			k++
		}
		res, err := tx.ExecContext(ctx, `UPDATE import_jobs SET rows_read = ?, created = created + ?, existing = existing + ?,
			failed = failed + ?, skipped = skipped + ?, issues = ?, lease_until = ?, updated_at = ?
			WHERE id = ? AND owner = ? AND status = 'running'`,
			b.last+1, created, existing, failed, len(b.recs)-len(rows), mustJSON(nonNil(issues)),
			tx.Now.Add(sv.cfg.Lease).Unix(), tx.Now.Unix(), j.ID, sv.cfg.Owner)
		if err != nil {
			return fmt.Errorf("imports: checkpoint %s: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostLease
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.RowsRead = b.last + 1
	j.Created += created
	j.Existing += existing
	j.Failed += failed
	j.Skipped += len(b.recs) - len(rows)
	j.Issues = issues
	sv.notify()
	if sv.cfg.OnCheckpoint != nil {
		sv.cfg.OnCheckpoint(j.ID, j.RowsRead)
	}
	return nil
}

func nonNil(is []Issue) []Issue {
	if is == nil {
		return []Issue{}
	}
	return is
}

// finish marks the import done, forgets the sample rows and removes the file.
func (sv *Service) finish(ctx context.Context, j *Job) error {
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE import_jobs SET status = 'finished', sample = '[]', owner = NULL, lease_until = NULL,
			finished_at = ?, updated_at = ? WHERE id = ? AND owner = ? AND status = 'running'`, tx.Now.Unix(), tx.Now.Unix(), j.ID, sv.cfg.Owner)
		if err != nil {
			return fmt.Errorf("imports: finish %s: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostLease
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.Status = StatusFinished
	sv.removeFile(j.path)
	sv.notify()
	return nil
}
