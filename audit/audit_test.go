package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRecordAndPage(t *testing.T) { storetest.Each(t, testRecordAndPage) }

func testRecordAndPage(t *testing.T, db *store.DB) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	l := audit.New(db)
	ctx := context.Background()
	if err := l.Record(ctx, "scheduler.tick", "", ""); err != nil {
		t.Fatal(err)
	}
	mia := audit.WithActor(ctx, audit.Actor{Kind: audit.KindUser, ID: 7, Name: "mia@shop.example", IP: "203.0.113.7"})
	for i := range 5 {
		if err := l.Record(mia, "campaign.start", "campaign "+string(rune('1'+i)), strings.Repeat("ü", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(mia, "", "x", ""); err == nil {
		t.Fatal("an empty action must fail")
	}
	page, err := l.List(ctx, 0, 2)
	if err != nil || len(page) != 2 {
		t.Fatal(page, err)
	}
	e := page[0]
	if e.Action != "campaign.start" || e.Target != "campaign 5" || e.Actor.Name != "mia@shop.example" || e.Actor.ID != 7 ||
		e.Actor.IP != "203.0.113.7" || !e.At.Equal(now) || len(e.Detail) > 1004 {
		t.Fatalf("entry = %+v", e)
	}
	var all []audit.Entry
	for before := int64(0); ; {
		p, err := l.List(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		all = append(all, p...)
		before = p[len(p)-1].ID
	}
	if len(all) != 6 || all[5].Actor.Kind != audit.KindSystem || all[5].Action != "scheduler.tick" {
		t.Fatalf("all pages = %+v", all)
	}
	for _, lim := range []int{0, -1, audit.MaxPage + 1} {
		if _, err := l.List(ctx, 0, lim); !errs.Is(err, errs.Invalid) {
			t.Errorf("limit %d: %v", lim, err)
		}
	}
}
