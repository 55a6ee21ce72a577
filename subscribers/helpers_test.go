package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// testQueue stands in for the mailer's durable queue: it writes the message
// into a table inside the caller's transaction, so a rollback drops it as the
// real queue's would.
type testQueue struct {
	fail error // returned by Enqueue when set
}

func (q *testQueue) Enqueue(ctx context.Context, tx *store.Tx, m *Message) (int64, error) {
	if q.fail != nil {
		return 0, q.fail
	}
	if err := m.Validate(); err != nil {
		return 0, err
	}
	b, _ := json.Marshal(m)
	res, err := tx.ExecContext(ctx, `INSERT INTO test_queue (subscriber_id, kind, message) VALUES (?, ?, ?)`,
		m.SubscriberID, m.Kind, string(b))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (q *testQueue) DeleteForSubscriber(ctx context.Context, tx *store.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM test_queue WHERE subscriber_id = ?`, id)
	return err
}

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

type env struct {
	t     testing.TB
	ctx   context.Context
	db    *store.DB
	svc   *Service
	q     *testQueue
	clock *clock
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t testing.TB) *env {
	t.Helper()
	db := storetest.Open(t)
	ctx := context.Background()
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE test_queue (id INTEGER PRIMARY KEY, subscriber_id INTEGER, kind TEXT, message TEXT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	db.Now = c.Now
	q := &testQueue{}
	svc, err := New(db, q, Config{
		BaseURL:  "https://news.shop.example/",
		From:     "news@shop.example",
		FromName: "Shop",
		ShopName: "Beispiel-Shop",
		Footer:   Footer{Impressum: "Beispiel GmbH\nHauptstr. 1\n12345 Berlin"},
		Secret:   testSecret,
		Erasers:  []Eraser{q},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, db: db, svc: svc, q: q, clock: c}
}

func (e *env) enroll(in EnrollInput) Subscriber {
	e.t.Helper()
	s, _, err := e.svc.Enroll(e.ctx, in, Meta{IP: "192.0.2.1", UserAgent: "shop/1.0", Channel: ChannelAPI})
	if err != nil {
		e.t.Fatalf("enroll %s: %v", in.Email, err)
	}
	return s
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// mails returns the queued messages of a subscriber and kind, oldest first.
func (e *env) mails(id int64, kind string) []Message {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.ctx, `SELECT message FROM test_queue WHERE subscriber_id = ? AND kind = ? ORDER BY id`, id, kind)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var s string
		var m Message
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

var confirmLink = regexp.MustCompile(`https://news\.shop\.example/confirm/([A-Za-z0-9_-]+)`)

// confirmToken returns the token of the last confirmation mail of id.
func (e *env) confirmToken(id int64) string {
	e.t.Helper()
	ms := e.mails(id, "confirm")
	if len(ms) == 0 {
		e.t.Fatalf("no confirmation mail for %d", id)
	}
	m := confirmLink.FindStringSubmatch(ms[len(ms)-1].Text)
	if m == nil {
		e.t.Fatalf("no link in confirmation mail: %s", ms[len(ms)-1].Text)
	}
	return m[1]
}

func (e *env) consents(id int64) []Consent {
	e.t.Helper()
	cs, err := loadConsents(e.ctx, e.db, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func actions(cs []Consent) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Action+"/"+c.Channel)
	}
	return out
}

func wantKind(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s", want)
	}
	if got := kindName(err); got != want {
		t.Fatalf("error %v is %s; want %s", err, got, want)
	}
}

func kindName(err error) string {
	for _, k := range []struct {
		is   error
		name string
	}{{ErrTokenExpired, "expired"}, {ErrTokenInvalid, "invalid"}} {
		if errors.Is(err, k.is) {
			return k.name
		}
	}
	return errKindName(err)
}

type atomicCounter struct{ v atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.v.Add(1) }
