package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func setup(tb testing.TB) (*store.DB, *events.Service, *time.Time) {
	tb.Helper()
	db := storetest.Open(tb)
	now := t0
	db.Now = func() time.Time { return now }
	return db, events.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), events.Config{}), &now
}

func addSubscriber(tb testing.TB, db *store.DB, email string) int64 {
	tb.Helper()
	var id int64
	err := db.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES (?, lower(?), 'active', ?, ?) RETURNING id`, email, email, tx.Now.Unix(), tx.Now.Unix()).Scan(&id)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func ingest(tb testing.TB, s *events.Service, body string) string {
	tb.Helper()
	id, err := s.Ingest(context.Background(), []byte(body))
	if err != nil {
		tb.Fatalf("ingest %s: %v", body, err)
	}
	return id
}

func TestParseNamesTheField(t *testing.T) {
	for _, tc := range []struct{ name, body, field string }{
		{"no type", `{"email":"a@b.de"}`, "type"},
		{"bad type", `{"type":"Cart Gone","email":"a@b.de"}`, "type"},
		{"double dot", `{"type":"order..shipped","email":"a@b.de"}`, "type"},
		{"custom with cart", `{"type":"cart.gone","email":"a@b.de","cart":{"id":"c"}}`, "cart"},
		{"custom with order", `{"type":"order.shipped","email":"a@b.de","order":{"id":"o"}}`, "order"},
		{"data not an object", `{"type":"order.shipped","email":"a@b.de","data":[1]}`, "data"},
		{"bad email", `{"type":"cart.cleared","email":"nope","cart":{"id":"c"}}`, "email"},
		{"no cart", `{"type":"cart.updated","email":"a@b.de"}`, "cart"},
		{"no cart id", `{"type":"cart.cleared","email":"a@b.de","cart":{}}`, "cart.id"},
		{"currency", `{"type":"cart.updated","email":"a@b.de","cart":{"id":"c","currency":"eur","total":1}}`, "cart.currency"},
		{"negative price", `{"type":"cart.updated","email":"a@b.de","cart":{"id":"c","currency":"EUR","total":1,"items":[
			{"sku":"a","name":"A","price":1,"quantity":1},{"sku":"b","name":"B","price":2,"quantity":1},{"sku":"c","name":"C","price":-3,"quantity":1}]}}`, "cart.items[2].price"},
		{"zero quantity", `{"type":"cart.updated","email":"a@b.de","cart":{"id":"c","currency":"EUR","total":1,"items":[{"sku":"a","name":"A","price":1,"quantity":0}]}}`, "cart.items[0].quantity"},
		{"item url", `{"type":"cart.updated","email":"a@b.de","cart":{"id":"c","currency":"EUR","total":1,"items":[{"sku":"a","name":"A","price":1,"quantity":1,"url":"javascript:alert(1)"}]}}`, "cart.items[0].url"},
		{"order total", `{"type":"order.placed","email":"a@b.de","order":{"id":"o","currency":"EUR","total":1e12}}`, "order.total"},
		{"order id", `{"type":"order.placed","email":"a@b.de","order":{"currency":"EUR","total":1}}`, "order.id"},
		{"wrong json type", `{"type":"order.placed","email":"a@b.de","order":{"id":"o","currency":"EUR","total":"12"}}`, "order.total"},
		{"occurred_at", `{"type":"cart.cleared","email":"a@b.de","occurred_at":"yesterday","cart":{"id":"c"}}`, "occurred_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.Parse([]byte(tc.body))
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Field != tc.field {
				t.Fatalf("err = %#v, want Invalid on %q", err, tc.field)
			}
		})
	}
	if _, err := events.Parse([]byte(`{"type":`)); !errs.Is(err, errs.Malformed) {
		t.Errorf("truncated JSON: %v, want Malformed", err)
	}
	big := `{"type":"cart.cleared","email":"a@b.de","cart":{"id":"c"},"x":"` + strings.Repeat("x", events.MaxBody) + `"}`
	if _, err := events.Parse([]byte(big)); !errs.Is(err, errs.TooLarge) {
		t.Errorf("big body: %v, want TooLarge", err)
	}
}

func cartUpdated(id, email, cart string, at time.Time, price float64) string {
	return fmt.Sprintf(`{"type":"cart.updated","id":%q,"email":%q,"occurred_at":%q,"cart":{"id":%q,"url":"https://shop.example/cart/%s","currency":"EUR","total":%g,
		"items":[{"sku":"S1","name":"Wollsocken","price":%g,"quantity":2,"url":"https://shop.example/p/s1","image_url":"https://shop.example/i/s1.jpg"}]}}`,
		id, email, at.Format(time.RFC3339), cart, cart, price*2, price)
}

func orderPlaced(id, email, order, cart string, at time.Time, total float64) string {
	return fmt.Sprintf(`{"type":"order.placed","id":%q,"email":%q,"occurred_at":%q,"order":{"id":%q,"cart_id":%q,"currency":"EUR","total":%g}}`,
		id, email, at.Format(time.RFC3339), order, cart, total)
}

func TestCartAndOrderApplied(t *testing.T) {
	db, s, _ := setup(t)
	ctx := context.Background()
	sub := addSubscriber(t, db, "Anna@Example.de")

	ingest(t, s, cartUpdated("e1", "anna@example.de", "c1", t0.Add(-time.Hour), 9.5))
	c, err := events.CartByID(ctx, db, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.SubscriberID != sub || c.Status != events.StatusOpen || len(c.Items) != 1 || c.Items[0].Quantity != 2 || !c.UpdatedAt.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("cart = %+v", c)
	}
	// An older update that arrives late changes nothing.
	ingest(t, s, cartUpdated("e0", "anna@example.de", "c1", t0.Add(-2*time.Hour), 1))
	if c, _ := events.CartByID(ctx, db, "c1"); c.Items[0].Price != 9.5 {
		t.Fatalf("stale update applied: %+v", c)
	}

	ingest(t, s, orderPlaced("e2", "anna@example.de", "o1", "c1", t0.Add(-30*time.Minute), 19))
	ingest(t, s, orderPlaced("e3", "anna@example.de", "o1", "c1", t0.Add(-30*time.Minute), 19)) // same order, new event id
	ingest(t, s, orderPlaced("e4", "anna@example.de", "o2", "", t0.Add(-10*time.Minute), 5.5))
	ingest(t, s, orderPlaced("e4", "anna@example.de", "o3", "", t0, 1000)) // same event id: ignored

	var n int
	var total float64
	var first, last int64
	if err := db.QueryRowContext(ctx, `SELECT order_count, order_total, first_order_at, last_order_at FROM subscribers WHERE id = ?`, sub).
		Scan(&n, &total, &first, &last); err != nil {
		t.Fatal(err)
	}
	if n != 2 || total != 24.5 || first != t0.Add(-30*time.Minute).Unix() || last != t0.Add(-10*time.Minute).Unix() {
		t.Fatalf("figures = %d %g %d %d", n, total, first, last)
	}
	if c, _ := events.CartByID(ctx, db, "c1"); c.Status != events.StatusOrdered {
		t.Fatalf("cart status = %s, want ordered", c.Status)
	}
	// A cart.updated from before the order, arriving after it, does not reopen the cart.
	ingest(t, s, cartUpdated("e5", "anna@example.de", "c1", t0.Add(-45*time.Minute), 9.5))
	if c, _ := events.CartByID(ctx, db, "c1"); c.Status != events.StatusOrdered {
		t.Fatalf("late update reopened the cart: %s", c.Status)
	}
	ok, err := events.OrderedSince(ctx, db, sub, "other", t0.Add(-15*time.Minute))
	if err != nil || !ok {
		t.Fatalf("OrderedSince = %v, %v", ok, err)
	}
	ok, _ = events.OrderedSince(ctx, db, sub, "other", t0.Add(time.Minute))
	if ok {
		t.Fatal("OrderedSince after the last order = true")
	}
}

func TestClearedCart(t *testing.T) {
	db, s, _ := setup(t)
	ctx := context.Background()
	addSubscriber(t, db, "b@example.de")
	ingest(t, s, cartUpdated("e1", "b@example.de", "c1", t0.Add(-time.Hour), 3))
	ingest(t, s, `{"type":"cart.cleared","email":"b@example.de","cart":{"id":"c1"}}`)
	c, err := events.CartByID(ctx, db, "c1")
	if err != nil || c.Status != events.StatusCleared || len(c.Items) != 0 {
		t.Fatalf("cart = %+v, %v", c, err)
	}
	due, err := events.DueCarts(ctx, db, t0.Add(-24*time.Hour), t0, time.Time{}, "", 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("due = %v, %v", due, err)
	}
}

func TestUnknownAddressLinkedLater(t *testing.T) {
	db, s, now := setup(t)
	ctx := context.Background()
	ingest(t, s, orderPlaced("e1", "new@example.de", "o1", "", t0.Add(-time.Hour), 40))
	ingest(t, s, cartUpdated("e2", "new@example.de", "c1", t0.Add(-time.Minute), 2))
	sub := addSubscriber(t, db, "new@example.de")
	if err := db.Tx(ctx, func(tx *store.Tx) error { return events.Link(ctx, tx, sub) }); err != nil {
		t.Fatal(err)
	}
	var n int
	var total float64
	db.QueryRowContext(ctx, `SELECT order_count, order_total FROM subscribers WHERE id = ?`, sub).Scan(&n, &total)
	if n != 1 || total != 40 {
		t.Fatalf("figures after link = %d %g", n, total)
	}
	if c, _ := events.CartByID(ctx, db, "c1"); c.SubscriberID != sub {
		t.Fatalf("cart not linked: %+v", c)
	}
	// Unlinked rows of another address go after the retention.
	ingest(t, s, orderPlaced("e3", "ghost@example.de", "o9", "", t0, 1))
	*now = t0.Add(31 * 24 * time.Hour)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	db.QueryRowContext(ctx, `SELECT count(*) FROM shop_orders WHERE email_key = 'ghost@example.de'`).Scan(&n)
	if n != 0 {
		t.Fatal("unlinked order survived the retention")
	}
	db.QueryRowContext(ctx, `SELECT count(*) FROM shop_orders WHERE subscriber_id = ?`, sub).Scan(&n)
	if n != 1 {
		t.Fatal("linked order was pruned")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(cartUpdated("e1", "a@b.de", "c1", t0, 1.5)))
	f.Add([]byte(orderPlaced("e1", "a@b.de", "o1", "c1", t0, 10)))
	f.Add([]byte(`{"type":"cart.cleared","email":"a@b.de","occurred_at":1767366245,"cart":{"id":"c"}}`))
	f.Add([]byte(`{"type":"cart.updated","email":"a@b.de","cart":{"id":"c","currency":"EUR","total":1,"items":[{"price":1e400}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"type":"order.shipped","email":"a@b.de","data":{"tracking":{"url":"https://x.example/t"}}}`))
	f.Add([]byte(`{"type":"a.","email":"a@b.de","data":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := events.Parse(raw)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		if ev.Validate() != nil { // a parsed event stays valid
			t.Fatal("parsed event fails Validate")
		}
	})
}

// BenchmarkIngest reports events/s for a mix of cart updates and orders of
// known subscribers, from 8 concurrent callers (HTTP handlers).
func BenchmarkIngest(b *testing.B) {
	db, s, _ := setup(b)
	ctx := context.Background()
	for i := range 1000 {
		addSubscriber(b, db, fmt.Sprintf("u%d@example.de", i))
	}
	bodies := make([]string, 4096)
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			var body string
			if i%4 == 0 {
				body = orderPlaced(fmt.Sprintf("b%d", i), fmt.Sprintf("u%d@example.de", i%1000), fmt.Sprintf("o%d", i), fmt.Sprintf("c%d", i%5000), t0, 42)
			} else {
				body = cartUpdated(fmt.Sprintf("b%d", i), fmt.Sprintf("u%d@example.de", i%1000), fmt.Sprintf("c%d", i%5000), t0.Add(time.Duration(i)), 9.99)
			}
			if _, err := s.Ingest(ctx, []byte(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	_ = bodies
}

func BenchmarkIngestSerial(b *testing.B) {
	db, s, _ := setup(b)
	ctx := context.Background()
	for i := range 1000 {
		addSubscriber(b, db, fmt.Sprintf("u%d@example.de", i))
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		body := cartUpdated(fmt.Sprintf("b%d", i), fmt.Sprintf("u%d@example.de", i%1000), fmt.Sprintf("c%d", i%5000), t0, 9.99)
		if _, err := s.Ingest(ctx, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// Concurrent events are group-committed: each caller gets its own outcome, a
// failing event fails alone, a repeated id is stored once and an order is
// counted once.
func TestConcurrentIngest(t *testing.T) {
	db, s, _ := setup(t)
	ctx := context.Background()
	sub := addSubscriber(t, db, "a@example.de")
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TRIGGER test_fail BEFORE INSERT ON shop_events
			WHEN NEW.event_id LIKE 'bad%' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var failed, wrongly atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("e%d", i) // every worker sends the same ids
				body := orderPlaced(id, "a@example.de", fmt.Sprintf("o%d", i), "", t0.Add(-time.Hour), 1)
				if i%10 == 3 {
					body = cartUpdated(fmt.Sprintf("bad%d-%d", w, i), "a@example.de", "c1", t0, 1)
				}
				_, err := s.Ingest(ctx, []byte(body))
				switch {
				case i%10 == 3 && err != nil:
					failed.Add(1)
				case err != nil:
					wrongly.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != workers*each/10 || wrongly.Load() != 0 {
		t.Fatalf("failed %d (want %d), wrongly failed %d", failed.Load(), workers*each/10, wrongly.Load())
	}
	var nEvents, orders, count int
	db.QueryRowContext(ctx, `SELECT count(*) FROM shop_events`).Scan(&nEvents)
	db.QueryRowContext(ctx, `SELECT count(*) FROM shop_orders`).Scan(&orders)
	db.QueryRowContext(ctx, `SELECT order_count FROM subscribers WHERE id = ?`, sub).Scan(&count)
	if want := each - each/10; nEvents != want || orders != want || count != want {
		t.Fatalf("events %d, orders %d, order_count %d; want %d each", nEvents, orders, count, want)
	}
	// A caller that gave up before its turn writes nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Ingest(cctx, []byte(orderPlaced("late", "a@example.de", "o-late", "", t0, 1))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ingest: %v", err)
	}
	db.QueryRowContext(ctx, `SELECT count(*) FROM shop_events WHERE event_id = 'late'`).Scan(&nEvents)
	if nEvents != 0 {
		t.Fatal("cancelled event was stored")
	}
}
