package flows

// The event trigger: every shop event posted to POST /api/events, the three
// Treu applies (cart.updated, cart.cleared, order.placed) and any custom
// type with its own data, enters the enabled flows of its type. It runs in
// the transaction that stores the event (events.Service.OnEvent), only for
// an event stored for the first time, so a repeated event id never enters
// twice and a stored event is never missed. The trigger key is the event
// id; the event's JSON is kept on the run for {{ .Event.order.id }}.

import (
	"context"

	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/store"
)

// OnEvent enters the flows triggered by ev. Wire it as events.Service.OnEvent.
func (e *Engine) OnEvent(ctx context.Context, tx *store.Tx, ev events.Stored) error {
	return e.enterOne(ctx, tx, kindEvent, ev.Type, ev.SubscriberID, true, "event:"+ev.ID, ev.Payload)
}
