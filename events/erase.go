package events

import (
	"context"
	"fmt"

	"github.com/treu-mail/treu/store"
)

// DeleteForSubscriber is a no-op: the rows linked to a subscriber go with
// them (ON DELETE CASCADE); EraseAddress finds the rest.
func (s *Service) DeleteForSubscriber(context.Context, *store.Tx, int64) error { return nil }

// EraseAddress deletes the shop's events, carts and orders reported for the
// address and never linked to the subscriber (the *_unlinked indexes); the
// linked ones are deleted with the subscriber row. It makes *Service a
// subscribers.AddressEraser.
func (s *Service) EraseAddress(ctx context.Context, tx *store.Tx, _ int64, emailKey string) error {
	for _, q := range []string{
		`DELETE FROM shop_events WHERE email_key = ? AND subscriber_id IS NULL`,
		`DELETE FROM carts WHERE email_key = ? AND subscriber_id IS NULL`,
		`DELETE FROM shop_orders WHERE email_key = ? AND subscriber_id IS NULL`,
	} {
		if _, err := tx.ExecContext(ctx, q, emailKey); err != nil {
			return fmt.Errorf("events: erase an address: %w", err)
		}
	}
	return nil
}
