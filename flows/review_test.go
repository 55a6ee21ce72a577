package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
)

// welcomeWith saves the welcome flow with one step whose subject is subject.
func (e *env) welcomeWith(subject, pool string) {
	e.t.Helper()
	f, err := e.eng.Get(ctx, flows.Welcome)
	if err != nil {
		e.t.Fatal(err)
	}
	f.Enabled = true
	md := "Hallo {{ .FirstName }}"
	if pool != "" {
		md += ", {{ .Coupon }}" // a code needs a pool to come from
	}
	f.Steps = []flows.Step{{Subject: subject, Markdown: md, CouponPool: pool}}
	if _, err := e.eng.Put(ctx, flows.Welcome, f); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) startWelcome(sub int64) {
	e.t.Helper()
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return e.eng.StartWelcome(ctx, tx, sub) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) attrs(sub int64, js string) {
	e.t.Helper()
	e.exec(`UPDATE subscribers SET attributes = ? WHERE id = ?`, js, sub)
}

// One subscriber whose mail cannot be built (a control character, an empty or
// overlong subject, attributes that are no object) ends only their own run;
// the rest of the batch goes out, and the next tick does not fail again.
func TestUnsendableMailEndsOnlyItsRun(t *testing.T) {
	e := newEnv(t)
	bad := map[string]string{
		"ctl":   `{"city":"\u0001x"}`,
		"empty": `{}`,
		"long":  `{"city":"` + strings.Repeat("x", 501) + `"}`,
		"array": `[1, 2]`,
	}
	e.welcomeWith(`{{ .Attr "city" }}`, "")
	subs := map[string]int64{}
	for _, name := range []string{"ok", "ctl", "empty", "long", "array", "ok2"} {
		id := e.subscriber(name+"@example.de", "de")
		subs[name] = id
		if js, ok := bad[name]; ok {
			e.attrs(id, js)
		} else {
			e.attrs(id, `{"city":"Berlin"}`)
		}
		e.startWelcome(id)
	}
	r, err := e.eng.Tick(ctx, t0)
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	m := e.mails()
	if len(m) != 2 || r.Sent != 2 || r.Ended != 4 || m[0].msg.Subject != "Berlin" {
		t.Fatalf("result %+v, mails %+v", r, m)
	}
	for name := range bad {
		if st, why, _ := e.runStatus(flows.Welcome, subs[name]); st != "ended" || why != flows.EndRenderFailed {
			t.Errorf("%s: run %s %q", name, st, why)
		}
	}
	if _, err := e.eng.Tick(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatalf("second tick: %v", err)
	}
	s, err := e.eng.Stats(ctx, flows.Welcome)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ended[flows.EndRenderFailed] != 4 || s.Sent != 2 || s.Done != 2 {
		t.Fatalf("stats = %+v", s)
	}
}

