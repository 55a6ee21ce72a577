package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// retentionEnv is the UI with real subscribers, events and retention
// services on one database, and a clock the test moves.
type retentionEnv struct {
	*uiEnv
	subs *subscribers.Service
	ev   *events.Service
	ret  *retention.Service
	now  time.Time
}

func newRetentionEnv(t *testing.T) *retentionEnv {
	t.Helper()
	env, subs := newSubscribersEnv(t)
	e := &retentionEnv{uiEnv: env, subs: subs, now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	env.db.Now = func() time.Time { return e.now }
	ret, err := retention.New(env.db, retention.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e.ret = ret
	e.ev = events.New(env.db, slog.New(slog.DiscardHandler), events.Config{})
	t.Cleanup(func() { e.ev.Close() })
	e.ev.OnOrder = func(ctx context.Context, tx *store.Tx, id int64) error {
		_, _, err := ret.Recompute(ctx, tx, id)
		return err
	}
	env.srv.retention = ret
	env.srv.subs = subs // the report counts prospects through it
	return e
}

func (e *retentionEnv) order(email, id string, total float64, at time.Time) {
	e.t.Helper()
	e.now = at
	_, err := e.ev.Ingest(context.Background(), fmt.Appendf(nil,
		`{"type":"order.placed","id":"ev-%s","email":%q,"order":{"id":%q,"currency":"EUR","total":%g}}`, id, email, id, total))
	if err != nil {
		e.t.Fatal(err)
	}
}

// The subscriber page shows the stage and the timeline of moves.
func TestUISubscriberStageTimeline(t *testing.T) {
	e := newRetentionEnv(t)
	kim := enroll(t, e.subs, "kim@example.com", "Kim")
	c := e.client()
	c.signIn()
	r := c.get(fmt.Sprintf("/ui/subscribers/%d", kim.ID))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, ">Prospect<") || !strings.Contains(r.Body, "a prospect since enrolling") {
		t.Fatalf("prospect page:\n%s", r.Body)
	}
	e.order("kim@example.com", "o1", 30, e.now)
	e.order("kim@example.com", "o2", 30, e.now.Add(time.Hour))
	r = c.get(fmt.Sprintf("/ui/subscribers/%d", kim.ID))
	for _, want := range []string{`id="stage">Repeat buyer<`, "Prospect → <strong>First-time buyer</strong>",
		"First-time buyer → <strong>Repeat buyer</strong>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.Body)
	}
}

// seedRetention enrolls three customers and sends their orders: a buys in
// January and February, b twice in February, c once in January.
func (e *retentionEnv) seedRetention() {
	e.t.Helper()
	for _, who := range []string{"a", "b", "c", "d"} {
		enroll(e.t, e.subs, who+"@example.com", strings.ToUpper(who))
	}
	e.now = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for i, o := range []struct{ who, at string }{{"a", "2026-01-10"}, {"a", "2026-02-05"}, {"b", "2026-02-10"},
		{"b", "2026-02-11"}, {"c", "2026-01-15"}} {
		_, err := e.ev.Ingest(context.Background(), fmt.Appendf(nil, `{"type":"order.placed","email":"%s@example.com",
			"occurred_at":"%sT10:00:00Z","order":{"id":"o%d","currency":"EUR","total":50}}`, o.who, o.at, i))
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

// The retention page shows each figure with its explanation and the charts.
func TestUIRetentionPage(t *testing.T) {
	e := newRetentionEnv(t)
	e.seedRetention()
	c := e.client()
	c.signIn()
	r := c.get("/ui/retention?from=2026-02-01&to=2026-02-28")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.Status, r.Body)
	}
	for _, want := range []string{
		`id="fig-customers"><div class="n">2</div>`,        // a, b
		`id="fig-repurchase"><div class="n">100.0 %</div>`, // both have 2 orders
		`id="fig-churn"><div class="n">50.0 %</div>`,       // a and c before; c did not come back
		`id="fig-aov"><div class="n">50.00</div>`,
		"Revenue divided by the number of orders in the period.",
		`<svg id="ladder-chart"`, `data-stage="repeat_buyer">2<`, `data-stage="prospect">1<`,
		`<svg id="moves-chart"`, `<svg id="cohort-chart"`,
	} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(r.Body, `class="hint explain"`) < 11 {
		t.Errorf("not every figure and chart has its explanation")
	}
	if t.Failed() {
		t.Log(r.Body)
	}
	// The default period, and a bad one.
	if r := c.get("/ui/retention"); r.Status != http.StatusOK || !strings.Contains(r.Body, `id="fig-customers"`) {
		t.Fatalf("default period: %d", r.Status)
	}
	if r := c.get("/ui/retention?from=soon"); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad from: %d", r.Status)
	}
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	if r := c.get("/ui/retention?from=2026-02-01&to=2026-02-28"); !strings.Contains(r.Body, "Wiederkaufrate") || !strings.Contains(r.Body, "100,0 %") {
		t.Fatalf("German page:\n%s", r.Body)
	}
}

