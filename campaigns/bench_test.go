package campaigns

import (
	"context"
	"testing"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// seedBulk inserts n active newsletter subscribers set-based, as treubench does.
func seedBulk(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	err := db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at)
			SELECT 'kunde' || i || '@example.com', 'kunde' || i || '@example.com', 'Kim Muster' || i, 'de',
				json_object('city', 'Berlin'), 'active', 0, 0 FROM seq`, n)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT id, 1, 'active', 0, 0 FROM subscribers`)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkClaimBatch: one claim of BatchSize deliveries (UPDATE ... RETURNING
// plus the recipients' rows and the suppression check) and the recording of
// their results (one transaction). Reported per delivery.
func BenchmarkClaimBatch(b *testing.B) { benchClaim(b, nil) }

// BenchmarkClaimBatchContact: the same with the contact policy's check and
// log (one more write transaction per batch); nobody is capped.
func BenchmarkClaimBatchContact(b *testing.B) {
	benchClaim(b, &contact.Policy{PerDay: 1000, PerWeek: 1000, Location: time.UTC})
}

func benchClaim(b *testing.B, policy *contact.Policy) {
	db := storetest.Open(b)
	ctx := context.Background()
	const audience = 200_000
	seedBulk(b, db, audience)
	cfg := testConfig()
	cfg.BatchSize = 500
	cfg.Contact = policy
	e := New(db, cfg, []Transport{nil}, fakeLinks{}, testLog())
	c := mustCreateB(b, e)
	if _, err := e.Start(ctx, c); err != nil {
		b.Fatal(err)
	}
	r, err := e.loadRun(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]result, 0, cfg.BatchSize)
	b.ResetTimer()
	cpu := startCPU()
	claimed := 0
	for b.Loop() {
		items, done, err := e.claim(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		if len(items) == 0 {
			b.StopTimer() // the audience is used up: start over
			db.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(`UPDATE deliveries SET status = 'pending' WHERE campaign_id = ?`, c)
				return err
			})
			b.StartTimer()
			continue
		}
		buf = append(buf[:0], done...)
		for _, it := range items {
			buf = append(buf, result{delivery: it.delivery, kind: resSent})
		}
		e.record(buf)
		e.inflight.Add(-int64(len(buf)))
		claimed += len(buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(claimed, 1)), "ns/delivery")
	cpu.report(b)
}

func mustCreateB(b *testing.B, e *Engine) int64 {
	c, err := e.Create(context.Background(), Input{Subject: "Hallo {{ .FirstName }}", Markdown: personalMarkdown})
	if err != nil {
		b.Fatal(err)
	}
	return c.ID
}

// BenchmarkSendPipeline: a whole send of b.N recipients through the engine,
// the mailer's SMTP pool and a real (discarding) SMTP server on loopback.
func BenchmarkSendPipeline(b *testing.B) { benchSend(b, nil) }

// BenchmarkSendPipelineVERP: the same with a signed VERP return path per
// delivery (package feedback), to keep its cost in view.
func BenchmarkSendPipelineVERP(b *testing.B) {
	v, err := feedback.NewVERP([]byte("0123456789abcdef0123456789abcdef"), "bounce.shop.example")
	if err != nil {
		b.Fatal(err)
	}
	benchSend(b, v.Delivery)
}

func benchSend(b *testing.B, returnPath func(campaignID, deliveryID, subscriberID int64) string) {
	n := max(b.N, 1000)
	db := storetest.Open(b)
	seedBulk(b, db, n)
	snk := newSink(b, func(s *sink) { s.keepRaw = false })
	cfg := testConfig()
	cfg.BatchSize = 500
	cfg.ReturnPath = returnPath
	e := New(db, cfg, []Transport{snk.smtpTransport(b, 8)}, fakeLinks{}, testLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	c := mustCreateB(b, e)
	b.ResetTimer()
	t0 := time.Now()
	if _, err := e.Start(ctx, c); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Wait(ctx, c); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	b.StopTimer()
	cancel()
	<-done
	if got := snk.count.Load(); got != int64(n) {
		b.Fatalf("sink got %d, want %d", got, n)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
}