// A step that is not sent does not use up a coupon code.
func TestFailedStepKeepsItsCode(t *testing.T) {
	e := newEnv(t)
	if _, err := e.coupons.CreatePool(ctx, "welcome", "Welcome"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.coupons.AddCodes(ctx, "welcome", []string{"C1", "C2", "C3"}); err != nil {
		t.Fatal(err)
	}
	e.welcomeWith(`{{ .Attr "city" }}: {{ .Coupon }}`, "welcome")
	for _, c := range []struct{ email, attrs string }{
		{"ctl@example.de", `{"city":"\u0001x"}`},
		{"long@example.de", `{"city":"` + strings.Repeat("x", 499) + `"}`},
		{"array@example.de", `[1]`},
		{"ok@example.de", `{"city":"Berlin"}`},
	} {
		id := e.subscriber(c.email, "de")
		e.attrs(id, c.attrs)
		e.startWelcome(id)
	}
	if _, err := e.eng.Tick(ctx, t0); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	m := e.mails()
	if len(m) != 1 || m[0].to != "ok@example.de" || m[0].msg.Subject != "Berlin: C1" {
		t.Fatalf("mails %+v", m)
	}
	p, err := e.coupons.Get(ctx, "welcome")
	if err != nil {
		t.Fatal(err)
	}
	if p.Assigned != 1 {
		t.Fatalf("assigned %d codes for 1 mail", p.Assigned)
	}
}

// A deleted offers segment skips the offers round, says why in the stats, and
// stops no other flow.
func TestMissingOffersSegmentStopsOnlyOffers(t *testing.T) {
	e := newEnv(t)
	segs := segments.NewStore(e.db, discard)
	eng, err := flows.New(e.db, e.q, links{}, segs, e.coupons, flows.Config{
		From: "news@shop.example", ListID: "newsletter.shop.example",
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	rule, _ := segments.Parse([]byte(`{"field":"locale","op":"eq","value":"de"}`))
	seg, err := segs.Create(ctx, "Deutsch", rule)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := e.eng.Get(ctx, flows.Offers)
	f.Enabled, f.Cron, f.SegmentID = true, "@every 1h", &seg.ID
	if _, err := e.coupons.CreatePool(ctx, "offers", "Offers"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.coupons.AddCodes(ctx, "offers", []string{"O1", "O2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Put(ctx, flows.Offers, f); err != nil {
		t.Fatal(err)
	}
	kim := e.subscriber("kim@example.de", "de")
	e.startWelcome(kim)
	e.cart("e1", "kim@example.de", "c1", t0)
	// Deleted behind the store's back (an older version, a restore, SQL).
	e.exec(`DELETE FROM segments WHERE id = ?`, seg.ID)

	r, err := e.eng.Tick(ctx, t0.Add(61*time.Minute))
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if r.Sent != 2 || r.Entered != 1 {
		t.Fatalf("result %+v", r)
	}
	s, err := e.eng.Stats(ctx, flows.Offers)
	if err != nil {
		t.Fatal(err)
	}
	if s.Entered != 0 || !strings.Contains(s.Problem, "segment") {
		t.Fatalf("offers stats = %+v", s)
	}
	if s, _ := e.eng.Stats(ctx, flows.Welcome); s.Problem != "" {
		t.Fatalf("welcome problem %q", s.Problem)
	}
	// Pointed at a segment that exists, the round starts.
	seg2, err := segs.Create(ctx, "Deutsch 2", rule)
	if err != nil {
		t.Fatal(err)
	}
	f.SegmentID = &seg2.ID
	if _, err := e.eng.Put(ctx, flows.Offers, f); err != nil {
		t.Fatal(err)
	}
	if r, err := e.eng.Tick(ctx, t0.Add(62*time.Minute)); err != nil || r.Entered != 1 {
		t.Fatalf("after the fix: %+v, %v", r, err)
	}
	if s, _ := e.eng.Stats(ctx, flows.Offers); s.Problem != "" || s.Entered != 1 {
		t.Fatalf("offers stats after the fix = %+v", s)
	}
}

// Flow mails carry the newsletter's List-Id: a subscriber who left the
// newsletter but stays on another list gets none.
func TestFlowsOnlyForTheirLists(t *testing.T) {
	e := newEnv(t)
	e.exec(`INSERT INTO lists (slug, name, description, created_at) VALUES ('vip', 'VIP', '', 0)`)
	kim := e.subscriber("kim@example.de", "de")
	lea := e.subscriber("lea@example.de", "de")
	for _, id := range []int64{kim, lea} {
		e.exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			VALUES (?, (SELECT id FROM lists WHERE slug = 'vip'), 'active', 0, 0)`, id)
	}
	e.startWelcome(kim)
	e.startWelcome(lea)
	// kim leaves the newsletter, stays VIP.
	e.exec(`UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id = ? AND list_id = (SELECT id FROM lists WHERE slug = 'newsletter')`, kim)
	e.cart("e1", "kim@example.de", "c1", t0)
	e.cart("e2", "lea@example.de", "c2", t0)
	e.tick(t0.Add(61 * time.Minute))
	got := map[string]int{}
	for _, m := range e.mails() {
		got[m.to]++
	}
	if got["kim@example.de"] != 0 || got["lea@example.de"] != 2 {
		t.Fatalf("mails %v", got)
	}
	if st, why, _ := e.runStatus(flows.Welcome, kim); st != "ended" || why != flows.EndNotSubscribed {
		t.Fatalf("kim's welcome run %s %q", st, why)
	}
	var n int
	e.db.QueryRowContext(ctx, `SELECT count(*) FROM flow_runs WHERE flow = ? AND subscriber_id = ?`, flows.CartAbandonment, kim).Scan(&n)
	if n != 0 {
		t.Fatalf("kim's cart entered the flow")
	}
}
