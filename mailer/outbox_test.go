package mailer

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store/storetest"
)

func TestOutboxCapturesListsAndParses(t *testing.T) {
	db := storetest.Open(t)
	o := NewOutbox(db, discardLog)
	ctx := context.Background()
	for i := range 5 {
		m := msgTo(fmt.Sprintf("o%d@example.org", i))
		m.Kind = "campaign"
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	page, err := o.List(ctx, 2, 0)
	if err != nil || len(page) != 2 || page[0].Recipient != "o4@example.org" || page[1].Recipient != "o3@example.org" {
		t.Fatalf("first page %v %v", page, err)
	}
	next, err := o.List(ctx, 2, page[1].ID)
	if err != nil || len(next) != 2 || next[0].Recipient != "o2@example.org" {
		t.Fatalf("second page %v %v", next, err)
	}
	got, err := o.Get(ctx, page[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != testMessage().Subject || got.Parsed.Subject != got.Subject || got.Parsed.HTML == "" ||
		got.Parsed.Header.Get("List-Unsubscribe-Post") == "" || len(got.Raw) == 0 || got.Kind != "campaign" {
		t.Fatalf("get: %+v", got.OutboxMail)
	}
	if _, err := o.Get(ctx, 999); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing mail: %v", err)
	}
	if err := o.Send(ctx, msgTo("broken")); !errs.Is(err, errs.Invalid) {
		t.Fatalf("invalid mail: %v", err)
	}
}

func TestOutboxGroupCommitsConcurrentSends(t *testing.T) {
	db := storetest.Open(t)
	o := NewOutbox(db, discardLog)
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() { errc <- o.Send(ctx, msgTo(fmt.Sprintf("g%d@example.org", i))) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := o.SendBatch(ctx, []*Message{msgTo("b1@example.org"), msgTo("b2@example.org")}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(DISTINCT recipient) FROM outbox`).Scan(&n); err != nil || n != 202 {
		t.Fatalf("rows = %d, %v", n, err)
	}
	// All or nothing: one bad mail stores none of the batch.
	if err := o.SendBatch(ctx, []*Message{msgTo("b3@example.org"), msgTo("bad")}); err == nil {
		t.Fatal("batch with an invalid mail accepted")
	}
}

func BenchmarkOutboxSend(b *testing.B) {
	db := storetest.Open(b)
	o := NewOutbox(db, discardLog)
	m := benchMessage()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := o.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
