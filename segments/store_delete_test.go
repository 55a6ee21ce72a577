package segments

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// A segment that a flow or an unfinished campaign sends with is not deleted:
// neither refers to it by foreign key, and the flow's rounds or the
// campaign's send would lose their audience.
func TestDeleteRefusesSegmentInUse(t *testing.T) {
	db := seeded(t)
	db.Now = func() time.Time { return now }
	ctx := context.Background()
	st := NewStore(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rule, _ := Parse([]byte(cond("locale", "eq", `"de"`)))
	seg, err := st.Create(ctx, "Deutsch", rule)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Tx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	mustConflict := func(what string) {
		t.Helper()
		err := st.Delete(ctx, seg.ID)
		if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), what) {
			t.Fatalf("delete while %s uses it: err = %v, want Conflict naming it", what, err)
		}
		if _, err := st.Get(ctx, seg.ID); err != nil {
			t.Fatalf("segment gone after a refused delete: %v", err)
		}
	}

	exec(`UPDATE flows SET segment_id = ? WHERE slug = 'offers'`, seg.ID)
	mustConflict(`flow "offers"`)
	exec(`UPDATE flows SET segment_id = NULL`)

	for _, status := range []string{"draft", "scheduled", "running", "paused"} {
		exec(`INSERT INTO campaigns (name, subject, markdown, segment_id, status, created_at, updated_at) VALUES (?, 's', 'm', ?, ?, 0, 0)`,
			"c-"+status, seg.ID, status)
		mustConflict(`campaign "c-` + status + `"`)
		exec(`UPDATE campaigns SET status = 'finished' WHERE name = ?`, "c-"+status)
	}
	exec(`INSERT INTO campaigns (name, subject, markdown, segment_id, status, created_at, updated_at) VALUES ('old', 's', 'm', ?, 'cancelled', 0, 0)`, seg.ID)
	if err := st.Delete(ctx, seg.ID); err != nil {
		t.Fatalf("delete once only finished and cancelled campaigns use it: %v", err)
	}
}
