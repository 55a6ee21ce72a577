package mailer

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// clock is a fake time source shared by the store and the queue.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type queueEnv struct {
	db    *store.DB
	clock *clock
	srv   *smtptest.Server
	q     *Queue
}

func newQueueEnv(t *testing.T, cfg QueueConfig) *queueEnv {
	t.Helper()
	db := storetest.Open(t)
	c := &clock{t: t0}
	db.Now = c.Now
	srv := smtptest.Start(t)
	e := &queueEnv{db: db, clock: c, srv: srv}
	e.q = NewQueue(db, newTestSMTP(t, srv, ""), discardLog, cfg)
	return e
}

func (e *queueEnv) enqueue(t *testing.T, m *Message) int64 {
	t.Helper()
	var id int64
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = e.q.Enqueue(context.Background(), tx, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type row struct {
	status, lastError, recipient string
	attempts                     int
	message                      sql.NullString
	next                         int64
	leaseOwner                   sql.NullString
	sentAt, subscriberID         sql.NullInt64
}

func (e *queueEnv) row(t *testing.T, id int64) row {
	t.Helper()
	var r row
	err := e.db.QueryRowContext(context.Background(), `SELECT status, last_error, recipient, attempts, message,
		next_attempt_at, lease_owner, sent_at, subscriber_id FROM mail_queue WHERE id = ?`, id).
		Scan(&r.status, &r.lastError, &r.recipient, &r.attempts, &r.message, &r.next, &r.leaseOwner, &r.sentAt, &r.subscriberID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *queueEnv) process(t *testing.T) int {
	t.Helper()
	n, err := e.q.ProcessDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func queued(kind, to string) *Message {
	m := testMessage()
	m.Kind, m.To = kind, to
	return m
}

func TestQueueDeliversAndDropsBody(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	id := e.enqueue(t, queued("confirm", "new@example.org"))
	if r := e.row(t, id); r.status != "queued" || !r.message.Valid || r.recipient != "new@example.org" {
		t.Fatalf("after enqueue: %+v", r)
	}
	if n := e.process(t); n != 1 {
		t.Fatalf("processed %d, want 1", n)
	}
	got := e.srv.Messages()
	if len(got) != 1 || got[0].To[0] != "new@example.org" {
		t.Fatalf("delivered %v", got)
	}
	// Date is made at send time, not at enqueue time.
	e.clock.Add(time.Hour)
	r := e.row(t, id)
	if r.status != "sent" || r.message.Valid || !r.sentAt.Valid || r.sentAt.Int64 != t0.Unix() || r.leaseOwner.Valid {
		t.Fatalf("after send: %+v", r)
	}
	if n := e.process(t); n != 0 {
		t.Fatalf("sent mail processed again: %d", n)
	}
}

func TestQueueEnqueueIsPartOfCallersTransaction(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	boom := errors.New("caller fails later")
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		if _, err := e.q.Enqueue(context.Background(), tx, queued("welcome", "a@example.org")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if s, _ := e.q.Stats(context.Background()); s != (QueueStats{}) {
		t.Fatalf("rolled-back enqueue left %+v", s)
	}
	err = e.db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := e.q.Enqueue(context.Background(), tx, queued("welcome", "not an address"))
		return err
	})
	if e, ok := errs.As(err); !ok || e.Field != "to" {
		t.Fatalf("invalid message: %v", err)
	}
	err = e.db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := e.q.Enqueue(context.Background(), tx, queued("", "a@example.org"))
		return err
	})
	if e, ok := errs.As(err); !ok || e.Field != "kind" {
		t.Fatalf("missing kind: %v", err)
	}
}

func TestQueueRetriesTemporaryThenSucceeds(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	id := e.enqueue(t, queued("tx", "slow@example.org"))
	e.srv.SetReply(func(string) error { return smtptest.Temporary })
	e.process(t)
	r := e.row(t, id)
	if r.status != "queued" || r.attempts != 1 || !strings.Contains(r.lastError, "451") ||
		!strings.Contains(r.lastError, "Try again later") || r.next <= t0.Unix() || r.leaseOwner.Valid {
		t.Fatalf("after 451: %+v", r)
	}
	if n := e.process(t); n != 0 {
		t.Fatal("retried before its backoff ended")
	}
	if s, _ := e.q.Stats(context.Background()); s.Queued != 1 || s.Retrying != 1 {
		t.Fatalf("stats %+v", s)
	}
	e.srv.SetReply(nil)
	e.clock.Add(time.Hour)
	if n := e.process(t); n != 1 {
		t.Fatalf("processed %d after backoff", n)
	}
	if r := e.row(t, id); r.status != "sent" || r.attempts != 2 {
		t.Fatalf("after retry: %+v", r)
	}
	if len(e.srv.Messages()) != 1 {
		t.Fatal("want exactly one delivery")
	}
}

func TestQueuePermanentFailureKeepsReply(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	id := e.enqueue(t, queued("tx", "gone@example.org"))
	e.srv.SetReply(func(string) error { return smtptest.Permanent })
	e.process(t)
	r := e.row(t, id)
	if r.status != "failed" || r.attempts != 1 || !strings.Contains(r.lastError, "550") || !strings.Contains(r.lastError, "No such user here") {
		t.Fatalf("after 550: %+v", r)
	}
	if s, _ := e.q.Stats(context.Background()); s != (QueueStats{Failed: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueGivesUpAfterMaxAttempts(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{MaxAttempts: 3})
	id := e.enqueue(t, queued("tx", "later@example.org"))
	e.srv.Stop() // unreachable: temporary every time
	for range 3 {
		e.process(t)
		e.clock.Add(3 * time.Hour)
	}
	if r := e.row(t, id); r.status != "failed" || r.attempts != 3 || !strings.Contains(r.lastError, "gave up after 3") {
		t.Fatalf("%+v", r)
	}
}

func TestQueueGivesUpAfterMaxAge(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{MaxAge: time.Hour})
	id := e.enqueue(t, queued("tx", "later@example.org"))
	e.srv.Stop()
	e.clock.Add(2 * time.Hour)
	e.process(t)
	if r := e.row(t, id); r.status != "failed" || r.attempts != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestQueueExpiredLeaseIsReclaimed(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{Lease: time.Minute})
	id := e.enqueue(t, queued("flow", "a@example.org"))
	// Another instance claims the row and is killed (-9) before sending.
	crashed := NewQueue(e.db, nil, discardLog, QueueConfig{Lease: time.Minute, Owner: "crashed"})
	crashed.Now = e.clock.Now
	jobs, err := crashed.claim(context.Background(), e.clock.Now(), 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if r := e.row(t, id); !r.leaseOwner.Valid || !strings.HasPrefix(r.leaseOwner.String, "crashed/") {
		t.Fatalf("lease not recorded in the row: %+v", r)
	}
	if n := e.process(t); n != 0 {
		t.Fatal("a leased row was claimed twice")
	}
	e.clock.Add(time.Minute)
	if n := e.process(t); n != 1 {
		t.Fatal("expired lease not re-claimed")
	}
	if r := e.row(t, id); r.status != "sent" || r.attempts != 2 {
		t.Fatalf("%+v", r)
	}
	// The crashed worker coming back late changes nothing.
	if err := crashed.record(context.Background(), []outcome{crashed.finish(jobs[0], "failed", "late")}); err != nil {
		t.Fatal(err)
	}
	if r := e.row(t, id); r.status != "sent" {
		t.Fatalf("stale claim overwrote the outcome: %+v", r)
	}
}

func TestQueueNothingLostWhenWorkersCrash(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{Lease: time.Minute})
	for i := range 30 {
		e.enqueue(t, queued("welcome", "r"+string(rune('a'+i%26))+"@example.org"))
	}
	// A first instance claims everything it can and dies.
	dead := NewQueue(e.db, nil, discardLog, QueueConfig{Lease: time.Minute})
	if jobs, err := dead.claim(context.Background(), e.clock.Now(), 20); err != nil || len(jobs) != 20 {
		t.Fatalf("claim: %d %v", len(jobs), err)
	}
	for e.process(t) > 0 {
	}
	if n := len(e.srv.Messages()); n != 10 {
		t.Fatalf("delivered %d of the unclaimed 10", n)
	}
	e.clock.Add(time.Minute)
	for e.process(t) > 0 {
	}
	if n := len(e.srv.Messages()); n != 30 {
		t.Fatalf("delivered %d, want all 30", n)
	}
	if s, _ := e.q.Stats(context.Background()); s != (QueueStats{Sent: 30}) {
		t.Fatalf("stats %+v", s)
	}
}

// funcTransport adapts a function for tests.
type funcTransport func(context.Context, *Message) error

func (f funcTransport) Send(ctx context.Context, m *Message) error { return f(ctx, m) }

func TestQueueShutdownReleasesClaims(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{Workers: 1})
	for _, to := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		e.enqueue(t, queued("tx", to))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var sent []string
	e.q.tr = funcTransport(func(_ context.Context, m *Message) error {
		sent = append(sent, m.To)
		cancel() // shutdown arrives while the first mail is in flight
		return nil
	})
	if err := e.q.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 {
		t.Fatalf("sent %v after shutdown", sent)
	}
	var statuses []string
	rows, err := e.db.QueryContext(context.Background(), `SELECT status || ':' || attempts || ':' || coalesce(lease_owner, '-') || ':' || (next_attempt_at <= ?) FROM mail_queue ORDER BY id`, t0.Unix())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		statuses = append(statuses, s)
	}
	// The in-flight mail is recorded; the others are free and due at once.
	if got := strings.Join(statuses, " "); got != "sent:1:-:0 queued:0:-:1 queued:0:-:1" {
		t.Fatalf("rows = %s", got)
	}
}

