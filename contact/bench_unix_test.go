//go:build unix

package contact_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// cpuNanos is the process's user and system CPU time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkCheck checks a batch of 1,000 subscribers against a log of
// 1,000,000 mails (200,000 subscribers, 5 each over the week), as a campaign
// batch does.
func BenchmarkCheck(b *testing.B) {
	db := storetest.Open(b)
	ctx := context.Background()
	now := at("2026-05-08 10:00")
	const subs, per = 200_000, 5
	err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO contact_log (subscriber_id, sent_at, campaign_id)
			SELECT i % ?, ? - (i / ?) * 86400 - 3600, i / ? FROM n`,
			subs*per-1, subs, now.Unix(), subs, subs)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	var rows int
	db.QueryRowContext(ctx, `SELECT count(*) FROM contact_log`).Scan(&rows)
	if rows != subs*per {
		b.Fatalf("%d rows", rows)
	}
	p := contact.Default(berlin)
	ids := make([]int64, 1000)
	b.ResetTimer()
	cpu0 := cpuNanos()
	for i := range b.N {
		base := int64(i*1000) % (subs - 1000)
		for j := range ids {
			ids[j] = base + int64(j)
		}
		bt, err := p.Check(ctx, db, ids, now, 0)
		if err != nil {
			b.Fatal(err)
		}
		held := 0
		for _, id := range ids {
			if _, h := bt.Held(id); h {
				held++
			}
		}
		if held != len(ids) {
			b.Fatalf("%d held, want all (%d mails this week)", held, per)
		}
	}
	// CPU time, unlike wall time, means something on a shared machine.
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N)/1e6, "cpu-ms/batch")
}
