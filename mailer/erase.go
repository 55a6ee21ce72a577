package mailer

import (
	"context"
	"fmt"

	"github.com/treu-mail/treu/store"
)

// EraseAddress erases a person's mail (GDPR Art. 17): what
// DeleteForSubscriber does, and the same for rows that carry the address
// without the subscriber's id (a transactional mail sent before they
// subscribed). emailKey is the lower-cased address.
func (q *Queue) EraseAddress(ctx context.Context, tx *store.Tx, subscriberID int64, emailKey string) error {
	if err := q.DeleteForSubscriber(ctx, tx, subscriberID); err != nil {
		return err
	}
	// mail_queue_recipient is an index on recipient COLLATE NOCASE.
	if _, err := tx.ExecContext(ctx, `DELETE FROM mail_queue WHERE recipient = ? COLLATE NOCASE AND status = 'queued'`, emailKey); err != nil {
		return fmt.Errorf("mailer: erase mail to an address: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mail_queue SET subscriber_id = NULL, recipient = '', message = NULL, last_error = ''
		WHERE recipient = ? COLLATE NOCASE`, emailKey); err != nil {
		return fmt.Errorf("mailer: erase mail to an address: %w", err)
	}
	return nil
}

// DeleteForSubscriber is a no-op: captured mail is found by its address
// (EraseAddress), and the outbox keeps no subscriber id.
func (o *Outbox) DeleteForSubscriber(context.Context, *store.Tx, int64) error { return nil }

// EraseAddress deletes the mail captured for the address.
func (o *Outbox) EraseAddress(ctx context.Context, tx *store.Tx, _ int64, emailKey string) error {
	// outbox_recipient_nocase is an index on recipient COLLATE NOCASE.
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE recipient = ? COLLATE NOCASE`, emailKey); err != nil {
		return fmt.Errorf("mailer: erase outbox mail: %w", err)
	}
	return nil
}
