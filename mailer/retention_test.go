package mailer

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// Old sent, failed and captured mail is pruned at the retention cutoff, at
// the time the scheduler passes; queued mail and newer mail stay.
func TestPruneOldMail(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := NewQueue(db, nil, log, QueueConfig{})
	o := NewOutbox(db, log)
	day := int64(24 * 3600)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old, recent := now.Unix()-31*day, now.Unix()-29*day
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for _, r := range []struct {
			status  string
			created int64
			sent    any
		}{
			{"sent", old, old}, {"sent", recent - day, recent}, {"failed", old, nil}, {"failed", recent, nil},
			{"queued", old, nil}, // queued mail is never pruned, however old
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO mail_queue (kind, recipient, status, next_attempt_at, created_at, sent_at)
				VALUES ('tx', 'a@example.com', ?, 0, ?, ?)`, r.status, r.created, r.sent); err != nil {
				return err
			}
		}
		for _, c := range []int64{old, old + 1, recent, old} { // ids grow with time but not strictly
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (recipient, subject, raw, created_at) VALUES ('a@example.com', 's', 'x', ?)`, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.Prune(ctx, now, 30*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("queue pruned %d rows (%v), want 2", n, err)
	}
	var left []string
	rows, _ := db.Query(`SELECT status FROM mail_queue ORDER BY id`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	rows.Close()
	if len(left) != 3 || left[0] != "sent" || left[1] != "failed" || left[2] != "queued" {
		t.Fatalf("left: %v", left)
	}
	if n, err = o.Prune(ctx, now, 30*24*time.Hour); err != nil || n != 3 {
		t.Fatalf("outbox pruned %d (%v), want 3", n, err)
	}
	// A month later, everything done is gone.
	if n, err = q.Prune(ctx, now.Add(31*24*time.Hour), 30*24*time.Hour); err != nil || n != 2 {
		t.Fatalf("second prune %d (%v), want 2", n, err)
	}
}
