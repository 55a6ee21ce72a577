package flows

// The segment-entered trigger: every Config.SegmentEvery a segment flow
// compares the segment's audience (the saved rule under the marketing rule
// for Config.Lists) with who was in it at the last check
// (flow_segment_members) and enters those who joined. The first check after
// the flow is switched on, or pointed at another segment, only records who
// is in: the flow is for people who enter the segment from then on. The
// check moves cursor_at guarded by its old value, in the same transaction,
// so a double tick enters once. The trigger key is the time of the check: a
// person who leaves and joins again enters again, unless the flow's once per
// person or cool-down says no.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
)

func (e *Engine) checkSegment(ctx context.Context, f *flowRow, now time.Time) (int, error) {
	if f.cursorAt.Valid && now.Unix()-f.cursorAt.Int64 < int64(e.cfg.SegmentEvery/time.Second) {
		return 0, nil
	}
	id := *f.Trigger.SegmentID
	if e.segs == nil {
		return 0, &problem{fmt.Errorf("segments are not available")}
	}
	seg, err := e.segs.Get(ctx, id)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return 0, &problem{fmt.Errorf("segment %d was deleted; choose another segment", id)}
		}
		return 0, &problem{fmt.Errorf("segment %d: %w", id, err)}
	}
	where, args, err := segments.AudienceWhere(&seg.Rule, e.cfg.Lists, now)
	if err != nil {
		return 0, &problem{fmt.Errorf("segment %d: %w", id, err)}
	}
	ev, err := json.Marshal(map[string]any{"type": "segment.entered", "segment_id": id})
	if err != nil {
		return 0, err
	}
	var n int64
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		var prev any
		if f.cursorAt.Valid {
			prev = f.cursorAt.Int64
		}
		res, err := tx.ExecContext(ctx, `UPDATE flows SET cursor_at = ? WHERE slug = ? AND cursor_at IS ?`, now.Unix(), f.Slug, prev)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil // another tick checked
		}
		if prev != nil {
			joined := `(` + where + `) AND NOT EXISTS (SELECT 1 FROM flow_segment_members AS m WHERE m.flow = ? AND m.subscriber_id = s.id)`
			if n, err = e.enterWhere(ctx, tx, &f.Flow, joined, append(append([]any{}, args...), f.Slug), false,
				"segment:"+strconv.FormatInt(now.Unix(), 10), ev); err != nil {
				return err
			}
		}
		// The members now: those who left go, those who joined come; the
		// ones who stayed are not written again.
		if _, err := tx.ExecContext(ctx, `DELETE FROM flow_segment_members WHERE flow = ? AND subscriber_id NOT IN (
			SELECT s.id FROM subscribers AS s WHERE `+where+`)`, append([]any{f.Slug}, args...)...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO flow_segment_members (flow, subscriber_id)
			SELECT ?, s.id FROM subscribers AS s WHERE `+where+` ON CONFLICT DO NOTHING`, append([]any{f.Slug}, args...)...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("flows: %s segment: %w", f.Slug, err)
	}
	return int(n), nil
}
