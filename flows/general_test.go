package flows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
)

// create saves a flow from its API JSON.
func (e *env) create(js string) flows.Flow {
	e.t.Helper()
	var f flows.Flow
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		e.t.Fatal(err)
	}
	out, err := e.eng.Create(ctx, f)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return out
}

func (e *env) runs(flow string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM flow_runs WHERE flow = ?`, flow).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) wireEvents() { e.ev.OnEvent = e.eng.OnEvent }

func TestCustomEventFlowSendsWithEventData(t *testing.T) {
	e := newEnv(t)
	e.wireEvents()
	sub := e.subscriber("kim@example.de", "en")
	e.subscriber("jo@example.de", "en") // no event: no mail
	e.create(`{"slug":"shipped","name":"Shipped","enabled":true,"trigger":{"event":"order.shipped"},
		"steps":[{"delay":"0s","subject":"Your parcel via {{ .Event.data.carrier }}","markdown":"Track it: {{ .Event.data.tracking_url }}{{ .Event.data.missing.deeper }}"}]}`)
	body := `{"type":"order.shipped","id":"ship-1","email":"kim@example.de","data":{"carrier":"DHL","tracking_url":"https://track.example/123"}}`
	e.event(body)
	e.event(body) // the same event again: entered once
	e.event(`{"type":"order.returned","id":"ret-1","email":"kim@example.de","data":{}}`)
	if n := e.runs("shipped"); n != 1 {
		t.Fatalf("runs = %d", n)
	}
	if r := e.tick(t0); r.Sent != 1 {
		t.Fatalf("tick: %+v", r)
	}
	e.tick(t0) // a double tick sends nothing more
	m := e.mails()
	if len(m) != 1 || m[0].msg.Subject != "Your parcel via DHL" || !strings.Contains(m[0].msg.Text, "https://track.example/123") || m[0].msg.SubscriberID != sub {
		t.Fatalf("mails = %+v", m)
	}
}

func TestStageEnteredWinBackOnce(t *testing.T) {
	e := newEnv(t)
	sub := e.subscriber("kim@example.de", "de")
	e.create(`{"slug":"win-back","enabled":true,"trigger":{"stage":"lapsing"},"once_per_person":true,
		"steps":[{"delay":"1h","subject":"Wir vermissen Sie","markdown":"Kommen Sie wieder, {{ .FirstName }}."}]}`)
	change := func(to string, at time.Time) {
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			return e.eng.OnStageChange(ctx, tx, retention.Change{SubscriberID: sub, From: "repeat_buyer", To: to, At: at})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	change("lapsing", t0)
	change("lapsing", t0)                       // the same change heard twice
	change("regular", t0.Add(24*time.Hour))     // another stage: not this flow
	change("lapsing", t0.Add(200*24*time.Hour)) // lapsing again: once per person
	if n := e.runs("win-back"); n != 1 {
		t.Fatalf("runs = %d", n)
	}
	e.tick(t0.Add(30 * time.Minute))
	e.tick(t0.Add(61 * time.Minute))
	e.tick(t0.Add(62 * time.Minute))
	if m := e.mails(); len(m) != 1 || m[0].msg.Subject != "Wir vermissen Sie" {
		t.Fatalf("mails = %+v", m)
	}
}

func TestStageChangeExits(t *testing.T) {
	e := newEnv(t)
	e.wireEvents()
	sub := e.subscriber("kim@example.de", "en")
	e.create(`{"slug":"nurture","enabled":true,"trigger":{"event":"quiz.done"},"exit":{"stage_change":true},
		"steps":[{"delay":"24h","subject":"Hello","markdown":"Hi"}]}`)
	e.event(`{"type":"quiz.done","id":"q1","email":"kim@example.de"}`)
	e.now = t0.Add(time.Hour)
	if err := e.db.Tx(ctx, func(tx *store.Tx) error {
		return e.eng.OnStageChange(ctx, tx, retention.Change{SubscriberID: sub, From: "prospect", To: "first_time_buyer", At: e.now})
	}); err != nil {
		t.Fatal(err)
	}
	e.tick(t0.Add(25 * time.Hour))
	if st, why, _ := e.runStatus("nurture", sub); st != "ended" || why != flows.EndStageChanged || len(e.mails()) != 0 {
		t.Fatalf("run %s %s, %d mails", st, why, len(e.mails()))
	}
}

func TestBirthdayOnceAYearInBerlin(t *testing.T) {
	e := newEnv(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", ListID: "newsletter.shop.example", Location: berlin}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	kim := e.subscriber("kim@example.de", "de")
	jo := e.subscriber("jo@example.de", "de")
	e.attrs(kim, `{"birthday":"1990-03-05"}`)
	e.attrs(jo, `{"birthday":"03-05"}`)
	e.create(`{"slug":"birthday","enabled":true,"trigger":{"date_attribute":"birthday"},
		"steps":[{"delay":"9h","subject":"Alles Gute!","markdown":"Zum Geburtstag"}]}`)

	// 23:30 in Berlin on the 4th: not yet.
	if r := e.tick(time.Date(2026, 3, 4, 22, 30, 0, 0, time.UTC)); r.Entered != 0 {
		t.Fatalf("the day before: %+v", r)
	}
	// 00:30 in Berlin on the 5th (23:30 UTC on the 4th): both enter.
	if r := e.tick(time.Date(2026, 3, 4, 23, 30, 0, 0, time.UTC)); r.Entered != 2 {
		t.Fatalf("the day: %+v", r)
	}
	e.tick(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	e.tick(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	e.tick(time.Date(2026, 3, 5, 20, 0, 0, 0, time.UTC))
	if m := e.mails(); len(m) != 2 {
		t.Fatalf("%d mails on the day", len(m))
	}
	// A year later, again once.
	if r := e.tick(time.Date(2027, 3, 5, 6, 0, 0, 0, time.UTC)); r.Entered != 2 {
		t.Fatalf("next year: %+v", r)
	}
	e.tick(time.Date(2027, 3, 5, 16, 0, 0, 0, time.UTC))
	if m := e.mails(); len(m) != 4 {
		t.Fatalf("%d mails after two years", len(m))
	}
}

func TestCooldownRespected(t *testing.T) {
	e := newEnv(t)
	e.wireEvents()
	e.subscriber("kim@example.de", "en")
	e.create(`{"slug":"browse","enabled":true,"trigger":{"event":"product.viewed"},"cooldown":"720h",
		"steps":[{"delay":"0s","subject":"Still looking?","markdown":"Have a look"}]}`)
	view := func(id string, at time.Time) {
		e.now = at
		e.event(`{"type":"product.viewed","id":"` + id + `","email":"kim@example.de"}`)
		e.tick(at)
	}
	view("v1", t0)
	view("v2", t0.Add(10*24*time.Hour)) // within the cool-down
	view("v3", t0.Add(31*24*time.Hour)) // after it
	if m := e.mails(); len(m) != 2 {
		t.Fatalf("%d mails, want 2", len(m))
	}
}

func TestOffersCooldownSkipsLastRoundsRecipients(t *testing.T) {
	e := newEnv(t)
	e.subscriber("kim@example.de", "en")
	if _, err := e.coupons.CreatePool(ctx, "offers", "Offers"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.coupons.AddCodes(ctx, "offers", []string{"A1", "A2", "A3"}); err != nil {
		t.Fatal(err)
	}
	f, _ := e.eng.Get(ctx, flows.Offers)
	f.Enabled, f.Cron, f.Cooldown = true, "0 9 * * *", flows.Duration(72*time.Hour)
	if _, err := e.eng.Put(ctx, flows.Offers, f); err != nil {
		t.Fatal(err)
	}
	for d := 0; d < 4; d++ { // four daily rounds
		e.tick(time.Date(2026, 3, 3+d, 9, 0, 0, 0, time.UTC))
		e.tick(time.Date(2026, 3, 3+d, 9, 1, 0, 0, time.UTC))
	}
	if m := e.mails(); len(m) != 2 { // the 3rd and the 6th
		t.Fatalf("%d offers in four days with a 3-day cool-down, want 2", len(m))
	}
}

func TestExitOnOrder(t *testing.T) {
	e := newEnv(t)
	e.wireEvents()
	sub := e.subscriber("kim@example.de", "en")
	e.create(`{"slug":"review","enabled":true,"trigger":{"event":"review.requested"},"exit":{"order":true},
		"steps":[{"delay":"0s","subject":"How was it?","markdown":"Tell us"},{"delay":"48h","subject":"Reminder","markdown":"Tell us"}]}`)
	e.event(`{"type":"review.requested","id":"r1","email":"kim@example.de"}`)
	e.tick(t0)
	e.now = t0.Add(time.Hour)
	e.event(`{"type":"order.placed","id":"o1","email":"kim@example.de","order":{"id":"o1","currency":"EUR","total":20}}`)
	e.tick(t0.Add(49 * time.Hour))
	if st, why, _ := e.runStatus("review", sub); st != "ended" || why != flows.EndOrdered {
		t.Fatalf("run %s %s", st, why)
	}
	if m := e.mails(); len(m) != 1 {
		t.Fatalf("%d mails", len(m))
	}
}

func TestConditionListAndAttributeSteps(t *testing.T) {
	e := newEnv(t)
	e.wireEvents()
	gold := e.subscriber("gold@example.de", "en")
	plain := e.subscriber("plain@example.de", "en")
	e.attrs(gold, `{"tier":"gold"}`)
	e.exec(`INSERT INTO lists (slug, name, public, created_at) VALUES ('vip', 'VIP', 0, 0)`)
	e.create(`{"slug":"club","enabled":true,"trigger":{"event":"club.joined"},"steps":[
		{"type":"attribute","action":"set","key":"club","value":true},
		{"type":"list","action":"add","list":"vip"},
		{"type":"condition","rule":{"field":"attributes.tier","op":"eq","value":"gold"},"no":4},
		{"delay":"0s","subject":"Gold","markdown":"For gold"},
		{"type":"send","subject":"Welcome to the club","markdown":"For all"}]}`)
	e.event(`{"type":"club.joined","id":"j1","email":"gold@example.de"}`)
	e.event(`{"type":"club.joined","id":"j2","email":"plain@example.de"}`)
	e.tick(t0)
	got := map[string][]string{}
	for _, m := range e.mails() {
		got[m.to] = append(got[m.to], m.msg.Subject)
	}
	if strings.Join(got["gold@example.de"], ",") != "Gold,Welcome to the club" || strings.Join(got["plain@example.de"], ",") != "Welcome to the club" {
		t.Fatalf("mails = %v", got)
	}
	for _, id := range []int64{gold, plain} {
		var club string
		var onVIP int
		e.db.QueryRowContext(ctx, `SELECT attributes ->> '$.club' FROM subscribers WHERE id = ?`, id).Scan(&club)
		e.db.QueryRowContext(ctx, `SELECT count(*) FROM subscriptions WHERE subscriber_id = ? AND status = 'active'
			AND list_id = (SELECT id FROM lists WHERE slug = 'vip')`, id).Scan(&onVIP)
		if club != "1" || onVIP != 1 {
			t.Fatalf("subscriber %d: club %q, on vip %d", id, club, onVIP)
		}
		if st, _, _ := e.runStatus("club", id); st != "done" {
			t.Fatalf("run of %d: %s", id, st)
		}
	}
}

func TestWaitUntilWeekdayAndWebhook(t *testing.T) {
	e := newEnv(t)
	var hooks []string
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", ListID: "newsletter.shop.example",
		Emit: func(_ context.Context, _ *store.Tx, typ, key string, data any) error {
			b, _ := json.Marshal(data)
			hooks = append(hooks, typ+" "+key+" "+string(b))
			return nil
		}}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	e.wireEvents()
	sub := e.subscriber("kim@example.de", "en")
	// t0 is Monday 2 March 2026, 10:00 UTC.
	e.create(`{"slug":"hook","enabled":true,"trigger":{"event":"quiz.done"},"steps":[
		{"type":"wait","until":{"weekday":"thu","time":"09:00"}},
		{"type":"webhook"}]}`)
	e.event(`{"type":"quiz.done","id":"q1","email":"kim@example.de","data":{"score":7}}`)
	e.tick(t0.Add(24 * time.Hour))
	if len(hooks) != 0 {
		t.Fatalf("before Thursday: %v", hooks)
	}
	e.tick(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	e.tick(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	if len(hooks) != 1 || !strings.HasPrefix(hooks[0], "flow.webhook subscriber:") || !strings.Contains(hooks[0], `"score":7`) || !strings.Contains(hooks[0], `"flow":"hook"`) {
		t.Fatalf("hooks = %v", hooks)
	}
	if st, _, _ := e.runStatus("hook", sub); st != "done" {
		t.Fatalf("run %s", st)
	}
}

func TestCreateValidates(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ js, field string }{
		{`{"slug":"Bad Slug","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"b"}]}`, "slug"},
		{`{"slug":"x","steps":[{"subject":"a","markdown":"b"}]}`, "trigger"},
		{`{"slug":"x","trigger":{"confirmed":true,"event":"a.b"},"steps":[{"subject":"a","markdown":"b"}]}`, "trigger"},
		{`{"slug":"x","trigger":{"stage":"gold"},"steps":[{"subject":"a","markdown":"b"}]}`, "trigger.stage"},
		{`{"slug":"x","trigger":{"event":"Order Shipped"},"steps":[{"subject":"a","markdown":"b"}]}`, "trigger.event"},
		{`{"slug":"x","trigger":{"date_attribute":"$.x"},"steps":[{"subject":"a","markdown":"b"}]}`, "trigger.date_attribute"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"b"},{"subject":"","markdown":"b"}]}`, "steps[1].subject"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"{{ .Nope }}"}]}`, "steps[0].markdown"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"jump"}]}`, "steps[0].type"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"condition","rule":{"field":"nope","op":"eq","value":1}}]}`, "steps[0].rule"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"condition","rule":{"field":"email","op":"eq","value":"a"},"no":0},{"subject":"a","markdown":"b"}]}`, "steps[0].no"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"list","action":"add","list":"newsletter"}]}`, "steps[0].list"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"attribute","action":"set","key":"a b","value":1}]}`, "steps[0].key"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"wait","until":{"time":"25:00"}}]}`, "steps[0].until.time"},
		{`{"slug":"x","trigger":{"confirmed":true},"steps":[{"type":"webhook"}]}`, "steps[0].type"},
		{`{"slug":"x","trigger":{"confirmed":true},"cooldown":"-1h","steps":[{"subject":"a","markdown":"b"}]}`, "cooldown"},
	} {
		var f flows.Flow
		err := json.Unmarshal([]byte(tc.js), &f)
		decoded := err == nil
		if decoded {
			_, err = e.eng.Create(ctx, f)
		}
		// Rules and jumps are checked as they are decoded already (the
		// API names the field from the decoder's path).
		ee, ok := errs.As(err)
		if !ok || ee.Kind != errs.Invalid || (decoded && ee.Field != tc.field) {
			t.Errorf("%s: err = %v, want Invalid on %s", tc.js, err, tc.field)
		}
	}
	e.create(`{"slug":"ok","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"{{ .Event.anything.at.all }}"}]}`)
	var f flows.Flow
	json.Unmarshal([]byte(`{"slug":"ok","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"b"}]}`), &f)
	if _, err := e.eng.Create(ctx, f); !errs.Is(err, errs.Conflict) {
		t.Fatalf("second create: %v", err)
	}
	if err := e.eng.Delete(ctx, flows.Welcome); !errs.Is(err, errs.Conflict) {
		t.Fatalf("delete welcome: %v", err)
	}
	if err := e.eng.Delete(ctx, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Get(ctx, "ok"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestBuiltinsAreGeneralFlows(t *testing.T) {
	e := newEnv(t)
	list, err := e.eng.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || !list[0].Trigger.Confirmed || !list[0].Builtin || !list[1].Trigger.CartAbandoned || !list[2].Trigger.Schedule {
		t.Fatalf("built-ins = %+v", list)
	}
	f := list[0]
	f.Trigger = flows.Trigger{Event: "order.placed"}
	if _, err := e.eng.Put(ctx, flows.Welcome, f); !errs.Is(err, errs.Invalid) {
		t.Fatalf("changing the welcome trigger: %v", err)
	}
}

// TestWinBackThroughRetention: real orders and the daily pass move a
// customer to lapsing; the win-back flow mails once, and a second pass
// (still lapsing) starts nothing.
func TestWinBackThroughRetention(t *testing.T) {
	e := newEnv(t)
	ret, err := retention.New(e.db, retention.Config{}, discard)
	if err != nil {
		t.Fatal(err)
	}
	ret.OnChange(e.eng.OnStageChange)
	e.ev.OnOrder = func(ctx context.Context, tx *store.Tx, id int64) error {
		_, _, err := ret.Recompute(ctx, tx, id)
		return err
	}
	e.subscriber("kim@example.de", "de")
	e.create(`{"slug":"win-back","enabled":true,"trigger":{"stage":"lapsing"},
		"steps":[{"delay":"0s","subject":"Wir vermissen Sie","markdown":"Kommen Sie wieder."}]}`)
	for i, at := range []time.Time{t0, t0.Add(30 * 24 * time.Hour)} {
		e.now = at
		e.event(fmt.Sprintf(`{"type":"order.placed","id":"o%d","email":"kim@example.de","order":{"id":"o%d","currency":"EUR","total":20}}`, i, i))
	}
	for _, days := range []int{60, 100, 200, 201} {
		at := t0.Add(time.Duration(days) * 24 * time.Hour)
		e.now = at
		if _, err := ret.Pass(ctx, at); err != nil {
			t.Fatal(err)
		}
		e.tick(at)
	}
	m := e.mails()
	if len(m) != 1 || m[0].msg.Subject != "Wir vermissen Sie" {
		t.Fatalf("mails = %d %+v", len(m), m)
	}
}

func TestSegmentEntered(t *testing.T) {
	e := newEnv(t)
	segs := segments.NewStore(e.db, discard)
	eng, err := flows.New(e.db, e.q, links{}, segs, e.coupons, flows.Config{
		From: "news@shop.example", ListID: "newsletter.shop.example", SegmentEvery: time.Hour}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	rule, err := segments.Parse([]byte(`{"field":"attributes.vip","op":"eq","value":true}`))
	if err != nil {
		t.Fatal(err)
	}
	seg, err := segs.Create(ctx, "VIPs", rule)
	if err != nil {
		t.Fatal(err)
	}
	before := e.subscriber("before@example.de", "en")
	later := e.subscriber("later@example.de", "en")
	e.attrs(before, `{"vip":true}`)
	e.create(fmt.Sprintf(`{"slug":"vip","enabled":true,"trigger":{"segment_id":%d},
		"steps":[{"delay":"0s","subject":"Welcome, VIP","markdown":"Hi"}]}`, seg.ID))
	e.tick(t0) // the first check records who is in already
	e.attrs(later, `{"vip":true}`)
	e.tick(t0.Add(30 * time.Minute)) // not yet time to check
	e.tick(t0.Add(61 * time.Minute))
	e.tick(t0.Add(61 * time.Minute))
	e.tick(t0.Add(3 * time.Hour)) // still in: not again
	m := e.mails()
	if len(m) != 1 || m[0].to != "later@example.de" {
		t.Fatalf("mails = %+v", m)
	}
	// Leaving and joining again enters again.
	e.attrs(later, `{"vip":false}`)
	e.tick(t0.Add(5 * time.Hour))
	e.attrs(later, `{"vip":true}`)
	e.tick(t0.Add(7 * time.Hour))
	if m := e.mails(); len(m) != 2 || m[1].to != "later@example.de" {
		t.Fatalf("after joining again: %+v", m)
	}
}

// FuzzFlowJSON: any body of POST /api/flows decodes or is refused without
// a panic, and what decodes writes back to JSON that decodes to the same
// flow (the steps' delay, until, no and value survive a save and a load).
// Create's checks run in TestCreateValidates: with the database under the
// fuzzer's coverage instrumentation a run takes seconds.
func FuzzFlowJSON(f *testing.F) {
	f.Add(`{"slug":"a","trigger":{"event":"order.shipped"},"steps":[{"delay":"0s","subject":"{{ .Event.data.x }}","markdown":"b"}]}`)
	f.Add(`{"slug":"b","trigger":{"date_attribute":"birthday"},"cooldown":"1h","steps":[{"type":"wait","until":{"weekday":"mon","time":"09:00"}},{"type":"condition","rule":{"field":"email","op":"eq","value":"a"},"no":"end"},{"type":"attribute","action":"set","key":"k","value":[1,{"a":null}]}]}`)
	f.Add(`{"slug":"c","trigger":{"stage":"lapsing"},"steps":[{"type":"condition","rule":{"field":"email","op":"eq","value":"a"},"no":1},{"type":"list","action":"remove","list":"newsletter"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in flows.Flow
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			return
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%s: marshal: %v", body, err)
		}
		var again flows.Flow
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%s: wrote %s, which does not decode: %v", body, out, err)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the flow:\n%s\n%s", out, out2)
		}
	})
}

// BenchmarkTickGeneral100k: a tick with 100,000 runs of a marketer's flow
// due, each checking the order exit and a condition step, then mailing with
// its event's data.
func BenchmarkTickGeneral100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		e.create(`{"slug":"shipped","enabled":true,"trigger":{"event":"order.shipped"},"exit":{"order":true},"steps":[
			{"type":"condition","rule":{"field":"status","op":"eq","value":"active"}},
			{"subject":"Unterwegs mit {{ .Event.data.carrier }}","markdown":"Hallo {{ .FirstName }}"}]}`)
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
				INSERT INTO subscribers (email, email_key, name, locale, status, created_at, updated_at)
				SELECT 'u'||i||'@example.de', 'u'||i||'@example.de', 'Kim '||i, CASE WHEN i%2=0 THEN 'de' ELSE 'en' END, 'active', 0, 0 FROM n;
				INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) SELECT id, 1, 'active', 0, 0 FROM subscribers;
				INSERT INTO flow_runs (flow, subscriber_id, trigger_key, due_at, event, created_at, updated_at)
				SELECT 'shipped', id, 'event:'||id, ?, '{"type":"order.shipped","data":{"carrier":"DHL"}}', ?, ? FROM subscribers`,
				n, t0.Unix(), t0.Unix(), t0.Unix())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r := e.tick(t0.Add(time.Minute))
		if r.Sent != n {
			b.Fatalf("sent %d", r.Sent)
		}
		b.ReportMetric(float64(r.Sent)/time.Since(start).Seconds(), "mails/s")
	}
}

func TestFlowJSONNamesTheStep(t *testing.T) {
	for _, tc := range []struct{ js, field string }{
		{`{"steps":[{"subject":"a"},{"delay":"soon"}]}`, "steps[1].delay"},
		{`{"steps":[{"type":"condition","no":"never"}]}`, "steps[0].no"},
		{`{"steps":[{},{},{"type":"condition","rule":{"all":[{"field":"email","op":"xx","value":"a"}]}}]}`, "steps[2].rule.all[0].op"},
		{`{"steps":[{"subject":5}]}`, "steps[0].subject"},
		{`{"cooldown":"a while","steps":[]}`, "cooldown"},
	} {
		var f flows.Flow
		err := json.Unmarshal([]byte(tc.js), &f)
		if ee, ok := errs.As(err); !ok || ee.Kind != errs.Invalid || ee.Field != tc.field {
			t.Errorf("%s: %v (field %q), want %s", tc.js, err, func() string { e, _ := errs.As(err); return e.Field }(), tc.field)
		}
	}
	var f flows.Flow
	if err := json.Unmarshal([]byte(`{"slug":"x","name":"X","trigger":{"event":"a.b"},"cooldown":"1h","steps":[{"delay":"2h","subject":"s","markdown":"m"}]}`), &f); err != nil ||
		f.Slug != "x" || f.Trigger.Event != "a.b" || time.Duration(f.Cooldown) != time.Hour || time.Duration(f.Steps[0].Delay) != 2*time.Hour {
		t.Fatalf("decoded %+v, %v", f, err)
	}
}
