package mailer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// QueueConfig tunes the durable queue; zero values take the defaults.
type QueueConfig struct {
	Workers      int           // mails sent at once; default 4
	Lease        time.Duration // how long a claim is held before another worker may take it; default 5m
	PollInterval time.Duration // how often Run looks for due mail without a Wake; default 5s
	MaxAttempts  int           // temporary failures before giving up; default 12 (about 10 h of backoff)
	MaxAge       time.Duration // give up on mail older than this; default 48h
	Owner        string        // this instance's name in lease_owner; default host-pid-random
	// ReturnPath, if set, gives each mail its envelope sender when it is
	// sent (package feedback's VERP address naming the queued mail).
	ReturnPath func(mailID, subscriberID int64) string
	// OnRefused, if set, runs inside the transaction that records a mail
	// the SMTP server refused for good (a 5xx): package feedback counts it
	// as a hard bounce.
	OnRefused func(ctx context.Context, tx *store.Tx, r Refusal) error
}

// Refusal is a mail the SMTP server refused with a 5xx at send time.
type Refusal struct {
	MailID       int64
	SubscriberID int64
	Recipient    string
	Code         int    // the SMTP reply code
	Reply        string // the server's words
}

// Queue is the durable queue for single mails. Enqueue writes in the
// caller's transaction; Run's workers claim due rows with an owner and a
// lease, deliver them and record the outcome. A claim is a row update, not an
// in-process lock, so several instances may share the database, and a worker
// that dies leaves rows that become due again when the lease ends.
type Queue struct {
	// Now is the clock for claims, leases and backoff.
	Now func() time.Time

	db   *store.DB
	tr   Transport
	log  *slog.Logger
	cfg  QueueConfig
	wake chan struct{}
	seq  atomic.Uint64 // numbers claims, so a late result cannot touch a newer claim
}

const insertQueued = `INSERT INTO mail_queue
		(kind, subscriber_id, recipient, message, status, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, 'queued', ?, ?) RETURNING id`

// NewQueue delivers through tr.
func NewQueue(db *store.DB, tr Transport, log *slog.Logger, cfg QueueConfig) *Queue {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Lease <= 0 {
		// Longer than any one delivery can take (SMTP timeouts are 30 s per
		// command), or a slow send would be claimed and sent a second time.
		cfg.Lease = 5 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 48 * time.Hour
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:6])
	}
	// Prepared here, outside any transaction: the writer has one connection,
	// which a transaction would hold.
	if err := db.Prepare(context.Background(), insertQueued); err != nil {
		log.Warn("mailer: prepare enqueue; statements will be parsed per mail", slog.Any("error", err))
	}
	return &Queue{
		Now:  func() time.Time { return db.Now() },
		db:   db,
		tr:   tr,
		log:  log,
		cfg:  cfg,
		wake: make(chan struct{}, 1),
	}
}

// Enqueue stores m for delivery inside the caller's transaction, so the mail
// is durable exactly when the caller's change is. Call Wake after commit.
func (q *Queue) Enqueue(ctx context.Context, tx *store.Tx, m *Message) (int64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	if m.Kind == "" || len(m.Kind) > 32 || strings.ContainsFunc(m.Kind, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_' || r == '-') }) {
		return 0, errs.Invalidf("kind", "mail kind %q is not a lower-case word", m.Kind)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("mailer: enqueue: %w", err)
	}
	var sub any
	if m.SubscriberID > 0 {
		sub = m.SubscriberID
	}
	var id int64
	args := []any{m.Kind, sub, m.To, string(body), tx.Now.Unix(), tx.Now.Unix()}
	// Prepared by NewQueue: parsing the INSERT again for every enrollment
	// cost a tenth of its time.
	if err = tx.QueryRowCached(ctx, insertQueued, args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("mailer: enqueue: %w", err)
	}
	return id, nil
}

// lingerAfterWake is how long Run waits after a Wake before it claims.
const lingerAfterWake = 20 * time.Millisecond

// Wake nudges Run to look for due mail now instead of at the next poll.
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends. It returns after every mail in
// flight has been recorded and every claimed but unstarted mail released.
func (q *Queue) Run(ctx context.Context) error {
	for {
		n, err := q.ProcessDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			q.log.Error("mail queue round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue // a full round: more may be due
		}
		t := time.NewTimer(q.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.wake:
			// Linger a moment: a burst of enrollments wakes the queue once per
			// mail, and claiming them together costs one write instead of many.
			// A confirmation mail 20 ms later is no worse.
			linger := time.NewTimer(lingerAfterWake)
			select {
			case <-ctx.Done():
			case <-linger.C:
			}
			linger.Stop()
		case <-t.C:
		}
		t.Stop()
	}
}

