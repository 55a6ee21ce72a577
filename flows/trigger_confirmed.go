package flows

// The confirmed trigger: a subscriber who becomes active (double opt-in
// confirmed, or enrolled with proven consent) enters every enabled flow with
// {"confirmed": true}, the built-in welcome flow among them, inside the
// activating transaction. The trigger key is empty: a person gets such a
// flow once in a lifetime.

import (
	"context"

	"github.com/treu-mail/treu/store"
)

// Confirmed starts the confirmed flows for a subscriber who just became
// active. Wire it into the subscribers OnActivated hook.
func (e *Engine) Confirmed(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	// No marketing check at entry: the person just confirmed; the first
	// step checks the rule for the flow's lists, as every step does.
	return e.enterOne(ctx, tx, kindConfirmed, "", subscriberID, false, "", nil)
}

// StartWelcome is Confirmed, under the name the wiring has used.
func (e *Engine) StartWelcome(ctx context.Context, tx *store.Tx, subscriberID int64) error {
	return e.Confirmed(ctx, tx, subscriberID)
}
