package retention_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type env struct {
	db    *store.DB
	ev    *events.Service
	ret   *retention.Service
	now   *time.Time
	heard []retention.Change
}

func setup(tb testing.TB) *env {
	tb.Helper()
	db := storetest.Open(tb)
	e := &env{db: db, now: new(time.Time)}
	*e.now = t0
	db.Now = func() time.Time { return *e.now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ret, err := retention.New(db, retention.Config{}, log)
	if err != nil {
		tb.Fatal(err)
	}
	e.ret = ret
	e.ev = events.New(db, log, events.Config{})
	tb.Cleanup(func() { e.ev.Close() })
	e.ev.OnOrder = func(ctx context.Context, tx *store.Tx, id int64) error {
		_, _, err := ret.Recompute(ctx, tx, id)
		return err
	}
	ret.OnChange(func(_ context.Context, _ *store.Tx, c retention.Change) error {
		e.heard = append(e.heard, c)
		return nil
	})
	return e
}

func (e *env) subscriber(tb testing.TB, email string) int64 {
	tb.Helper()
	var id int64
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES (?, lower(?), 'active', ?, ?) RETURNING id`, email, email, tx.Now.Unix(), tx.Now.Unix()).Scan(&id)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (e *env) order(tb testing.TB, email, id string, total float64) {
	tb.Helper()
	_, err := e.ev.Ingest(context.Background(), fmt.Appendf(nil,
		`{"type":"order.placed","id":"ev-%s","email":%q,"order":{"id":%q,"currency":"EUR","total":%g}}`, id, email, id, total))
	if err != nil {
		tb.Fatal(err)
	}
}

func (e *env) stage(tb testing.TB, id int64) string {
	tb.Helper()
	st, err := e.ret.Current(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Stage
}

func (e *env) pass(tb testing.TB) int {
	tb.Helper()
	n, err := e.ret.Pass(context.Background(), *e.now)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func (e *env) want(tb testing.TB, id int64, stage string) {
	tb.Helper()
	if got := e.stage(tb, id); got != stage {
		tb.Fatalf("%s: stage = %s, want %s", e.now.Format(time.DateOnly), got, stage)
	}
}

// Orders move a customer up the ladder; an answer makes them a promoter;
// time makes them lapsing, then lost; an order brings them back.
func TestLadder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	kim := e.subscriber(t, "kim@example.com")
	e.want(t, kim, retention.Prospect)

	e.order(t, "kim@example.com", "o1", 40)
	e.want(t, kim, retention.FirstTimeBuyer)

	*e.now = t0.Add(30 * day)
	e.order(t, "kim@example.com", "o2", 60)
	e.want(t, kim, retention.RepeatBuyer)
	e.order(t, "kim@example.com", "o2", 60) // the same order again: counted once
	e.want(t, kim, retention.RepeatBuyer)

	// Orders in 3 of the last 6 months, though only 3 orders: a regular.
	*e.now = t0.Add(60 * day)
	e.order(t, "kim@example.com", "o3", 20)
	e.want(t, kim, retention.Regular)

	if err := e.ret.Answer(ctx, kim, "o3", 10); err != nil {
		t.Fatal(err)
	}
	e.want(t, kim, retention.Promoter)

	// Nothing happens for a while: the daily pass moves nobody.
	*e.now = t0.Add(100 * day)
	if n := e.pass(t); n != 0 {
		t.Fatalf("pass moved %d at day 100", n)
	}
	e.want(t, kim, retention.Promoter)
	// Usual gap 30 days, so lapsing after max(2 x 30, 90) = 90 days without an order.
	*e.now = t0.Add(60*day + 90*day + time.Second)
	if n := e.pass(t); n != 1 {
		t.Fatalf("pass moved %d, want 1", n)
	}
	e.want(t, kim, retention.Lapsing)
	if n := e.pass(t); n != 0 {
		t.Fatalf("second pass at the same time moved %d", n)
	}
	*e.now = t0.Add(60*day + 365*day)
	e.pass(t)
	e.want(t, kim, retention.Lost)

	*e.now = t0.Add(500 * day)
	e.order(t, "kim@example.com", "o4", 30)
	e.want(t, kim, retention.Promoter)

	wantMoves := []string{"prospect>first_time_buyer", "first_time_buyer>repeat_buyer", "repeat_buyer>regular",
		"regular>promoter", "promoter>lapsing", "lapsing>lost", "lost>promoter"}
	hist, err := e.ret.History(ctx, kim)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(wantMoves) || len(e.heard) != len(wantMoves) {
		t.Fatalf("history %v, heard %v, want %v", hist, e.heard, wantMoves)
	}
	for i, w := range wantMoves {
		if got := hist[i].From + ">" + hist[i].To; got != w {
			t.Errorf("move %d = %s, want %s", i, got, w)
		}
		if e.heard[i] != hist[i] {
			t.Errorf("heard %v, stored %v", e.heard[i], hist[i])
		}
	}
	if !hist[4].At.Equal(t0.Add(60*day + 90*day + time.Second)) {
		t.Errorf("lapsing stored at %v", hist[4].At)
	}
}

// A one-time buyer lapses after 90 days; a regular by months only falls back
// to repeat buyer when the months slide out of the window; four orders make a
// regular however close together.
func TestTimeRules(t *testing.T) {
	e := setup(t)
	one := e.subscriber(t, "one@example.com")
	months := e.subscriber(t, "months@example.com")
	four := e.subscriber(t, "four@example.com")
	e.order(t, "one@example.com", "a1", 10)
	e.order(t, "months@example.com", "m1", 10)
	for i := range 4 {
		e.order(t, "four@example.com", fmt.Sprintf("f%d", i), 10)
	}
	e.want(t, four, retention.Regular)
	*e.now = t0.Add(31 * day)
	e.order(t, "months@example.com", "m2", 10)
	*e.now = t0.Add(62 * day)
	e.order(t, "months@example.com", "m3", 10)
	e.want(t, months, retention.Regular)

	*e.now = t0.Add(90 * day)
	e.pass(t)
	e.want(t, one, retention.FirstTimeBuyer) // exactly 90 days: not longer
	*e.now = t0.Add(91 * day)
	e.pass(t)
	e.want(t, one, retention.Lapsing)
	e.want(t, four, retention.Lapsing) // usual gap 0: lapsing after 90 days too
	// m1 leaves the 6-month window at day 180; m2, m3 have not lapsed yet
	// (usual gap 31 days: lapsing after 90 days from day 62).
	e.want(t, months, retention.Regular)
	*e.now = t0.Add(150 * day)
	e.pass(t)
	e.want(t, months, retention.Regular)
	*e.now = t0.Add(153 * day)
	e.pass(t)
	e.want(t, months, retention.Lapsing)
}

// The thresholds are settings.
func TestThresholdsAreSettings(t *testing.T) {
	cfg := retention.Config{RegularOrders: 2, LapsingMin: 10 * day, LostAfter: 20 * day}.WithDefaults()
	o := events.OrderSummary{Count: 2, First: t0, Last: t0.Add(2 * day), ActiveMonths: 1}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{3 * day, retention.Regular}, {13 * day, retention.Lapsing}, {23 * day, retention.Lost}} {
		if got := retention.Compute(cfg, o, retention.NoScore, t0.Add(tc.at)); got != tc.want {
			t.Errorf("at +%s: %s, want %s", tc.at, got, tc.want)
		}
	}
	if _, err := retention.New(storetest.Open(t), retention.Config{LapsingMin: 400 * day}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("lapsing after lost was accepted")
	}
}

// NPS: a click is stored once; another score within 24 hours replaces it,
// a later one does not.
func TestAnswerOnceWithin24h(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.subscriber(t, "n@example.com")
	for _, sc := range []int{3, 3, 8} {
		if err := e.ret.Answer(ctx, id, "o1", sc); err != nil {
			t.Fatal(err)
		}
	}
	*e.now = t0.Add(25 * time.Hour)
	if err := e.ret.Answer(ctx, id, "o1", 0); err != nil {
		t.Fatal(err)
	}
	as, err := e.ret.Answers(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Score != 8 {
		t.Fatalf("answers = %+v, want one with 8", as)
	}
	if err := e.ret.Answer(ctx, id, "o1", 11); err == nil {
		t.Error("score 11 accepted")
	}
	if err := e.ret.Comment(ctx, id, "o1", "  Schnelle Lieferung  "); err != nil {
		t.Fatal(err)
	}
	if err := e.ret.Comment(ctx, id, "other", "x"); err == nil {
		t.Error("comment without answer accepted")
	}
}