func TestQueueDeleteForSubscriber(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	ctx := context.Background()
	var sub int64
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES ('p@example.org', 'p@example.org', 'active', 0, 0) RETURNING id`).Scan(&sub)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := queued("welcome", "p@example.org")
	m.SubscriberID = sub
	sentID := e.enqueue(t, m)
	e.process(t)
	m.Kind = "flow"
	queuedID := e.enqueue(t, m)
	other := e.enqueue(t, queued("tx", "other@example.org"))
	err = e.db.Tx(ctx, func(tx *store.Tx) error { return e.q.DeleteForSubscriber(ctx, tx, sub) })
	if err != nil {
		t.Fatal(err)
	}
	if r := e.row(t, sentID); r.status != "sent" || r.recipient != "" || r.message.Valid || r.subscriberID.Valid {
		t.Fatalf("sent row not anonymised: %+v", r)
	}
	var n int
	e.db.QueryRowContext(ctx, `SELECT count(*) FROM mail_queue WHERE id = ?`, queuedID).Scan(&n)
	if n != 0 {
		t.Fatal("unsent mail to an erased subscriber survived")
	}
	if r := e.row(t, other); r.recipient != "other@example.org" {
		t.Fatal("erase touched another recipient's mail")
	}
}

func TestQueueThroughOutbox(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	e.q.tr = NewOutbox(e.db, discardLog)
	e.enqueue(t, queued("test", "t@example.org"))
	e.process(t)
	list, err := e.q.tr.(*Outbox).List(context.Background(), 10, 0)
	if err != nil || len(list) != 1 || list[0].Recipient != "t@example.org" || list[0].Kind != "test" {
		t.Fatalf("outbox %v %v", list, err)
	}
}

func TestQueueDropMarketingKeepsTransactional(t *testing.T) {
	e := newQueueEnv(t, QueueConfig{})
	ctx := context.Background()
	var sub int64
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES ('p@example.org', 'p@example.org', 'active', 0, 0) RETURNING id`).Scan(&sub)
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, kind := range []string{"welcome", "flow", "confirm", "tx"} {
		m := queued(kind, "p@example.org")
		m.SubscriberID = sub
		ids[kind] = e.enqueue(t, m)
	}
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return e.q.DropMarketing(ctx, tx, sub) }); err != nil {
		t.Fatal(err)
	}
	for kind, id := range ids {
		var n int
		e.db.QueryRowContext(ctx, `SELECT count(*) FROM mail_queue WHERE id = ?`, id).Scan(&n)
		if want := map[string]int{"welcome": 0, "flow": 0, "confirm": 1, "tx": 1}[kind]; n != want {
			t.Errorf("%s mail: %d rows after the unsubscribe, want %d", kind, n, want)
		}
	}
}
