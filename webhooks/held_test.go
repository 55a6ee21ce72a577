package webhooks

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/tracking"
)

// A held event waits for its time, a withdrawn one never goes out, and one
// sent already stays sent; nobody subscribed means nothing is read or queued.
func TestHeldAndWithdrawn(t *testing.T) {
	ctx := context.Background()
	s, db, now := newService(t, Config{AllowPrivate: true})
	asked := 0
	clicks := Clicks{Hooks: s, Email: func(context.Context, *store.Tx, int64) (string, error) { asked++; return "kim@example.com", nil }}
	click := func(id int64) {
		t.Helper()
		c := tracking.Click{ID: id, URL: "https://shop.example/", CampaignID: 1, SubscriberID: 7, At: *now, Settled: now.Add(time.Second)}
		if err := db.Tx(ctx, func(tx *store.Tx) error { return clicks.Clicked(ctx, tx, c) }); err != nil {
			t.Fatal(err)
		}
	}
	click(1)
	if asked != 0 {
		t.Fatal("the address was read with no endpoint asking for clicks")
	}
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	if _, err := s.Create(ctx, Input{URL: srv.URL + "/hook", Events: []string{LinkClicked}}); err != nil {
		t.Fatal(err)
	}
	click(2)
	click(3)
	if asked != 2 {
		t.Fatalf("address read %d times", asked)
	}
	if n, _ := s.ProcessDue(ctx); n != 0 {
		t.Fatalf("%d sent before the scanner window closed", n)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return clicks.Scanner(ctx, tx, []int64{3}) }); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(2 * time.Second)
	if n, _ := s.ProcessDue(ctx); n != 1 {
		t.Fatalf("%d sent, want click 2's", n)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return clicks.Scanner(ctx, tx, []int64{2}) }); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Recent(ctx, 1)
	if len(ds) != 1 || ds[0].Status != "sent" || len(rcv.bodies) != 1 {
		t.Fatalf("deliveries %+v, received %d", ds, len(rcv.bodies))
	}
}
