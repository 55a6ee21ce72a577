package flows

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/treu-mail/treu/store"
)

// FlowOfMail names the flow whose step mail mailID was, "" when it was none,
// so that package feedback can credit a bounce to the flow. The subscriber
// narrows the look-up to flow_sends_attribution.
func (e *Engine) FlowOfMail(ctx context.Context, tx *store.Tx, subscriberID, mailID int64) (string, error) {
	var flow string
	err := tx.QueryRowContext(ctx, `SELECT flow FROM flow_sends WHERE subscriber_id = ? AND mail_id = ?`,
		subscriberID, mailID).Scan(&flow)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("flows: flow of mail %d: %w", mailID, err)
	}
	return flow, nil
}