type job struct {
	id        int64
	owner     string
	message   string
	attempts  int
	createdAt time.Time
}

// ProcessDue claims the mail due now (up to a few per worker), delivers it
// with Workers goroutines and records each outcome. It returns how many it
// claimed. Run loops over it; tests call it directly with a fake clock.
func (q *Queue) ProcessDue(ctx context.Context) (int, error) {
	jobs, err := q.claim(ctx, q.Now(), q.cfg.Workers*4)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	ch := make(chan job)
	outcomes := make([]outcome, len(jobs))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(q.cfg.Workers, len(jobs)) {
		wg.Go(func() {
			for j := range ch {
				outcomes[next.Add(1)-1] = q.process(ctx, j)
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	// One transaction records the whole round: a write per mail would
	// triple the writer's load during a burst of enrollments. A crash before
	// this commit re-sends the round after the lease, which is the
	// in-flight bound the queue promises anyway.
	return len(jobs), q.record(context.WithoutCancel(ctx), outcomes)
}

// claim takes up to limit due rows. A claim moves next_attempt_at to the end
// of the lease: if this process dies, the row is simply due again then.
// attempts counts claims, so a mail that crashes the process every time
// still runs out of attempts.
func (q *Queue) claim(ctx context.Context, now time.Time, limit int) ([]job, error) {
	// A read first: most rounds find nothing due, and a read on the read pool
	// does not queue behind the writer.
	var due int
	if err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM mail_queue
		WHERE status = 'queued' AND next_attempt_at <= ?)`, now.Unix()).Scan(&due); err != nil {
		return nil, fmt.Errorf("mailer: claim: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	owner := fmt.Sprintf("%s/%d", q.cfg.Owner, q.seq.Add(1))
	until := now.Add(q.cfg.Lease).Unix()
	var jobs []job
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE mail_queue
			SET lease_owner = ?, lease_until = ?, next_attempt_at = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM mail_queue
				WHERE status = 'queued' AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id, coalesce(message, ''), attempts, created_at`,
			owner, until, until, now.Unix(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j := job{owner: owner}
			var created int64
			if err := rows.Scan(&j.id, &j.message, &j.attempts, &created); err != nil {
				return err
			}
			j.createdAt = time.Unix(created, 0)
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: claim: %w", err)
	}
	return jobs, nil
}

// outcome is how a claimed mail ended, as the update that records it.
type outcome struct {
	j       job
	query   string
	args    []any
	refused *Refusal // a 5xx: reported to OnRefused when recorded
}

// process delivers one claimed mail and says how to record the outcome.
func (q *Queue) process(ctx context.Context, j job) outcome {
	if ctx.Err() != nil {
		return q.release(j)
	}
	var m Message
	if err := json.Unmarshal([]byte(j.message), &m); err != nil {
		return q.finish(j, "failed", "stored message unreadable: "+err.Error())
	}
	if q.cfg.ReturnPath != nil && m.ReturnPath == "" {
		m.ReturnPath = q.cfg.ReturnPath(j.id, m.SubscriberID)
	}
	err := q.tr.Send(ctx, &m)
	switch {
	case err == nil:
		return q.finish(j, "sent", "")
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return q.release(j) // shutting down before it went out
	case IsTemporary(err):
		now := q.Now()
		if j.attempts >= q.cfg.MaxAttempts || now.Sub(j.createdAt) >= q.cfg.MaxAge {
			return q.finish(j, "failed", fmt.Sprintf("gave up after %d attempts: %v", j.attempts, err))
		}
		q.log.Info("mail delivery deferred", "mail_id", j.id, "attempt", j.attempts, "err", err)
		return q.retry(j, now.Add(backoff(j.attempts)), err.Error())
	default:
		q.log.Warn("mail delivery failed", "mail_id", j.id, "err", err)
		o := q.finish(j, "failed", err.Error())
		var se *SendError
		if errors.As(err, &se) && se.Code >= 500 {
			o.refused = &Refusal{MailID: j.id, SubscriberID: m.SubscriberID, Recipient: m.To, Code: se.Code, Reply: se.Reply}
		}
		return o
	}
}

// backoff is exponential from 30 s, capped at 2 h, with jitter so that mail
// deferred together (a server outage) does not come back all at once.
func backoff(attempt int) time.Duration {
	d := 30 * time.Second << min(max(attempt-1, 0), 8)
	d = min(d, 2*time.Hour)
	return d/2 + mrand.N(d/2)
}

func (q *Queue) finish(j job, status, reason string) outcome {
	// A sent mail keeps its metadata for statistics; its body (personal data) goes.
	return outcome{j, `UPDATE mail_queue SET status = ?, last_error = ?,
		sent_at = CASE WHEN ? = 'sent' THEN ? END,
		message = CASE WHEN ? = 'sent' THEN NULL ELSE message END,
		lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND lease_owner = ?`,
		[]any{status, reason, status, q.Now().Unix(), status, j.id, j.owner}, nil}
}

func (q *Queue) retry(j job, at time.Time, reason string) outcome {
	return outcome{j, `UPDATE mail_queue SET next_attempt_at = ?, last_error = ?,
		lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND lease_owner = ?`, []any{at.Unix(), reason, j.id, j.owner}, nil}
}

// release hands an unsent claim back at once, not counting it as an attempt.
func (q *Queue) release(j job) outcome {
	return outcome{j, `UPDATE mail_queue SET next_attempt_at = ?, attempts = attempts - 1,
		lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND lease_owner = ?`, []any{q.Now().Unix(), j.id, j.owner}, nil}
}

// record writes the outcomes of one round in one transaction.
func (q *Queue) record(ctx context.Context, outs []outcome) error {
	return q.db.Tx(ctx, func(tx *store.Tx) error {
		for _, o := range outs {
			res, err := tx.ExecContext(ctx, o.query, o.args...)
			if err != nil {
				return fmt.Errorf("mailer: record mail %d: %w", o.j.id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// The lease ran out and someone else claimed the row, or the
				// subscriber was erased meanwhile: theirs is the word that counts.
				q.log.Warn("mail claim lost before its outcome was recorded", "mail_id", o.j.id)
				continue
			}
			if o.refused != nil && q.cfg.OnRefused != nil {
				if err := q.cfg.OnRefused(ctx, tx, *o.refused); err != nil {
					return fmt.Errorf("mailer: report refusal of mail %d: %w", o.j.id, err)
				}
			}
		}
		return nil
	})
}

// marketingKinds are the mail kinds that need marketing consent: an
// unsubscribe withdraws the ones still queued.
var marketingKinds = []any{"welcome", "flow"}

// DropMarketing deletes a subscriber's queued marketing mail (welcome and flow
// steps), inside the unsubscribe's transaction, so nothing goes out after it
// — not even a retry of a mail deferred before. Confirmation, transactional
// and test mail stay.
func (q *Queue) DropMarketing(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	args := append([]any{subscriberID}, marketingKinds...)
	if _, err := tx.ExecContext(ctx, `DELETE FROM mail_queue WHERE subscriber_id = ? AND status = 'queued'
		AND kind IN (?, ?)`, args...); err != nil {
		return fmt.Errorf("mailer: drop marketing mail of subscriber %d: %w", subscriberID, err)
	}
	return nil
}

// DeleteForSubscriber erases a subscriber's mail (GDPR): unsent mail is
// deleted, so nothing goes out to an erased person; sent and failed rows
// keep only kind, status and times for the statistics.
func (q *Queue) DeleteForSubscriber(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM mail_queue WHERE subscriber_id = ? AND status = 'queued'`, subscriberID); err != nil {
		return fmt.Errorf("mailer: erase mail of subscriber %d: %w", subscriberID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mail_queue
		SET subscriber_id = NULL, recipient = '', message = NULL, last_error = ''
		WHERE subscriber_id = ?`, subscriberID); err != nil {
		return fmt.Errorf("mailer: erase mail of subscriber %d: %w", subscriberID, err)
	}
	return nil
}

// QueueStats counts the queue's rows by status, for /metrics.
type QueueStats struct {
	Queued   int64 `json:"queued"`
	Retrying int64 `json:"retrying"` // queued rows that failed temporarily at least once
	Sent     int64 `json:"sent"`
	Failed   int64 `json:"failed"`
}

// Stats counts rows by status.
func (q *Queue) Stats(ctx context.Context) (QueueStats, error) {
	var s QueueStats
	rows, err := q.db.QueryContext(ctx, `SELECT status, count(*), coalesce(sum(attempts > 0 AND last_error <> ''), 0)
		FROM mail_queue GROUP BY status`)
	if err != nil {
		return s, fmt.Errorf("mailer: queue stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n, retrying int64
		if err := rows.Scan(&status, &n, &retrying); err != nil {
			return s, fmt.Errorf("mailer: queue stats: %w", err)
		}
		switch status {
		case "queued":
			s.Queued, s.Retrying = n, retrying
		case "sent":
			s.Sent = n
		case "failed":
			s.Failed = n
		}
	}
	return s, rows.Err()
}
