package campaigns

import (
	"context"
	"fmt"

	"github.com/treu-mail/treu/store"
)

// DeleteForSubscriber clears the SMTP replies of a subscriber's deliveries
// when they are erased: a reply may quote the address ("550 <kim@...>: no
// such user"). The delivery rows stay, without personal data, for the
// campaign's figures. It makes *Engine a subscribers.Eraser.
func (e *Engine) DeleteForSubscriber(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	// deliveries_reply: a partial index on subscriber_id WHERE reply IS NOT NULL.
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET reply = NULL WHERE subscriber_id = ? AND reply IS NOT NULL`, subscriberID); err != nil {
		return fmt.Errorf("campaigns: erase replies of subscriber %d: %w", subscriberID, err)
	}
	return nil
}