// The NPS links: one click stores the score once, thanks in the subscriber's
// language, and takes a comment.
func TestNPSLinks(t *testing.T) {
	e := newRetentionEnv(t)
	// The customer pages as the real server has them: with the subscribers service.
	srv := New(Config{BaseURL: "http://treu.test"}, Deps{DB: e.db, Accounts: e.accounts, Subscribers: e.subs,
		Retention: e.ret, Metrics: NewMetrics(), Log: slog.New(slog.DiscardHandler),
		UI: UIDeps{SessionKey: []byte("0123456789abcdef0123456789abcdef-test-only")}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.ret.Links = retention.NewSurveyLinks([]byte("0123456789abcdef0123456789abcdef"), ts.URL)
	kim := enroll(t, e.subs, "kim@example.com", "Kim")
	if _, err := e.subs.Update(context.Background(), "kim@example.com", subscribers.UpdateInput{Locale: ptr("de")}, subscribers.Meta{Channel: "api"}); err != nil {
		t.Fatal(err)
	}
	urls := e.ret.Links.URLs(kim.ID, "o-1")
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 2 { // the same click twice: one answer
		st, body := get(urls[9])
		if st != http.StatusOK || !strings.Contains(body, "Ihre Bewertung ist gespeichert") || !strings.Contains(body, `name="comment"`) {
			t.Fatalf("click = %d\n%s", st, body)
		}
	}
	e.now = e.now.Add(2 * time.Hour)
	get(urls[7]) // a correction within 24 hours
	e.now = e.now.Add(30 * time.Hour)
	get(urls[0]) // too late: ignored
	as, err := e.ret.Answers(context.Background(), kim.ID)
	if err != nil || len(as) != 1 || as[0].Score != 7 {
		t.Fatalf("answers %+v %v, want one with 7", as, err)
	}
	tok := strings.TrimSuffix(strings.TrimPrefix(urls[0], ts.URL+"/nps/"), "/0")
	resp, err := http.PostForm(ts.URL+"/nps/"+tok, url.Values{"comment": {"Schnell geliefert, danke!"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Danke für Ihren Kommentar") {
		t.Fatalf("comment = %d\n%s", resp.StatusCode, b)
	}
	if as, _ := e.ret.Answers(context.Background(), kim.ID); as[0].Comment != "Schnell geliefert, danke!" {
		t.Fatalf("comment stored: %+v", as)
	}
	for _, bad := range []string{ts.URL + "/nps/" + tok + "/11", ts.URL + "/nps/" + tok + "/07", ts.URL + "/nps/BBBB" + tok[4:] + "/5",
		ts.URL + "/nps/nonsense/5"} {
		if st, _ := get(bad); st != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", bad, st)
		}
	}
}

func ptr[T any](v T) *T { return &v }
