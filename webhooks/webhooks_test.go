package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

type receiver struct {
	mu       sync.Mutex
	failures int // answer 503 to this many requests first
	got      []http.Header
	bodies   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, req.Header.Clone())
	r.bodies = append(r.bodies, string(b))
}

func newService(t *testing.T, cfg Config) (*Service, *store.DB, *time.Time) {
	db := storetest.Open(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	s := New(db, cfg, slog.New(slog.DiscardHandler))
	s.Now = func() time.Time { return now }
	return s, db, &now
}

func emit(t *testing.T, s *Service, db *store.DB, typ, key string, data any) {
	t.Helper()
	if err := db.Tx(context.Background(), func(tx *store.Tx) error { return s.Emit(context.Background(), tx, typ, key, data) }); err != nil {
		t.Fatal(err)
	}
}

// A receiver that fails first gets every event later, in order per
// subscriber, each with a valid Standard Webhooks signature.
func TestDeliveredLaterSignedInOrder(t *testing.T) {
	ctx := context.Background()
	s, db, now := newService(t, Config{AllowPrivate: true})
	rcv := &receiver{failures: 3}
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	ep, err := s.Create(ctx, Input{URL: ts.URL + "/hook", Events: []string{SubscriberBounced, SubscriberConfirmed}})
	if err != nil || len(ep.Secret) < 40 {
		t.Fatalf("create: %+v %v", ep, err)
	}
	emit(t, s, db, SubscriberConfirmed, "subscriber:1", map[string]any{"id": 1, "seq": 1})
	emit(t, s, db, SubscriberBounced, "subscriber:1", map[string]any{"id": 1, "seq": 2})
	emit(t, s, db, CampaignFinished, "", map[string]any{"id": 9}) // not asked for
	for range 20 {
		if _, err := s.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Hour) // the receiver was down for a while
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bodies) != 2 {
		t.Fatalf("received %d events, want 2", len(rcv.bodies))
	}
	for i, h := range rcv.got {
		var ev struct {
			Type string
			Data struct{ Seq int }
		}
		json.Unmarshal([]byte(rcv.bodies[i]), &ev)
		if ev.Data.Seq != i+1 {
			t.Fatalf("event %d out of order: %s", i, rcv.bodies[i])
		}
		ts, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		want, _ := Sign(ep.Secret, h.Get("webhook-id"), ts, []byte(rcv.bodies[i]))
		if h.Get("webhook-signature") != want || h.Get("webhook-id") == "" {
			t.Fatalf("signature %q, want %q", h.Get("webhook-signature"), want)
		}
	}
	ds, err := s.Recent(ctx, ep.ID)
	if err != nil || len(ds) != 2 || ds[0].Status != "sent" || ds[1].Attempts < 2 {
		t.Fatalf("recent %+v %v", ds, err)
	}
}

func TestPrivateTargetsRefused(t *testing.T) {
	ctx := context.Background()
	s, db, _ := newService(t, Config{})
	for _, u := range []string{"http://127.0.0.1:9/x", "http://[::1]/x", "http://10.1.2.3/x", "http://localhost/x",
		"ftp://example.com/x", "https://user:pw@example.com/x"} {
		_, err := s.Create(ctx, Input{URL: u, Events: []string{SubscriberBounced}})
		if e, ok := errs.As(err); !ok || e.Field != "url" {
			t.Errorf("%s: %v, want 422 on url", u, err)
		}
	}
	if _, err := s.Create(ctx, Input{URL: "https://shop.example/hook", Events: []string{"order.paid"}}); !errs.Is(err, errs.Invalid) {
		t.Errorf("unknown event: %v", err)
	}
	// A name that resolves to loopback is refused when connecting.
	rcv := &receiver{}
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	_, port, _ := splitHostPort(ts.URL)
	ep, err := s.Create(ctx, Input{URL: "http://localhost.treu.test:" + port + "/x", Events: []string{SubscriberBounced}})
	if err != nil {
		t.Fatal(err)
	}
	// Point the name at loopback through the dialer's view: use the IP form in the row directly.
	db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ? WHERE id = ?`, ts.URL+"/x", ep.ID)
		return err
	})
	emit(t, s, db, SubscriberBounced, "subscriber:1", map[string]any{"id": 1})
	if _, err := s.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rcv.bodies) != 0 {
		t.Fatal("a loopback receiver was called")
	}
	ds, _ := s.Recent(ctx, ep.ID)
	if len(ds) != 1 || ds[0].Status != "pending" || ds[0].LastError == "" {
		t.Fatalf("delivery %+v", ds)
	}
}

func splitHostPort(u string) (string, string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", "", err
	}
	return p.Hostname(), p.Port(), nil
}

func TestEraseAndPrune(t *testing.T) {
	ctx := context.Background()
	s, db, now := newService(t, Config{AllowPrivate: true})
	ep, err := s.Create(ctx, Input{URL: "https://shop.example/hook", Events: []string{SubscriberBounced, CampaignFinished}})
	if err != nil {
		t.Fatal(err)
	}
	emit(t, s, db, SubscriberBounced, "subscriber:7", map[string]any{"email": "kim@example.com"})
	emit(t, s, db, CampaignFinished, "", map[string]any{"campaign_id": 1})
	if err := db.Tx(ctx, func(tx *store.Tx) error { return s.DeleteForSubscriber(ctx, tx, 7) }); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Recent(ctx, ep.ID)
	if len(ds) != 1 || ds[0].Type != CampaignFinished {
		t.Fatalf("after erasure: %+v", ds)
	}
	db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'sent'`)
		return err
	})
	if err := s.Prune(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Recent(ctx, ep.ID); len(ds) != 0 {
		t.Fatalf("after prune: %+v", ds)
	}
	if err := s.Delete(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ep.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
