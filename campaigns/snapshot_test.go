package campaigns

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

func execT(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	if err := db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// The chunked start keeps exactly the audience of the start: someone who
// enrolls while the copy is under way is not taken; someone who leaves while
// it is under way keeps a delivery row, which the send skips with the reason.
func TestSnapshotChunksKeepAudienceOfStart(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	ctx := context.Background()
	n := 3*SnapshotChunk + 17
	seed(t, h.db, activePeople(n))
	c := mustCreate(t, h.e, Input{Subject: "Hallo", Markdown: personalMarkdown})

	var chunks []int64
	snapshotHook = func(id, copied int64) bool {
		if len(chunks) == 0 {
			// While the copy is under way: one new person enrolls and
			// confirms, one already copied and one not yet copied leave.
			seed(t, h.db, []person{{email: "neu@example.com", name: "Neu", status: "active", listStatus: "active", city: "Berlin"}})
			execT(t, h.db, `UPDATE subscribers SET status = 'unsubscribed' WHERE id IN (1, ?)`, n)
		}
		chunks = append(chunks, copied)
		return true
	}
	t.Cleanup(func() { snapshotHook = nil })
	got, err := h.e.Start(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 || chunks[0] != SnapshotChunk {
		t.Fatalf("copied in chunks %v, want several, the first of %d", chunks, SnapshotChunk)
	}
	if got.Status != Running || got.Stats.Audience != int64(n) {
		t.Fatalf("after start: status %s audience %d, want running %d", got.Status, got.Stats.Audience, n)
	}
	var newcomer int
	h.db.QueryRow(`SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'neu@example.com'`).Scan(&newcomer)
	if newcomer != 0 {
		t.Fatal("someone who enrolled during the start was taken into its audience")
	}
	h.run(t)
	h.wait(t, c.ID, Finished)
	counts := h.deliveryCounts(t, c.ID)
	if counts["sent"] != n-2 || counts["skipped"] != 2 {
		t.Fatalf("deliveries %v, want %d sent and the 2 leavers skipped", counts, n-2)
	}
	var reason string
	h.db.QueryRow(`SELECT reply FROM deliveries WHERE campaign_id = ? AND subscriber_id = ?`, c.ID, n).Scan(&reason)
	if reason != "unsubscribed" {
		t.Fatalf("leaver's delivery says %q", reason)
	}
}

// A campaign cannot finish while its copy is under way, even when every row
// copied so far has been sent; an empty audience finishes at once.
func TestSnapshotEmptyAudienceFinishes(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	c := mustCreate(t, h.e, Input{Subject: "Hallo", Markdown: personalMarkdown})
	got, err := h.e.Start(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Finished || got.Stats.Audience != 0 {
		t.Fatalf("empty audience: %s %d", got.Status, got.Stats.Audience)
	}
}

// Cancel during the copy stops it: no rows are added after the cancel.
func TestSnapshotStopsOnCancel(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	ctx := context.Background()
	seed(t, h.db, activePeople(3*SnapshotChunk))
	c := mustCreate(t, h.e, Input{Subject: "Hallo", Markdown: personalMarkdown})
	snapshotHook = func(id, copied int64) bool {
		if _, err := h.e.Cancel(ctx, id); err != nil {
			t.Error(err)
		}
		return true
	}
	t.Cleanup(func() { snapshotHook = nil })
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	counts := h.deliveryCounts(t, c.ID)
	if counts["cancelled"] != SnapshotChunk || len(counts) != 1 {
		t.Fatalf("deliveries after a cancel in the copy: %v", counts)
	}
	var upto *int64
	h.db.QueryRow(`SELECT snapshot_upto FROM campaigns WHERE id = ?`, c.ID).Scan(&upto)
	if upto != nil {
		t.Fatal("cancelled copy still marked under way")
	}
}

// A copy whose process died is taken over by Tick once its lease ran out:
// the rows already written stay, the rest is added, nobody twice, and the
// campaign then sends to everyone.
func TestSnapshotResumesAfterCrash(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	ctx := context.Background()
	n := 2*SnapshotChunk + 5
	seed(t, h.db, activePeople(n))
	c := mustCreate(t, h.e, Input{Subject: "Hallo", Markdown: personalMarkdown})
	snapshotHook = func(id, copied int64) bool { return false } // "crash" after the first chunk
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	snapshotHook = nil
	// Someone enrolling after the start is not taken by the resumed copy either.
	seed(t, h.db, []person{{email: "spaet@example.com", name: "Spät", status: "active", listStatus: "active", city: "Berlin"}})
	if err := h.e.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := h.deliveryCounts(t, c.ID)["pending"]; got != SnapshotChunk {
		t.Fatalf("a copy with a live lease was taken over: %d rows", got)
	}
	if err := h.e.Tick(ctx, time.Now().Add(2*snapshotLease)); err != nil {
		t.Fatal(err)
	}
	got, err := h.e.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.Audience != int64(n) {
		t.Fatalf("audience after the resumed copy: %d, want %d", got.Stats.Audience, n)
	}
	var rows, distinct int
	h.db.QueryRow(`SELECT count(*), count(DISTINCT subscriber_id) FROM deliveries WHERE campaign_id = ?`, c.ID).Scan(&rows, &distinct)
	if rows != n || distinct != n {
		t.Fatalf("deliveries %d (%d distinct), want %d", rows, distinct, n)
	}
	h.run(t)
	h.wait(t, c.ID, Finished)
	if s := h.deliveryCounts(t, c.ID); s["sent"] != n {
		t.Fatalf("after resume: %v", s)
	}
}

// BenchmarkStartWriterLatency starts a campaign to an audience of
// TREU_BENCH_START (default 200,000; `make bench` uses 1,000,000) while 8
// shop clients enroll people (an enrollment's writes, 25/s each, 200/s in
// all), and reports their p99 and max latency during the start beside the
// same clients' p99 for a second before it (p99_idle_ms: the machine's own
// noise), the time to the first delivery row, and the whole start.
func BenchmarkStartWriterLatency(b *testing.B) {
	n := envInt("TREU_BENCH_START", 200_000)
	db := storetest.Open(b)
	ctx := context.Background()
	seedBulk(b, db, n)
	e := New(db, testConfig(), []Transport{nil}, fakeLinks{}, testLog())
	for b.Loop() {
		c := mustCreateB(b, e)
		var (
			mu       sync.Mutex
			lat      []time.Duration
			starting bool
			idle     []time.Duration
			stop     = make(chan struct{})
			wg       sync.WaitGroup
			first    time.Duration
			t0       time.Time
			// baseline is closed once the clients made baselineN enrollments
			// before the start (about a second at 200/s).
			baseline  = make(chan struct{})
			baselineN = 200
		)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(40 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					w0 := time.Now()
					err := db.Tx(ctx, func(tx *store.Tx) error {
						// An enrollment's writes: the person and their subscription.
						addr := fmt.Sprintf("neu%d-%d-%d@example.com", c, g, i)
						var id int64
						if err := tx.QueryRow(`INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at)
							VALUES (?1, ?1, 'Neu', 'de', '{}', 'pending', 0, 0) RETURNING id`, addr).Scan(&id); err != nil {
							return err
						}
						_, err := tx.Exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES (?, 1, 'pending', 0, 0)`, id)
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
					d := time.Since(w0)
					mu.Lock()
					if starting {
						lat = append(lat, d)
					} else {
						idle = append(idle, d)
						if len(idle) == baselineN {
							close(baseline)
						}
					}
					mu.Unlock()
				}
			}()
		}
		<-baseline // the clients' latency before the start
		mu.Lock()
		starting = true
		mu.Unlock()
		t0 = time.Now()
		snapshotHook = func(id, copied int64) bool {
			if first == 0 {
				first = time.Since(t0)
			}
			return true
		}
		if _, err := e.Start(ctx, c); err != nil {
			b.Fatal(err)
		}
		total := time.Since(t0)
		close(stop)
		wg.Wait()
		snapshotHook = nil
		if len(lat) == 0 || len(idle) == 0 {
			b.Fatal("no writes measured")
		}
		b.ReportMetric(pct(idle, 99), "p99_idle_ms")
		b.ReportMetric(pct(lat, 99), "p99_write_ms")
		b.ReportMetric(pct(lat, 100), "max_write_ms")
		b.ReportMetric(float64(first.Microseconds())/1000, "first_chunk_ms")
		b.ReportMetric(total.Seconds(), "start_s")
	}
}

// pct is the p-th percentile of ds in milliseconds (100: the max).
func pct(ds []time.Duration, p int) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := min(len(ds)*p/100, len(ds)-1)
	return float64(ds[i].Microseconds()) / 1000
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
