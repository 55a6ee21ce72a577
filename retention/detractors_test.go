package retention_test

import (
	"context"
	"testing"
	"time"
)

// Detractors lists answers 0 to 6, newest first, with the address and comment.
func TestDetractors(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a := e.subscriber(t, "a@example.com")
	b := e.subscriber(t, "b@example.com")
	c := e.subscriber(t, "c@example.com")
	for _, x := range []struct {
		id    int64
		score int
	}{{a, 2}, {b, 9}, {c, 6}} {
		if err := e.ret.Answer(ctx, x.id, "order:1", x.score); err != nil {
			t.Fatal(err)
		}
		*e.now = e.now.Add(time.Hour)
	}
	if err := e.ret.Comment(ctx, a, "order:1", "Zu langsam"); err != nil {
		t.Fatal(err)
	}
	ds, err := e.ret.Detractors(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Email != "c@example.com" || ds[0].Score != 6 || ds[1].Email != "a@example.com" || ds[1].Comment != "Zu langsam" {
		t.Fatalf("detractors = %+v", ds)
	}
	if ds, _ := e.ret.Detractors(ctx, 1); len(ds) != 1 {
		t.Fatalf("limit 1: %+v", ds)
	}
}
