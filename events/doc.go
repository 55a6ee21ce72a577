// Package events takes the shop's cart and order events (POST /api/events),
// stores each one once and applies it: the open cart of an address, its orders,
// and the per-subscriber figures that segments read (subscribers.order_count,
// order_total, first_order_at, last_order_at; the average order value is
// order_total / order_count and is not stored).
//
// Tables written: shop_events (every accepted event, unique by event id),
// carts (the current state per shop cart id), shop_orders (one row per shop
// order id), and the order figures on subscribers.
//
// Events for an address that is not a subscriber yet are stored and applied to
// carts and orders keyed by the lower-cased address, with no subscriber id.
// Link (called when a subscriber becomes active) attaches them and recomputes
// the figures. Unlinked rows are deleted by Prune after Config.UnlinkedRetention
// (30 days by default): they describe a person who never consented to anything,
// so keeping them longer is hard to justify (GDPR data minimisation), and a cart
// older than that is worthless for a reminder anyway. Raw events are kept for
// Config.EventRetention (90 days), which is also the window in which a repeated
// event id is recognised; the applied carts and orders stay.
//
// Ingest writes each event with statements prepared once on the writer: an
// INSERT ... ON CONFLICT DO NOTHING RETURNING on the event id (the unique index
// is the dedupe, no read first), then one upsert for the cart or the order and
// one UPDATE of the subscriber's figures (store's statement cache). Concurrent
// calls are group-committed (store.GroupCommit): events arriving while the writer is busy share the next
// transaction, in arrival order, and each caller returns only after the commit
// that holds its event; an event that fails is taken out and the others are
// written again without it.
//
// The cart-abandonment flow (package flows) reads carts and orders through
// DueCarts, CartByID and OrderedSince, and package retention through
// OrderSummaryOf, OrderSummaries, Figures and Cohorts, so the SQL on these
// tables stays here. Service.OnOrder lets retention move a customer on the
// ladder in the transaction that stores their order.
//
// Config.OnOrder runs for each order seen for the first time, inside the
// transaction that stores it: package tracking credits the order to the mail
// that earned it (or to the campaign the order names in "attribution"), and
// package loyalty gives its points. An order.refunded event is stored and
// handed to Config.OnRefund when the order is known and a subscriber's
// (loyalty takes the points back); the order and its figures stay, since
// the retention report counts what was ordered. Cohorts counts months in the
// zone it is given (store.LocalMonth).
//
// Besides the types it applies, any custom type (ValidType: lower-case
// words joined by dots, "order.shipped") is accepted with its own "data"
// object and stored. Service.OnEvent runs for every event stored for the
// first time whose address is a subscriber, in the storing transaction:
// package flows starts the flows triggered by the event's type there.
package events
