package feedback

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/subscribers"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

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
	subs  *subscribers.Service
	fb    *Service
	clock *clock
	verp  *VERP
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := storetest.Open(t)
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	db.Now = c.Now
	log := slog.New(slog.DiscardHandler)
	q := mailer.NewQueue(db, mailer.NewOutbox(db, log), log, mailer.QueueConfig{})
	subs, err := subscribers.New(db, q, subscribers.Config{
		BaseURL: "https://news.shop.example", From: "news@shop.example", ShopName: "Shop",
		Secret: testSecret, Erasers: []subscribers.Eraser{q},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { subs.Close() })
	v, err := NewVERP(testSecret, "bounce.shop.example")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), db: db, subs: subs, clock: c, verp: v,
		fb: New(db, subs, Config{}, log)}
}

// active enrolls email as an active subscriber on the newsletter list.
func (e *env) active(email string) subscribers.Subscriber {
	e.t.Helper()
	no := false
	sub, _, err := e.subs.Enroll(e.ctx, subscribers.EnrollInput{Email: email, DoubleOptIn: &no,
		Consent: &subscribers.ConsentInput{Text: "Ja, Newsletter.", IP: "203.0.113.7", Source: "test"}},
		subscribers.Meta{Channel: subscribers.ChannelAPI})
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}

func (e *env) status(ref string) string {
	e.t.Helper()
	sub, err := e.subs.Get(e.ctx, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub.Status
}

func (e *env) suppressed(email string) string {
	e.t.Helper()
	// Read directly: subscribers.Suppressed arrives with the lead's marketing.go.
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	var reason string
	err := e.db.QueryRowContext(e.ctx, `SELECT reason FROM suppressions WHERE email_hash = ?`, hex.EncodeToString(sum[:])).Scan(&reason)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		e.t.Fatal(err)
	}
	return reason
}

func (e *env) record(r Report) Outcome {
	e.t.Helper()
	out, err := e.fb.Record(e.ctx, r)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}
