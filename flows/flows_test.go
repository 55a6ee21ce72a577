package flows_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/templates"
)

var (
	t0      = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	discard = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx     = context.Background()
)

type links struct{}

func (links) ManageURLs(id int64) (string, string) {
	return fmt.Sprintf("https://news.shop.example/unsubscribe/tok%d", id),
		fmt.Sprintf("https://news.shop.example/preferences/tok%d", id)
}

type env struct {
	t       testing.TB
	db      *store.DB
	now     time.Time
	ev      *events.Service
	coupons *coupons.Service
	q       *mailer.Queue
	srv     *smtptest.Server
	eng     *flows.Engine
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, db: storetest.Open(t), now: t0}
	e.db.Now = func() time.Time { return e.now }
	// The migration stamps enabled_at with the wall clock; move it to the test's past.
	e.exec(`UPDATE flows SET enabled_at = ?`, t0.Add(-24*time.Hour).Unix())
	e.ev = events.New(e.db, discard, events.Config{})
	e.coupons = coupons.New(e.db, discard)
	e.srv = smtptest.Start(t)
	cfg, err := mailer.ParseSMTPURL(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	smtp, err := mailer.NewSMTP(cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	e.q = mailer.NewQueue(e.db, smtp, discard, mailer.QueueConfig{})
	e.eng = e.newEngine()
	return e
}

func (e *env) newEngine() *flows.Engine {
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer: templates.Footer{ShopName: "Kaffee & Co.", Impressum: "Musterstraße 1\n10115 Berlin"},
	}, discard)
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) subscriber(email, locale string) int64 {
	e.t.Helper()
	var id int64
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, name, locale, status, created_at, updated_at)
			VALUES (?, ?, 'Kim Berger', ?, 'active', 0, 0) RETURNING id`, email, strings.ToLower(email), locale).Scan(&id)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			VALUES (?, (SELECT id FROM lists WHERE slug = 'newsletter'), 'active', 0, 0)`, id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) event(body string) {
	e.t.Helper()
	if _, err := e.ev.Ingest(ctx, []byte(body)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) cart(id, email, cart string, at time.Time) {
	e.event(fmt.Sprintf(`{"type":"cart.updated","id":%q,"email":%q,"occurred_at":%q,"cart":{"id":%q,"url":"https://shop.example/cart/%s","currency":"EUR","total":39.8,
		"items":[{"sku":"S1","name":"Wollsocken","price":19.9,"quantity":2,"url":"https://shop.example/p/s1","image_url":"https://shop.example/i/s1.jpg"}]}}`,
		id, email, at.Format(time.RFC3339), cart, cart))
}

func (e *env) tick(at time.Time) flows.TickResult {
	e.t.Helper()
	e.now = at
	res, err := e.eng.Tick(ctx, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

type queued struct {
	to  string
	msg mailer.Message
}

// mails returns the flow mails in the durable queue, oldest first.
func (e *env) mails() []queued {
	e.t.Helper()
	rows, err := e.db.QueryContext(ctx, `SELECT recipient, message FROM mail_queue WHERE kind = 'flow' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		var raw sql.NullString // NULL once sent: the queue forgets the content
		if err := rows.Scan(&q.to, &raw); err != nil {
			e.t.Fatal(err)
		}
		if raw.Valid {
			if err := json.Unmarshal([]byte(raw.String), &q.msg); err != nil {
				e.t.Fatal(err)
			}
		}
		out = append(out, q)
	}
	return out
}

func (e *env) runStatus(flow string, sub int64) (status, reason string, step int) {
	e.t.Helper()
	if err := e.db.QueryRowContext(ctx, `SELECT status, end_reason, step FROM flow_runs WHERE flow = ? AND subscriber_id = ?`, flow, sub).
		Scan(&status, &reason, &step); err != nil {
		e.t.Fatal(err)
	}
	return
}

func TestCartReminderSentAfterDelayWithItems(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	e.cart("e1", "kim@example.de", "c1", t0)

	if r := e.tick(t0.Add(59 * time.Minute)); r.Entered+r.Sent != 0 {
		t.Fatalf("before the hour: %+v", r)
	}
	if r := e.tick(t0.Add(61 * time.Minute)); r.Entered != 1 || r.Sent != 1 {
		t.Fatalf("after the hour: %+v", r)
	}
	e.tick(t0.Add(61 * time.Minute))         // a double tick
	e.cart("e1", "kim@example.de", "c1", t0) // the same event again
	e.tick(t0.Add(62 * time.Minute))
	m := e.mails()
	if len(m) != 1 {
		t.Fatalf("queued %d mails, want 1", len(m))
	}
	msg := m[0].msg
	if msg.Subject != "Noch unentschlossen?" || !strings.Contains(msg.Text, "Wollsocken") || !strings.Contains(msg.HTML, "https://shop.example/cart/c1") ||
		!strings.Contains(msg.HTML, "19,90") || msg.ListID != "newsletter.shop.example" || msg.UnsubscribeURL == "" || msg.SubscriberID != sub {
		t.Fatalf("mail = %+v", msg)
	}

	// Over real SMTP, with the marketing headers.
	if n, err := e.q.ProcessDue(ctx); err != nil || n != 1 {
		t.Fatalf("ProcessDue = %d, %v", n, err)
	}
	got := e.srv.WaitFor(1, 5*time.Second)
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "List-Unsubscribe-Post: List-Unsubscribe=One-Click") {
		t.Fatalf("received %d: %s", len(got), got)
	}

	// The second reminder a day later; then the run is done.
	e.tick(t0.Add(61*time.Minute + 23*time.Hour))
	if m := e.mails(); len(m) != 2 || m[1].msg.Subject != "Ihr Warenkorb ist noch gespeichert" {
		t.Fatalf("second reminder: %d mails", len(m))
	}
	if st, _, _ := e.runStatus(flows.CartAbandonment, sub); st != "done" {
		t.Fatalf("run status %s", st)
	}
}

func TestCartUpdatedAgainRestartsTheWait(t *testing.T) {
	e := newEnv(t)
	e.subscriber("kim@example.de", "en")
	e.cart("e1", "kim@example.de", "c1", t0)
	e.now = t0.Add(50 * time.Minute)
	e.cart("e2", "kim@example.de", "c1", t0.Add(50*time.Minute))
	if r := e.tick(t0.Add(61 * time.Minute)); r.Sent != 0 {
		t.Fatalf("sent %d before the restarted wait", r.Sent)
	}
	if r := e.tick(t0.Add(111 * time.Minute)); r.Sent != 1 {
		t.Fatalf("sent %d after the restarted wait", r.Sent)
	}
	if m := e.mails(); m[0].msg.Subject != "Still thinking it over?" {
		t.Fatalf("English subject = %q", m[0].msg.Subject)
	}
}

func TestOrderCancelsTheReminder(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	e.cart("e1", "kim@example.de", "c1", t0)
	e.tick(t0.Add(61 * time.Minute)) // first reminder
	e.now = t0.Add(2 * time.Hour)
	e.event(fmt.Sprintf(`{"type":"order.placed","id":"o1","email":"kim@example.de","occurred_at":%q,"order":{"id":"A-1","cart_id":"c1","currency":"EUR","total":39.8}}`,
		t0.Add(2*time.Hour).Format(time.RFC3339)))
	e.tick(t0.Add(25 * time.Hour))
	if m := e.mails(); len(m) != 1 {
		t.Fatalf("mails after the order = %d, want 1", len(m))
	}
	if st, why, _ := e.runStatus(flows.CartAbandonment, sub); st != "ended" || why != flows.EndOrdered {
		t.Fatalf("run = %s %s", st, why)
	}
	s, err := e.eng.Stats(ctx, flows.CartAbandonment)
	if err != nil {
		t.Fatal(err)
	}
	if s.Entered != 1 || s.Sent != 1 || s.Converted != 1 || s.Revenue != 39.8 || s.RecoveredCarts != 1 || s.RecoveryRate != 1 || s.Ended[flows.EndOrdered] != 1 {
		t.Fatalf("stats = %+v", s)
	}

	// An order before the wait is over: the cart never enters.
	sub2 := e.subscriber("lea@example.de", "de")
	e.cart("e3", "lea@example.de", "c2", t0.Add(25*time.Hour))
	e.event(`{"type":"order.placed","id":"o2","email":"lea@example.de","order":{"id":"A-2","currency":"EUR","total":5}}`)
	e.tick(t0.Add(27 * time.Hour))
	var n int
	e.db.QueryRowContext(ctx, `SELECT count(*) FROM flow_runs WHERE subscriber_id = ?`, sub2).Scan(&n)
	if n != 0 || len(e.mails()) != 1 {
		t.Fatalf("ordered cart entered: runs %d", n)
	}
}

func TestClearedCartCancelsTheReminder(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	e.cart("e1", "kim@example.de", "c1", t0)
	e.tick(t0.Add(61 * time.Minute))
	e.now = t0.Add(3 * time.Hour)
	e.event(`{"type":"cart.cleared","id":"e2","email":"kim@example.de","cart":{"id":"c1"}}`)
	e.tick(t0.Add(25 * time.Hour))
	if m := e.mails(); len(m) != 1 {
		t.Fatalf("mails = %d, want 1", len(m))
	}
	if st, why, _ := e.runStatus(flows.CartAbandonment, sub); st != "ended" || why != flows.EndCartCleared {
		t.Fatalf("run = %s %s", st, why)
	}
}

func TestUnsubscribedGetNothing(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	e.subscriber("lea@example.de", "de")
	e.cart("e1", "kim@example.de", "c1", t0)
	e.exec(`UPDATE subscribers SET status = 'unsubscribed' WHERE email_key = 'lea@example.de'`)
	e.cart("e2", "lea@example.de", "c2", t0)
	e.tick(t0.Add(61 * time.Minute))
	// kim unsubscribes between the reminders.
	e.exec(`UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id = ?`, sub)
	e.tick(t0.Add(25 * time.Hour))
	m := e.mails()
	if len(m) != 1 || m[0].to != "kim@example.de" {
		t.Fatalf("mails = %+v", m)
	}
	if st, why, _ := e.runStatus(flows.CartAbandonment, sub); st != "ended" || why != flows.EndNotSubscribed {
		t.Fatalf("run = %s %s", st, why)
	}
}

func TestWelcomeSeriesStepByStep(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	start := func() {
		if err := e.db.Tx(ctx, func(tx *store.Tx) error { return e.eng.StartWelcome(ctx, tx, sub) }); err != nil {
			t.Fatal(err)
		}
	}
	start()
	e.tick(t0)
	if m := e.mails(); len(m) != 1 || m[0].msg.Subject != "Willkommen bei Kaffee & Co." {
		t.Fatalf("first welcome: %+v", m)
	}
	start() // confirming twice does not restart the series
	e.tick(t0.Add(71 * time.Hour))
	if m := e.mails(); len(m) != 1 {
		t.Fatalf("mails before 72h = %d", len(m))
	}
	e.tick(t0.Add(72 * time.Hour))
	m := e.mails()
	if len(m) != 2 || !strings.Contains(m[1].msg.Text, "Vor ein paar Tagen") {
		t.Fatalf("second welcome: %+v", m)
	}
	if st, _, step := e.runStatus(flows.Welcome, sub); st != "done" || step != 2 {
		t.Fatalf("run %s at %d", st, step)
	}
}

func TestOffersDistinctCodesStopWhenPoolEmpty(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.subscriber(fmt.Sprintf("u%d@example.de", i), "en")
	}
	if _, err := e.coupons.CreatePool(ctx, "offers", "Offers"); err != nil {
		t.Fatal(err)
	}
	e.coupons.AddCodes(ctx, "offers", []string{"C1", "C2", "C3"})
	f, err := e.eng.Get(ctx, flows.Offers)
	if err != nil {
		t.Fatal(err)
	}
	f.Enabled, f.Cron = true, "@every 1h"
	if _, err := e.eng.Put(ctx, flows.Offers, f); err != nil {
		t.Fatal(err)
	}
	e.tick(t0.Add(30 * time.Minute))
	if len(e.mails()) != 0 {
		t.Fatal("offers before the cron was due")
	}
	r := e.tick(t0.Add(time.Hour))
	e.tick(t0.Add(time.Hour)) // a double tick starts no second round
	m := e.mails()
	codes := map[string]bool{}
	for _, q := range m {
		for _, c := range []string{"C1", "C2", "C3"} {
			if strings.Contains(q.msg.Text, c) {
				codes[c] = true
			}
		}
	}
	if r.Entered != 5 || len(m) != 3 || len(codes) != 3 {
		t.Fatalf("round 1: %+v, %d mails, codes %v", r, len(m), codes)
	}
	s, _ := e.eng.Stats(ctx, flows.Offers)
	if s.Ended[flows.EndCouponPoolEmpty] != 2 || s.Sent != 3 {
		t.Fatalf("stats = %+v", s)
	}
	// A new round an hour later: the pool is still empty, nothing is sent.
	e.tick(t0.Add(2 * time.Hour))
	if len(e.mails()) != 3 {
		t.Fatal("sent without a code")
	}
}

func TestRestartLosesAndRepeatsNothing(t *testing.T) {
	e := newEnv(t)
	kim := e.subscriber("kim@example.de", "de")
	e.cart("e1", "kim@example.de", "c1", t0)
	e.tick(t0.Add(61 * time.Minute))

	// "Restart": a new engine on the same database, ticking the same moment again.
	e.eng = e.newEngine()
	e.tick(t0.Add(61 * time.Minute))
	if len(e.mails()) != 1 {
		t.Fatal("restart repeated a mail")
	}
	e.tick(t0.Add(24*time.Hour + 2*time.Minute))
	if len(e.mails()) != 2 {
		t.Fatal("restart lost the second step")
	}

	// A step due while Treu was down longer than MaxLate is skipped and counted.
	lea := e.subscriber("lea@example.de", "de")
	e.cart("e2", "lea@example.de", "c2", t0.Add(24*time.Hour))
	e.tick(t0.Add(25*time.Hour + time.Minute)) // first reminder
	e.eng = e.newEngine()
	e.tick(t0.Add(4 * 24 * time.Hour)) // second was due at +49h
	if len(e.mails()) != 3 {
		t.Fatalf("mails = %d, want 3", len(e.mails()))
	}
	s, _ := e.eng.Stats(ctx, flows.CartAbandonment)
	if s.Skipped != 1 || s.Steps[1].Skipped != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if st, _, _ := e.runStatus(flows.CartAbandonment, lea); st != "done" {
		t.Fatalf("lea's run %s", st)
	}
	_ = kim
}

func TestPutValidates(t *testing.T) {
	e := newEnv(t)
	f, _ := e.eng.Get(ctx, flows.Welcome)
	f.Steps[1].Markdown = "{{ .Nope }"
	_, err := e.eng.Put(ctx, flows.Welcome, f)
	if err == nil || !strings.Contains(err.Error(), "steps[1]") {
		t.Fatalf("bad template: %v", err)
	}
	f, _ = e.eng.Get(ctx, flows.Offers)
	f.Enabled, f.Cron = true, "every monday"
	if _, err := e.eng.Put(ctx, flows.Offers, f); err == nil {
		t.Fatal("bad cron accepted")
	}
	f.Cron = "0 9 * * MON"
	if _, err := e.eng.Put(ctx, flows.Offers, f); err == nil || !strings.Contains(err.Error(), "coupon pool") {
		t.Fatalf("missing pool: %v", err)
	}
	for _, slug := range flows.Slugs { // the defaults compile
		f, _ := e.eng.Get(ctx, slug)
		if slug == flows.Offers {
			f.Steps[0].CouponPool = ""
		}
		if _, err := e.eng.Put(ctx, slug, f); err != nil {
			t.Fatalf("%s defaults: %v", slug, err)
		}
	}
}

// BenchmarkTickDue10k: 10,000 abandoned carts due in one tick; how long
// entering them and queueing their reminders takes.
func BenchmarkTickDue10k(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10000)
				INSERT INTO subscribers (email, email_key, name, locale, status, created_at, updated_at)
				SELECT 'u'||i||'@example.de', 'u'||i||'@example.de', 'Kim '||i, CASE WHEN i%2=0 THEN 'de' ELSE 'en' END, 'active', 0, 0 FROM n;
				INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) SELECT id, 1, 'active', 0, 0 FROM subscribers;
				INSERT INTO carts (cart_id, email_key, subscriber_id, status, url, currency, total, items, item_count, created_at, updated_at)
				SELECT 'c'||id, email_key, id, 'open', 'https://shop.example/cart/'||id, 'EUR', 39.8,
				  '[{"sku":"S1","name":"Wollsocken","price":19.9,"quantity":2,"url":"https://shop.example/p/s1","image_url":"https://shop.example/i/s1.jpg"}]', 1, ?, ?
				FROM subscribers`, t0.Unix(), t0.Unix())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r := e.tick(t0.Add(61 * time.Minute))
		if r.Sent != 10000 {
			b.Fatalf("sent %d", r.Sent)
		}
		b.ReportMetric(float64(r.Sent)/time.Since(start).Seconds(), "mails/s")
	}
}

// The checks a batch loads at once (subscriber, suppression, cart, orders)
// decide each run on its own.
func TestBatchChecksEachRun(t *testing.T) {
	e := newEnv(t)
	subs := map[string]int64{}
	for i, name := range []string{"ok", "suppressed", "gone", "ordered", "ok2"} {
		email := name + "@example.de"
		subs[name] = e.subscriber(email, "en")
		e.cart(fmt.Sprintf("e%d", i), email, "c-"+name, t0)
	}
	sum := sha256.Sum256([]byte("suppressed@example.de"))
	e.exec(`INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'complaint', 0)`, hex.EncodeToString(sum[:]))
	e.tick(t0.Add(time.Minute)) // not due yet: enters nothing
	e.exec(`DELETE FROM carts WHERE cart_id = 'c-gone'`)
	e.tick(t0.Add(59 * time.Minute))
	// An order that does not name the cart, after its last update.
	e.now = t0.Add(30 * time.Minute)
	e.event(`{"type":"order.placed","id":"o1","email":"ordered@example.de","order":{"id":"A-1","currency":"EUR","total":5}}`)
	r := e.tick(t0.Add(61 * time.Minute))
	got := map[string]bool{}
	for _, m := range e.mails() {
		got[m.to] = true
	}
	if len(got) != 2 || !got["ok@example.de"] || !got["ok2@example.de"] || r.Sent != 2 {
		t.Fatalf("mails to %v, result %+v", got, r)
	}
	// The ordered cart and the suppressed address never entered (the marketing
	// rule decides entry); the others are still on.
	for name, want := range map[string]string{"ok": "", "ok2": ""} {
		st, why, _ := e.runStatus(flows.CartAbandonment, subs[name])
		if why != want || (want != "" && st != "ended") || (want == "" && st != "active") {
			t.Errorf("%s: run = %s %q, want reason %q", name, st, why, want)
		}
	}
	var n int
	e.db.QueryRowContext(ctx, `SELECT count(*) FROM flow_runs WHERE subscriber_id IN (?, ?, ?)`, subs["gone"], subs["ordered"], subs["suppressed"]).Scan(&n)
	if n != 0 {
		t.Errorf("%d runs for a vanished or ordered cart or a suppressed address", n)
	}
	// A cart that vanishes or is ordered after entering ends its run.
	e.exec(`DELETE FROM carts WHERE cart_id = 'c-ok'`)
	e.now = t0.Add(2 * time.Hour)
	e.event(`{"type":"order.placed","id":"o2","email":"ok2@example.de","order":{"id":"A-2","currency":"EUR","total":5}}`)
	e.tick(t0.Add(25 * time.Hour))
	if len(e.mails()) != 2 {
		t.Fatalf("mails = %d, want 2", len(e.mails()))
	}
	if _, why, _ := e.runStatus(flows.CartAbandonment, subs["ok"]); why != flows.EndCartCleared {
		t.Errorf("vanished cart: %q", why)
	}
	if _, why, _ := e.runStatus(flows.CartAbandonment, subs["ok2"]); why != flows.EndOrdered {
		t.Errorf("ordered after entering: %q", why)
	}
}
