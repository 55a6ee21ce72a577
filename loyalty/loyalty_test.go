package loyalty_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

type env struct {
	db   *store.DB
	ev   *events.Service
	loy  *loyalty.Service
	pool *coupons.Service
	now  *time.Time
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func setup(t testing.TB, cfg loyalty.Config) *env {
	t.Helper()
	db := storetest.Open(t)
	e := &env{db: db, now: new(time.Time)}
	*e.now = t0
	db.Now = func() time.Time { return *e.now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.pool = coupons.New(db, log)
	var err error
	if e.loy, err = loyalty.New(db, cfg, e.pool, log); err != nil {
		t.Fatal(err)
	}
	e.loy.Links = loyalty.NewReferralLinks([]byte("0123456789abcdef0123456789abcdef"), "https://treu.example/")
	e.ev = events.New(db, log, events.Config{OnOrder: e.loy.OnOrder, OnRefund: e.loy.OnRefund})
	t.Cleanup(func() { e.ev.Close() })
	return e
}

func (e *env) subscriber(t testing.TB, email string) int64 {
	t.Helper()
	var id int64
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES (?, ?, 'active', ?, ?) RETURNING id`, email, email, tx.Now.Unix(), tx.Now.Unix()).Scan(&id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) event(t testing.TB, body string) {
	t.Helper()
	if _, err := e.ev.Ingest(context.Background(), []byte(body)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) order(t testing.TB, email, id string, total float64) {
	t.Helper()
	e.event(t, fmt.Sprintf(`{"type":"order.placed","id":"ev-%s","email":%q,"order":{"id":%q,"currency":"EUR","total":%g}}`, id, email, id, total))
}

func (e *env) balance(t testing.TB, id int64) int64 {
	t.Helper()
	n, err := loyalty.Balance(context.Background(), e.db, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Points are per order, rounded down; a refund takes back its share once
// per order; a guest's order, or points switched off, earn nothing.
func TestPointsAndRefunds(t *testing.T) {
	e := setup(t, loyalty.Config{PointsPerEuro: 2})
	kim := e.subscriber(t, "kim@example.com")
	e.order(t, "kim@example.com", "o1", 19.99) // 39.98 -> 39
	e.order(t, "gast@example.com", "g1", 100)  // a guest
	if got := e.balance(t, kim); got != 39 {
		t.Fatalf("balance = %d, want 39", got)
	}
	e.event(t, `{"type":"order.refunded","id":"r1","email":"kim@example.com","order":{"id":"o1","total":5}}`) // 10 back
	e.event(t, `{"type":"order.refunded","id":"r2","email":"kim@example.com","order":{"id":"o1","total":5}}`) // once per order
	e.event(t, `{"type":"order.refunded","id":"r3","email":"gast@example.com","order":{"id":"g1"}}`)          // nothing to take back
	e.event(t, `{"type":"order.refunded","id":"r4","email":"kim@example.com","order":{"id":"unknown"}}`)      // an order Treu never saw
	if got := e.balance(t, kim); got != 29 {
		t.Fatalf("balance after refund = %d, want 29", got)
	}
	for _, bad := range []string{
		`{"type":"order.refunded","email":"kim@example.com"}`,
		`{"type":"order.refunded","email":"kim@example.com","order":{"id":""}}`,
		`{"type":"order.refunded","email":"kim@example.com","order":{"id":"o1","total":-1}}`,
	} {
		if _, err := e.ev.Ingest(context.Background(), []byte(bad)); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: err = %v, want Invalid", bad, err)
		}
	}

	off := setup(t, loyalty.Config{})
	lea := off.subscriber(t, "lea@example.com")
	off.order(t, "lea@example.com", "o1", 50)
	if got := off.balance(t, lea); got != 0 {
		t.Errorf("points off: balance = %d", got)
	}
}

// A balance reaching RewardPoints becomes a code at the order; while the pool
// is empty the points stay, and the daily Pass gives the code once codes
// are there, one per person and pass.
func TestRewards(t *testing.T) {
	e := setup(t, loyalty.Config{PointsPerEuro: 1, RewardPoints: 50, RewardPool: "treue"})
	ctx := context.Background()
	if _, err := e.pool.CreatePool(ctx, "treue", "Treue"); err != nil {
		t.Fatal(err)
	}
	kim := e.subscriber(t, "kim@example.com")
	lea := e.subscriber(t, "lea@example.com")
	e.order(t, "kim@example.com", "k1", 120) // empty pool: no code yet
	e.order(t, "lea@example.com", "l1", 60)
	if e.balance(t, kim) != 120 || e.balance(t, lea) != 60 {
		t.Fatalf("balances %d %d, want 120 60", e.balance(t, kim), e.balance(t, lea))
	}
	if _, err := e.pool.AddCodes(ctx, "treue", []string{"A", "B", "C"}); err != nil {
		t.Fatal(err)
	}
	*e.now = t0.Add(24 * time.Hour)
	n, err := e.loy.Pass(ctx)
	if err != nil || n != 2 {
		t.Fatalf("pass = %d %v, want 2", n, err)
	}
	if e.balance(t, kim) != 70 || e.balance(t, lea) != 10 {
		t.Fatalf("after the pass %d %d, want 70 10", e.balance(t, kim), e.balance(t, lea))
	}
	if n, err = e.loy.Pass(ctx); err != nil || n != 1 { // kim's second 50
		t.Fatalf("second pass = %d %v, want 1", n, err)
	}
	if n, err = e.loy.Pass(ctx); err != nil || n != 0 { // pool empty now, and nobody is due
		t.Fatalf("third pass = %d %v, want 0", n, err)
	}
	a, err := e.loy.AccountOf(ctx, kim)
	if err != nil {
		t.Fatal(err)
	}
	if a.Points != 20 || len(a.Rewards) != 2 || a.Rewards[0].Points != 50 || !a.Rewards[0].At.Equal(*e.now) {
		t.Errorf("account = %+v", a)
	}
}

// A friend referred by a link credits the referrer once, at the friend's
// first order; a self-referral, a second link and a customer who had
// ordered before are not referrals; a forged token is refused.
func TestReferrals(t *testing.T) {
	e := setup(t, loyalty.Config{ReferralPoints: 25, ReferralPool: "freunde"})
	ctx := context.Background()
	if _, err := e.pool.CreatePool(ctx, "freunde", "Freunde"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.AddCodes(ctx, "freunde", []string{"FREUND-1"}); err != nil {
		t.Fatal(err)
	}
	kim := e.subscriber(t, "kim@example.com")
	max := e.subscriber(t, "max@example.com")
	lea := e.subscriber(t, "lea@example.com")
	old := e.subscriber(t, "old@example.com")
	e.order(t, "old@example.com", "x1", 10)

	tok := e.loy.Links.Token(kim)
	if e.loy.Links.URL(kim) != "https://treu.example/r/"+tok {
		t.Errorf("url = %s", e.loy.Links.URL(kim))
	}
	ref, err := e.loy.Links.Parse("referral", tok)
	if err != nil || ref != kim {
		t.Fatalf("parse = %d %v", ref, err)
	}
	// kim's id with max's signature: the first 11 characters carry the id.
	forged := tok[:11] + e.loy.Links.Token(max)[11:]
	if _, err := e.loy.Links.Parse("referral", forged); !errs.Is(err, errs.Invalid) {
		t.Errorf("forged token: %v", err)
	}
	for _, tc := range []struct {
		friend, referrer int64
		want             bool
	}{{lea, kim, true}, {lea, max, false}, {kim, kim, false}, {old, kim, false}} {
		if got, err := e.loy.Refer(ctx, tc.friend, tc.referrer); err != nil || got != tc.want {
			t.Errorf("Refer(%d, %d) = %v %v, want %v", tc.friend, tc.referrer, got, err, tc.want)
		}
	}
	*e.now = t0.Add(time.Hour)
	e.order(t, "lea@example.com", "l1", 30)
	e.order(t, "lea@example.com", "l2", 30)
	a, err := e.loy.AccountOf(ctx, kim)
	if err != nil {
		t.Fatal(err)
	}
	if a.Points != 25 || len(a.Referred) != 1 || a.Referred[0].FriendID != lea || a.Referred[0].Credit != "25 points, FREUND-1" ||
		a.Referred[0].CreditedAt == nil || !a.Referred[0].CreditedAt.Equal(*e.now) {
		t.Errorf("kim = %+v", a)
	}
	b, err := e.loy.AccountOf(ctx, lea)
	if err != nil || b.ReferredBy == nil || *b.ReferredBy != kim {
		t.Errorf("lea = %+v %v", b, err)
	}
}

func FuzzReferralParse(f *testing.F) {
	l := loyalty.NewReferralLinks([]byte("secret"), "https://treu.example")
	f.Add(l.Token(1))
	f.Add(l.Token(1 << 40))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := l.Parse("referral", tok)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error kind: %v", err)
			}
			return
		}
		if id <= 0 || l.Token(id) != tok {
			t.Fatalf("%q parsed as %d, whose token is %q", tok, id, l.Token(id))
		}
	})
}
