package segments

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

func TestStoreCRUD(t *testing.T) {
	db := seeded(t)
	db.Now = func() time.Time { return now }
	ctx := context.Background()
	st := NewStore(db, slog.New(slog.NewTextHandler(io.Discard, nil)))

	berlin, _ := Parse([]byte(cond("attributes.city", "eq", `"Berlin"`)))
	seg, err := st.Create(ctx, "  Berliners ", berlin)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Name != "Berliners" || !seg.CreatedAt.Equal(now) {
		t.Errorf("created %+v", seg)
	}
	if _, err := st.Create(ctx, "Berliners", berlin); !errs.Is(err, errs.Conflict) {
		t.Errorf("duplicate name: err = %v, want Conflict", err)
	}
	if _, err := st.Create(ctx, "", berlin); !errs.Is(err, errs.Invalid) {
		t.Errorf("empty name: err = %v, want Invalid", err)
	}
	if _, err := st.Create(ctx, "bad", Rule{Field: "foo", Op: "eq", Value: json.RawMessage(`1`)}); !errs.Is(err, errs.Invalid) {
		t.Errorf("bad Go-built rule: err = %v, want Invalid", err)
	}

	got, err := st.Get(ctx, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got.Rule)
	b, _ := json.Marshal(berlin)
	if string(a) != string(b) || got.Name != "Berliners" {
		t.Errorf("Get = %+v (rule %s), want rule %s", got, a, b)
	}
	// ana (active, newsletter + vip) is the only reachable Berliner.
	if n, err := st.Count(ctx, seg.ID, nil); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}

	db.Now = func() time.Time { return now.Add(time.Hour) }
	hamburg, _ := Parse([]byte(cond("attributes.city", "eq", `"Hamburg"`)))
	up, err := st.Update(ctx, seg.ID, "Hamburgers", hamburg)
	if err != nil {
		t.Fatal(err)
	}
	if !up.CreatedAt.Equal(now) || !up.UpdatedAt.Equal(now.Add(time.Hour)) {
		t.Errorf("updated times %v %v", up.CreatedAt, up.UpdatedAt)
	}
	if _, err := st.Update(ctx, 999, "x", hamburg); !errs.Is(err, errs.NotFound) {
		t.Errorf("update missing: err = %v, want NotFound", err)
	}
	if _, err := st.Create(ctx, "Other", berlin); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Hamburgers" || list[1].Name != "Other" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := st.Delete(ctx, seg.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, seg.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("second delete: err = %v, want NotFound", err)
	}
	if _, err := st.Get(ctx, seg.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("get deleted: err = %v, want NotFound", err)
	}
}
