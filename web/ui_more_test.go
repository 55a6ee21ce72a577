package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/imports"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

// moreServices are the real domain services behind the segments, flows,
// coupons and import pages, on the env's database.
type moreServices struct {
	subs  *subscribers.Service
	segs  *segments.Store
	flows *flows.Engine
	pools *coupons.Service
	imps  *imports.Service
}

func newMoreEnv(t *testing.T) (*uiEnv, *moreServices) {
	t.Helper()
	m := &moreServices{}
	env := newUIEnv(t, func(_ *Config, d *UIDeps) {
		d.Subscribers = lateEnroller{lateSubscribers{&m.subs}}
		d.Segments = lateSegments{&m.segs}
		d.Flows = lateFlows{&m.flows}
		d.Coupons = lateCoupons{&m.pools}
		d.Imports = lateImports{&m.imps}
	})
	log := slog.New(slog.DiscardHandler)
	s, err := subscribers.New(env.db, nopQueue{}, subscribers.Config{BaseURL: "http://treu.test", From: "news@shop.example",
		Secret: []byte("0123456789abcdef0123456789abcdef")}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m.subs = s
	m.segs = segments.NewStore(env.db, log)
	m.pools = coupons.New(env.db, log)
	if m.imps, err = imports.New(env.db, s, imports.Config{Dir: t.TempDir()}, log); err != nil {
		t.Fatal(err)
	}
	m.flows, err = flows.New(env.db, nopQueue{}, s, m.segs, m.pools, flows.Config{From: "news@shop.example",
		ListID: "newsletter.shop.example", Footer: templates.Footer{ShopName: "Laden am Eck", Impressum: "Laden am Eck GmbH"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	return env, m
}

// The late* types let a test build a service after the env's database.
type lateEnroller struct{ lateSubscribers }

func (l lateEnroller) Enroll(ctx context.Context, in subscribers.EnrollInput, meta subscribers.Meta) (subscribers.Subscriber, bool, error) {
	return (*l.s).Enroll(ctx, in, meta)
}

type lateSegments struct{ s **segments.Store }

func (l lateSegments) List(ctx context.Context) ([]segments.Segment, error) { return (*l.s).List(ctx) }
func (l lateSegments) Get(ctx context.Context, id int64) (segments.Segment, error) {
	return (*l.s).Get(ctx, id)
}
func (l lateSegments) Create(ctx context.Context, name string, r segments.Rule) (segments.Segment, error) {
	return (*l.s).Create(ctx, name, r)
}
func (l lateSegments) Update(ctx context.Context, id int64, name string, r segments.Rule) (segments.Segment, error) {
	return (*l.s).Update(ctx, id, name, r)
}
func (l lateSegments) Delete(ctx context.Context, id int64) error { return (*l.s).Delete(ctx, id) }

type lateFlows struct{ e **flows.Engine }

func (l lateFlows) List(ctx context.Context) ([]flows.Flow, error) { return (*l.e).List(ctx) }
func (l lateFlows) Get(ctx context.Context, slug string) (flows.Flow, error) {
	return (*l.e).Get(ctx, slug)
}
func (l lateFlows) Put(ctx context.Context, slug string, f flows.Flow) (flows.Flow, error) {
	return (*l.e).Put(ctx, slug, f)
}
func (l lateFlows) Create(ctx context.Context, f flows.Flow) (flows.Flow, error) {
	return (*l.e).Create(ctx, f)
}
func (l lateFlows) Stats(ctx context.Context, slug string) (flows.Stats, error) {
	return (*l.e).Stats(ctx, slug)
}

type lateCoupons struct{ s **coupons.Service }

func (l lateCoupons) CreatePool(ctx context.Context, slug, name string) (coupons.Pool, error) {
	return (*l.s).CreatePool(ctx, slug, name)
}
func (l lateCoupons) List(ctx context.Context) ([]coupons.Pool, error) { return (*l.s).List(ctx) }
func (l lateCoupons) Get(ctx context.Context, slug string) (coupons.Pool, error) {
	return (*l.s).Get(ctx, slug)
}
func (l lateCoupons) AddCodes(ctx context.Context, slug string, codes []string) (int, error) {
	return (*l.s).AddCodes(ctx, slug, codes)
}
func (l lateCoupons) ImportCSV(ctx context.Context, slug string, r io.Reader) (int, error) {
	return (*l.s).ImportCSV(ctx, slug, r)
}
func (l lateCoupons) Generate(ctx context.Context, slug, pattern string, n int) (int, error) {
	return (*l.s).Generate(ctx, slug, pattern, n)
}

// upload posts a multipart form with one file, as a browser's file input does.
func (c *uiClient) upload(path string, fields url.Values, field, filename string, content []byte) uiResp {
	c.env.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range fields {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	fw, err := w.CreateFormFile(field, filename)
	if err != nil {
		c.env.t.Fatal(err)
	}
	fw.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.env.ts.URL+path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	if t.Failed() {
		t.Fatalf("%s:\n%s", what, body)
	}
}

func setOrders(t *testing.T, env *uiEnv, email string, n int) {
	t.Helper()
	err := env.db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ExecContext(context.Background(), `UPDATE subscribers SET order_count = ? WHERE email_key = ?`, n, email)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUISegmentPages(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	if _, err := m.subs.CreateList(ctx, "vip", "VIP", ""); err != nil {
		t.Fatal(err)
	}
	enroll(t, m.subs, "anna@example.com", "Anna", "newsletter", "vip")
	enroll(t, m.subs, "ben@example.com", "Ben", "newsletter")
	enroll(t, m.subs, "cem@example.com", "Cem", "newsletter")
	setOrders(t, env, "anna@example.com", 3)
	setOrders(t, env, "ben@example.com", 2)
	c := env.client()
	c.signIn()

	r := c.get("/ui/segments")
	mustContain(t, "empty list", r.Body, "No segments yet.", `href="/ui/segments/new"`)

	r = c.get("/ui/segments/new")
	if r.Status != http.StatusOK {
		t.Fatalf("new segment: %d", r.Status)
	}
	// An empty "all" counts everyone on a list; the builder gets its table.
	mustContain(t, "new segment page", r.Body, `Members now: <strong id="seg-count-n">3</strong>`, `id="rule-builder"`,
		`data-config="{&#34;fields&#34;:`, `hx-post="/ui/segments/count"`, `name="rule"`, "/static/rulebuilder.js?v=")
	tok := c.csrfOf("/ui/segments/new")

	// The live count, as the builder asks for it.
	rule := `{"all": [{"field": "orders.count", "op": "gte", "value": 2}]}`
	r = c.post("/ui/segments/count", url.Values{"csrf": {tok}, "rule": {rule}})
	mustContain(t, "live count", r.Body, `<strong id="seg-count-n">2</strong>`)
	if strings.Contains(r.Body, "<html") {
		t.Fatal("the count is a fragment, not a page")
	}
	r = c.post("/ui/segments/count", url.Values{"csrf": {tok}, "rule": {`{"all": [{"field": "orders.count", "op": "contains", "value": 2}]}`}})
	if r.Status != http.StatusOK {
		t.Fatalf("count of a bad rule: %d", r.Status)
	}
	mustContain(t, "count of a bad rule", r.Body, `class="msg err inline"`, `data-field="rule.all[0].op"`, "does not apply")
	r = c.post("/ui/segments/count", url.Values{"csrf": {tok}, "rule": {`{"all": [`}})
	mustContain(t, "count of broken JSON", r.Body, `data-field="rule"`, "not valid JSON")

	// Saving an invalid rule shows segments.Parse's message and keeps the input.
	r = c.post("/ui/segments", url.Values{"csrf": {tok}, "name": {"Stammkunden"}, "rule": {`{"all": [{"field": "shoe_size", "op": "eq", "value": 42}]}`}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid rule: %d", r.Status)
	}
	mustContain(t, "invalid rule", r.Body, `unknown field &#34;shoe_size&#34;`, `data-error-field="rule.all[0].field"`,
		`name="rule" class="json" spellcheck="false" aria-describedby="rule-hint" aria-invalid="true"`, `value="Stammkunden"`, "shoe_size")

	r = c.post("/ui/segments", url.Values{"csrf": {tok}, "name": {"Stammkunden"}, "rule": {rule}})
	if r.Status != http.StatusSeeOther || !regexp.MustCompile(`^/ui/segments/\d+\?done=segment-saved$`).MatchString(r.Location) {
		t.Fatalf("create: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	page := strings.TrimSuffix(r.Location, "?done=segment-saved")
	list, err := m.segs.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "Stammkunden" || len(list[0].Rule.All) != 1 || list[0].Rule.All[0].Op != "gte" {
		t.Fatalf("saved: %+v %v", list, err)
	}
	id := itoa(list[0].ID)
	r = c.get(r.Location)
	mustContain(t, "saved segment", r.Body, "Segment saved.", `<strong id="seg-count-n">2</strong>`, `&#34;orders.count&#34;`)

	// The same name again is a conflict on the name field.
	r = c.post("/ui/segments", url.Values{"csrf": {tok}, "name": {"Stammkunden"}, "rule": {rule}})
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, `id="seg-name" name="name" value="Stammkunden" required maxlength="200" aria-invalid="true"`) {
		t.Fatalf("duplicate name: %d\n%s", r.Status, r.Body)
	}

	// Edit: a user-typed name and value are shown as text.
	evil := `<script>alert("x")</script>`
	r = c.post(page, url.Values{"csrf": {tok}, "name": {evil},
		"rule": {`{"any": [{"field": "list", "op": "eq", "value": "vip"}, {"field": "name", "op": "contains", "value": "<b>x</b>"}]}`}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", r.Status, r.Body)
	}
	r = c.get("/ui/segments")
	if strings.Contains(r.Body, "<script>alert") || strings.Contains(r.Body, "<b>x</b>") {
		t.Fatalf("segment list does not escape:\n%s", r.Body)
	}
	mustContain(t, "segment list", r.Body, "&lt;script&gt;alert", `hx-get="/ui/segments/`+id+`/count"`, "List is &#34;vip&#34; or Name contains")
	if r := c.get(page); strings.Contains(r.Body, "<script>alert") {
		t.Fatal("segment page does not escape the name")
	}
	r = c.get(page + "/count")
	if r.Status != http.StatusOK || strings.TrimSpace(r.Body) != "1" {
		t.Fatalf("saved count: %d %q", r.Status, r.Body)
	}

	// A segment a campaign may still send to is not deleted.
	err = env.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO campaigns (name, subject, markdown, segment_id, status, created_at, updated_at)
			VALUES ('Sommer', 'Sommer', 'x', ?, 'draft', 0, 0)`, list[0].ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r = c.post(page+"/delete", url.Values{"csrf": {tok}})
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, `campaign &#34;Sommer&#34;`) {
		t.Fatalf("delete of a used segment: %d\n%s", r.Status, r.Body)
	}
	err = env.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'cancelled'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r = c.post(page+"/delete", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/segments?done=segment-deleted" {
		t.Fatalf("delete: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	if _, err := m.segs.Get(ctx, list[0].ID); err == nil {
		t.Fatal("deleted segment still there")
	}
	if r := c.get(page); r.Status != http.StatusNotFound {
		t.Fatalf("deleted segment's page: %d", r.Status)
	}
}

func TestUISegmentsGerman(t *testing.T) {
	env, _ := newMoreEnv(t)
	c := env.client()
	c.signIn()
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	r := c.get("/ui/segments/new")
	mustContain(t, "German segment page", r.Body, "Neues Segment", "Mitglieder jetzt", "Anzahl Bestellungen", "mindestens")
}

func TestUIFlowPages(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	c := env.client()
	c.signIn()

	r := c.get("/ui/flows")
	mustContain(t, "flow list", r.Body, `href="/ui/flows/welcome">Welcome</a>`, `href="/ui/flows/cart-abandonment">Cart abandonment</a>`,
		`href="/ui/flows/offers">Offers</a>`, "built-in texts")

	r = c.get("/ui/flows/cart-abandonment")
	if r.Status != http.StatusOK {
		t.Fatalf("cart flow: %d", r.Status)
	}
	mustContain(t, "cart flow page", r.Body,
		`name="steps[0].delay" value="1h"`, `name="steps[1].delay" value="23h"`,
		`name="steps[0].subject" value="Still thinking it over?"`,
		`name="steps[0].locales.de.subject" value="Noch unentschlossen?"`,
		`hx-post="/ui/flows/cart-abandonment/preview"`, "Cart recovery rate", "after the last change to the cart")
	if strings.Contains(r.Body, `name="cron"`) {
		t.Error("only offers run on a schedule")
	}
	tok := c.csrfOf("/ui/flows")
	f, _ := m.flows.Get(ctx, flows.CartAbandonment)

	// The form as the page posts it.
	form := func() url.Values {
		v := url.Values{"csrf": {tok}, "version": {itoa(f.Version)}, "enabled": {"1"}}
		for i, st := range f.Steps {
			p := "steps[" + itoa(int64(i)) + "]."
			v.Set(p+"delay", formatDelay(time.Duration(st.Delay)))
			v.Set(p+"subject", st.Subject)
			v.Set(p+"markdown", st.Markdown)
			v.Set(p+"coupon_pool", st.CouponPool)
			for loc, tx := range st.Locales {
				v.Set(p+"locales."+loc+".subject", tx.Subject)
				v.Set(p+"locales."+loc+".markdown", tx.Markdown)
			}
		}
		return v
	}

	// Preview: the German text of step 1 with the sample cart, through the real renderer.
	v := form()
	v.Set("preview_step", "0")
	v.Set("steps[0].preview_locale", "de")
	r = c.post("/ui/flows/cart-abandonment/preview", v)
	mustContain(t, "preview", r.Body, `id="flow-preview-subject-0">Noch unentschlossen?</span>`, `srcdoc="`, "Sencha, 100 g",
		"Ihr Warenkorb wartet", "Laden am Eck GmbH")
	if strings.Contains(r.Body, "<html lang=\"en\"") || strings.Contains(r.Body, "Signed in as") {
		t.Fatal("the preview is a fragment")
	}
	v.Set("steps[0].preview_locale", "en")
	v.Set("steps[0].markdown", "Hallo {{ .Nope")
	r = c.post("/ui/flows/cart-abandonment/preview", v)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `class="msg err"`) {
		t.Fatalf("preview of a broken template: %d\n%s", r.Status, r.Body)
	}

	// Save: a new subject and delay for step 1.
	v = form()
	v.Set("steps[0].subject", "Noch da, {{ .FirstName }}?")
	v.Set("steps[0].delay", "2h")
	v.Set("steps[1].delay", "1d")
	v.Set("action", "save")
	r = c.post("/ui/flows/cart-abandonment", v)
	if r.Status != http.StatusSeeOther || r.Location != "/ui/flows/cart-abandonment?done=flow-saved" {
		t.Fatalf("save: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	saved, _ := m.flows.Get(ctx, flows.CartAbandonment)
	if saved.Default || saved.Steps[0].Subject != "Noch da, {{ .FirstName }}?" || time.Duration(saved.Steps[0].Delay) != 2*time.Hour ||
		time.Duration(saved.Steps[1].Delay) != 24*time.Hour || saved.Steps[0].Locales["de"].Subject != "Noch unentschlossen?" || !saved.Enabled {
		t.Fatalf("saved flow: %+v", saved)
	}
	r = c.get(r.Location)
	mustContain(t, "saved flow page", r.Body, "Flow saved.", `name="steps[1].delay" value="1d"`)

	// The form kept the old version: saving it again is a conflict, and
	// what was typed stays.
	v.Set("steps[0].subject", "Mein Text")
	r = c.post("/ui/flows/cart-abandonment", v)
	if r.Status != http.StatusConflict || !strings.Contains(r.Body, `value="Mein Text"`) {
		t.Fatalf("stale save: %d\n%s", r.Status, r.Body)
	}
	f = saved

	// A template error names the step's field; a bad delay too.
	v = form()
	v.Set("steps[1].markdown", "Hallo {{ .Nope")
	r = c.post("/ui/flows/cart-abandonment", v)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `name="steps[1].markdown" class="step-md" aria-describedby="s1-md-hint" aria-invalid="true"`) ||
		!strings.Contains(r.Body, "Hallo {{ .Nope") {
		t.Fatalf("template error: %d\n%s", r.Status, r.Body)
	}
	v = form()
	v.Set("steps[0].delay", "soon")
	r = c.post("/ui/flows/cart-abandonment", v)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `value="soon"`) || !strings.Contains(r.Body, `name="steps[0].delay" value="soon" class="short" aria-describedby="s0-delay-hint" aria-invalid="true"`) {
		t.Fatalf("bad delay: %d\n%s", r.Status, r.Body)
	}

	// Add and remove steps without saving.
	v = form()
	v.Set("action", "add-step")
	r = c.post("/ui/flows/cart-abandonment", v)
	mustContain(t, "added step", r.Body, `name="steps[2].delay" value="1d"`, "Step added.")
	v.Set("action", "remove-step-0")
	r = c.post("/ui/flows/cart-abandonment", v)
	if strings.Contains(r.Body, `name="steps[1].subject"`) || !strings.Contains(r.Body, `name="steps[0].delay" value="1d"`) {
		t.Fatalf("removed step:\n%s", r.Body)
	}
	if got, _ := m.flows.Get(ctx, flows.CartAbandonment); got.Version != f.Version {
		t.Fatal("adding or removing a step saved the flow")
	}

	// Offers: a schedule, a segment, and a coupon pool that must exist.
	seg, err := m.segs.Create(ctx, "Kunden", segments.Rule{All: []segments.Rule{}})
	if err != nil {
		t.Fatal(err)
	}
	r = c.get("/ui/flows/offers")
	mustContain(t, "offers page", r.Body, `name="cron" value="0 9 * * MON"`, `<option value="`+itoa(seg.ID)+`">Kunden</option>`,
		`<option value="offers" selected>offers (missing)</option>`)
	off, _ := m.flows.Get(ctx, flows.Offers)
	ov := url.Values{"csrf": {tok}, "version": {itoa(off.Version)}, "enabled": {"1"}, "cron": {"0 10 * * TUE"}, "segment_id": {itoa(seg.ID)},
		"steps[0].delay": {"0"}, "steps[0].subject": {"Für Sie"}, "steps[0].markdown": {"Ihr Code: {{ .Coupon }}"}, "steps[0].coupon_pool": {"offers"}}
	r = c.post("/ui/flows/offers", ov)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `coupon pool &#34;offers&#34; does not exist`) {
		t.Fatalf("offers without the pool: %d\n%s", r.Status, r.Body)
	}
	if _, err := m.pools.CreatePool(ctx, "offers", "Angebote"); err != nil {
		t.Fatal(err)
	}
	r = c.post("/ui/flows/offers", ov)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("offers: %d\n%s", r.Status, r.Body)
	}
	if got, _ := m.flows.Get(ctx, flows.Offers); !got.Enabled || got.Cron != "0 10 * * TUE" || got.SegmentID == nil || *got.SegmentID != seg.ID {
		t.Fatalf("offers saved: %+v", got)
	}
	if r := c.get("/ui/flows/nope"); r.Status != http.StatusNotFound {
		t.Fatalf("unknown flow: %d", r.Status)
	}
}

// TestUIFlowStats: the figures of flows.Stats on the list and the flow page.
func TestUIFlowStats(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	var ids []int64
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		ids = append(ids, enroll(t, m.subs, e, "").ID)
	}
	const t0 = 1_700_000_000
	err := env.db.Tx(ctx, func(tx *store.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			// a: mailed, then ordered 2 hours later (converted, a recovered cart).
			{`INSERT INTO flow_runs (id, flow, subscriber_id, trigger_key, step, status, due_at, created_at, updated_at) VALUES (1, 'cart-abandonment', ?, 'c1', 1, 'active', ?, ?, ?)`, []any{ids[0], t0 + 86400, t0, t0}},
			{`INSERT INTO flow_sends (run_id, flow, step, subscriber_id, sent_at) VALUES (1, 'cart-abandonment', 0, ?, ?)`, []any{ids[0], t0}},
			{`INSERT INTO shop_orders (order_id, email_key, subscriber_id, currency, total, placed_at) VALUES ('o1', 'a@example.com', ?, 'EUR', 1234.5, ?)`, []any{ids[0], t0 + 7200}},
			// b: mailed, run ended because they ordered (too late for the window).
			{`INSERT INTO flow_runs (id, flow, subscriber_id, trigger_key, step, status, end_reason, created_at, updated_at) VALUES (2, 'cart-abandonment', ?, 'c2', 1, 'ended', 'ordered', ?, ?)`, []any{ids[1], t0, t0}},
			{`INSERT INTO flow_sends (run_id, flow, step, subscriber_id, sent_at) VALUES (2, 'cart-abandonment', 0, ?, ?)`, []any{ids[1], t0}},
			// c: cart cleared before the first mail.
			{`INSERT INTO flow_runs (id, flow, subscriber_id, trigger_key, step, status, end_reason, created_at, updated_at) VALUES (3, 'cart-abandonment', ?, 'c3', 0, 'ended', 'cart_cleared', ?, ?)`, []any{ids[2], t0, t0}},
			// d: both mails, no order.
			{`INSERT INTO flow_runs (id, flow, subscriber_id, trigger_key, step, status, created_at, updated_at) VALUES (4, 'cart-abandonment', ?, 'c4', 2, 'done', ?, ?)`, []any{ids[3], t0, t0}},
			{`INSERT INTO flow_sends (run_id, flow, step, subscriber_id, sent_at) VALUES (4, 'cart-abandonment', 0, ?, ?), (4, 'cart-abandonment', 1, ?, ?)`, []any{ids[3], t0, ids[3], t0 + 86400}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/flows")
	mustContain(t, "flow list", r.Body, `<td class="num">4</td>`, `<td class="num">1,234.50</td>`)
	r = c.get("/ui/flows/cart-abandonment")
	mustContain(t, "cart flow numbers", r.Body,
		`<div class="n">4</div><div>Entered</div>`, `<div class="n">4</div><div>Mails sent</div>`,
		`<div class="n">1</div><div>Converted</div>`, `<div class="n">1,234.50</div><div>Revenue</div>`,
		`<div class="n">1</div><div>Carts recovered</div>`, `id="recovery-rate">33.3 %</div>`,
		"<tr><td>Cart cleared</td><td class=\"num\">1</td></tr>", "<tr><td>Ordered</td><td class=\"num\">1</td></tr>",
		// Step 1: four runs reached it, three mails; step 2: three runs (one
		// ended there), one mail.
		`<tr><td>1</td><td class="num">4</td><td class="num">3</td>`, `<tr><td>2</td><td class="num">3</td><td class="num">1</td>`)
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	r = c.get("/ui/flows/cart-abandonment")
	mustContain(t, "German numbers", r.Body, `<div class="n">1.234,50</div><div>Umsatz</div>`, `id="recovery-rate">33,3 %</div>`, "Warenkorb geleert")
}

func TestUICouponPages(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	c := env.client()
	c.signIn()
	r := c.get("/ui/coupons")
	mustContain(t, "pool list", r.Body, "No coupon pools yet.")
	tok := c.csrfOf("/ui/coupons")

	r = c.post("/ui/coupons", url.Values{"csrf": {tok}, "slug": {"Früh ling"}, "name": {"x"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `value="Früh ling" required maxlength="63" pattern="[a-z0-9][a-z0-9-]*" aria-describedby="pool-slug-hint" aria-invalid="true"`) {
		t.Fatalf("bad slug: %d\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/coupons", url.Values{"csrf": {tok}, "slug": {"spring"}, "name": {`<i>Frühling</i>`}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/coupons/spring?done=pool-created" {
		t.Fatalf("create pool: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	if r := c.post("/ui/coupons", url.Values{"csrf": {tok}, "slug": {"spring"}, "name": {"again"}}); r.Status != http.StatusConflict {
		t.Fatalf("same slug: %d", r.Status)
	}
	r = c.get(r.Location)
	if strings.Contains(r.Body, "<i>Frühling") {
		t.Fatal("pool name not escaped")
	}
	mustContain(t, "new pool", r.Body, "Coupon pool created.", "&lt;i&gt;Frühling&lt;/i&gt;", `id="pool-total">0</div>`)

	// Codes typed one per line; a repeated one counts once.
	r = c.post("/ui/coupons/spring/codes", url.Values{"csrf": {tok}, "codes": {"A-1\r\nA-2\r\n\r\nA-2\r\n"}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/coupons/spring?done=codes-added&n=2" {
		t.Fatalf("add codes: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	mustContain(t, "after adding", c.get(r.Location).Body, "Added 2 new codes.", `id="pool-total">2</div>`)
	r = c.post("/ui/coupons/spring/codes", url.Values{"csrf": {tok}, "codes": {"OK-1\n\nhas space\n"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Line 3: must be printable ASCII without spaces") ||
		!strings.Contains(r.Body, "has space") {
		t.Fatalf("bad code: %d\n%s", r.Status, r.Body)
	}
	// A link cannot put text on the page: n must be a number.
	if r := c.get("/ui/coupons/spring?done=codes-added&n=%3Cb%3Ehi"); strings.Contains(r.Body, "<b>hi") || strings.Contains(r.Body, "Added") {
		t.Fatal("n is not checked")
	}

	// A CSV file, with a header row.
	r = c.upload("/ui/coupons/spring/import", url.Values{"csrf": {tok}}, "file", "codes.csv", []byte("\ufeffcode\nB-1\nB-2\nA-1\n"))
	if r.Status != http.StatusSeeOther || r.Location != "/ui/coupons/spring?done=codes-added&n=2" {
		t.Fatalf("import codes: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	r = c.upload("/ui/coupons/spring/import", url.Values{"csrf": {tok}}, "file", "codes.csv", []byte("code\n\"B-1\n"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("broken CSV: %d\n%s", r.Status, r.Body)
	}
	r = c.upload("/ui/coupons/spring/import", url.Values{"csrf": {tok}}, "file", "big.csv", bytes.Repeat([]byte("X\n"), maxCodesFile/2+1))
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "larger than 16 MiB") {
		t.Fatalf("large file: %d", r.Status)
	}

	// Generated from a pattern.
	r = c.post("/ui/coupons/spring/generate", url.Values{"csrf": {tok}, "pattern": {"SPRING-XXXXXX"}, "count": {"5"}})
	if r.Status != http.StatusSeeOther || r.Location != "/ui/coupons/spring?done=codes-added&n=5" {
		t.Fatalf("generate: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	r = c.post("/ui/coupons/spring/generate", url.Values{"csrf": {tok}, "pattern": {"SPRING-XX"}, "count": {"5"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `value="SPRING-XX" required aria-describedby="pool-pattern-hint" aria-invalid="true"`) {
		t.Fatalf("short pattern: %d\n%s", r.Status, r.Body)
	}

	// Assigned and left; a flow that draws from the pool.
	sub := enroll(t, m.subs, "kim@example.com", "Kim")
	err := env.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := m.pools.Assign(ctx, tx, "spring", sub.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wel, _ := m.flows.Get(ctx, flows.Welcome)
	wel.Steps[0].CouponPool = "spring"
	if _, err := m.flows.Put(ctx, flows.Welcome, wel); err != nil {
		t.Fatal(err)
	}
	r = c.get("/ui/coupons/spring")
	mustContain(t, "pool page", r.Body, `id="pool-total">9</div>`, `id="pool-assigned">1</div>`, `id="pool-left">8</div>`,
		`<a href="/ui/flows/welcome">welcome</a>`)
	r = c.get("/ui/coupons")
	mustContain(t, "pool list", r.Body, `<td class="num">9</td>`, `<td class="num">8</td>`, `<a href="/ui/flows/welcome">welcome</a>`)
	if r := c.get("/ui/coupons/nope"); r.Status != http.StatusNotFound {
		t.Fatalf("unknown pool: %d", r.Status)
	}
}

// selected is the value of the selected option of the select named name.
func selected(body, name string) string {
	m := regexp.MustCompile(`(?s)<select name="` + regexp.QuoteMeta(name) + `".*?</select>`).FindString(body)
	v := regexp.MustCompile(`<option value="([^"]*)" selected>`).FindStringSubmatch(m)
	if v == nil {
		return "(none)"
	}
	return v[1]
}

func TestDelayHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{{"1h", time.Hour, "1h"}, {"90m", 90 * time.Minute, "1h30m"}, {"3d", 72 * time.Hour, "3d"}, {"1d12h", 36 * time.Hour, "36h"}, {"0", 0, "0"}, {"45s", 45 * time.Second, "45s"}} {
		got, err := parseDelay(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDelay(%q) = %v, %v", tc.in, got, err)
		}
		if s := formatDelay(got); s != tc.out {
			t.Errorf("formatDelay(%v) = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"", "soon", "d", "-1d", "1x"} {
		if _, err := parseDelay(bad); err == nil {
			t.Errorf("parseDelay(%q) accepted", bad)
		}
	}
}

// TestUIMoreTranslations: the UI strings these pages keep in tables (and so
// out of TestUITranslations' sight) have German too.
func TestUIMoreTranslations(t *testing.T) {
	var keys []string
	for _, f := range flowInfo {
		keys = append(keys, f.Name, f.About, f.Trigger)
	}
	for _, m := range []map[string]string{flowEndReasons, flowLocaleNames, ruleOps, ruleGroups, moreFlashes} {
		for _, v := range m {
			keys = append(keys, v)
		}
	}
	for _, f := range ruleFields {
		keys = append(keys, f.Label)
	}
	keys = append(keys, "The file is empty.", "The file is not a CSV file:", "The file has more than 200 columns.")
	for _, k := range keys {
		if _, ok := uiGerman[k]; !ok {
			t.Errorf("no German for %q", k)
		}
	}
}
