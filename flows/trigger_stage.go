package flows

// The stage trigger: a subscriber who enters a ladder stage (package
// retention) enters the enabled flows of that stage, in the transaction that
// stores the change (retention.Service.OnChange). The trigger key is the
// stage and the time of the change, so a customer who lapses again a year
// later may get the win-back again; once per person or a cool-down prevent
// that where wanted. The same listener ends the runs of flows that exit on a
// stage change (Exit.StageChange) and started before it.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/store"
)

// OnStageChange ends the runs the change exits and enters the flows of the
// new stage. Wire it with retention.Service.OnChange.
func (e *Engine) OnStageChange(ctx context.Context, tx *store.Tx, c retention.Change) error {
	// Exits first: a run this change starts is not ended by it.
	if _, err := tx.ExecContext(ctx, `UPDATE flow_runs SET status = 'ended', due_at = NULL, end_reason = ?, updated_at = ?
		WHERE subscriber_id = ? AND status = 'active' AND created_at <= ?
		  AND flow IN (SELECT slug FROM flows WHERE exit_stage = 1)`,
		EndStageChanged, tx.Now.Unix(), c.SubscriberID, tx.Now.Unix()); err != nil {
		return fmt.Errorf("flows: stage exits of %d: %w", c.SubscriberID, err)
	}
	ev, err := json.Marshal(map[string]any{"type": "stage.entered", "from": c.From, "to": c.To, "at": c.At.UTC()})
	if err != nil {
		return err
	}
	key := "stage:" + c.To + ":" + strconv.FormatInt(c.At.Unix(), 10)
	return e.enterOne(ctx, tx, kindStage, c.To, c.SubscriberID, true, key, ev)
}
