package flows

// The date-attribute trigger: once a year, on the day a subscriber's
// attribute names (a birthday "MM-DD" or "YYYY-MM-DD", a first-order
// anniversary), in the shop's zone (Config.Location). The first tick of a
// local day enters everyone whose date it is; cursor_at keeps the day
// (YYYYMMDD) done, moved in the entering transaction and guarded by its old
// value, so a double tick enters once. The trigger key is the year: a person
// is in the flow at most once a year. Born on 29 February: the 28th in other
// years. A day on which Treu did not tick at all is not caught up.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/treu-mail/treu/store"
)

func (e *Engine) enterDates(ctx context.Context, f *flowRow, now time.Time) (int, error) {
	local := now.In(e.cfg.Location)
	day := int64(local.Year()*10000 + int(local.Month())*100 + local.Day())
	if f.cursorAt.Valid && f.cursorAt.Int64 >= day {
		return 0, nil
	}
	md := local.Format("01-02")
	md2 := md
	if md == "02-28" && time.Date(local.Year(), 2, 29, 0, 0, 0, 0, time.UTC).Month() != 2 {
		md2 = "02-29"
	}
	path := `$."` + f.Trigger.DateAttribute + `"` // the key is checked: letters, digits, _ and -
	where := `(s.attributes ->> ?) IN (?, ?) OR (length(s.attributes ->> ?) >= 10 AND substr(s.attributes ->> ?, 5, 6) IN ('-' || ?, '-' || ?))`
	args := []any{path, md, md2, path, path, md, md2}
	ev, err := json.Marshal(map[string]any{"type": "date", "attribute": f.Trigger.DateAttribute, "year": local.Year(), "date": local.Format("2006-01-02")})
	if err != nil {
		return 0, err
	}
	var n int64
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET cursor_at = ? WHERE slug = ? AND (cursor_at IS NULL OR cursor_at < ?)`, day, f.Slug, day)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil // another tick did today
		}
		n, err = e.enterWhere(ctx, tx, &f.Flow, where, args, true, "date:"+strconv.Itoa(local.Year()), ev)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("flows: %s dates: %w", f.Slug, err)
	}
	return int(n), nil
}
