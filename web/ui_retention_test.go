package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
