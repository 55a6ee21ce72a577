package flows

// The welcome flow: a subscriber who becomes active (double opt-in confirmed,
// or enrolled with proven consent) gets the welcome series once in a lifetime.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/treu-mail/treu/store"
)

// StartWelcome starts the welcome flow for a subscriber who just became
// active, inside the activating transaction. Wire it into the subscribers
// OnActivated hook. A subscriber gets the welcome series once in a lifetime.
func (e *Engine) StartWelcome(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	var enabled bool
	var steps sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT enabled, steps FROM flows WHERE slug = ?`, Welcome).Scan(&enabled, &steps); err != nil {
		return fmt.Errorf("flows: welcome: %w", err)
	}
	if !enabled {
		return nil
	}
	first := DefaultSteps(Welcome)[0].Delay
	if steps.Valid {
		var st []Step
		if err := json.Unmarshal([]byte(steps.String), &st); err != nil || len(st) == 0 {
			return fmt.Errorf("flows: welcome steps: %v", err)
		}
		first = st[0].Delay
	}
	due := tx.Now.Add(time.Duration(first)).Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO flow_runs (flow, subscriber_id, trigger_key, due_at, created_at, updated_at)
		VALUES (?, ?, '', ?, ?, ?) ON CONFLICT (flow, subscriber_id, trigger_key) DO NOTHING`,
		Welcome, subscriberID, due, tx.Now.Unix(), tx.Now.Unix())
	if err != nil {
		return fmt.Errorf("flows: welcome %d: %w", subscriberID, err)
	}
	return nil
}
