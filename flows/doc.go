// Package flows runs Treu's built-in flows: welcome (welcome.go),
// cart-abandonment (cart.go) and offers (offers.go); engine.go is what they
// share (the tick, due runs, sending a step). A flow is a trigger and an
// ordered list of steps (delay, subject, Markdown, optional coupon pool;
// per-locale texts in Step.Locales, built-in German and English defaults
// until a marketer saves the flow).
//
// Each subscriber's way through a flow is a row in flow_runs, unique per
// (flow, subscriber, trigger key: the cart id, the offers round, or empty), with
// the step it is at and when that step is due. Tick(ctx, now) is the only
// driver: it enters carts whose wait ended (cart-abandonment), starts an
// offers round when the cron (robfig/cron/v3, read in Config.Location, the
// shop's zone; reference: last_round_at in the
// DB) is due, and advances due runs in batches of write transactions (Batch
// runs each; the subscribers, carts and orders a batch's checks need are read
// in a few queries at its start, and the per-run statements are prepared once
// on the writer). Entry and every step ask package subscribers' marketing rule
// for Config.Lists, the lists the mail's List-Id is for (MarketingWhere when a
// cart enters, Recipients for a batch of due runs). For each run it re-checks
// the conditions (the marketing rule; cart
// still open, not cleared, no order for it or after its last update), renders
// the mail and checks it as the queue will, and enqueues it through the
// durable mail queue in the same transaction that advances the run. A mail
// that cannot be built for one subscriber ends that run (render_failed), not
// the batch. A coupon is assigned inside a savepoint that is rolled back
// unless the mail with it is queued. A flow saved so that it cannot start runs
// (its offers segment deleted) skips that, logged once and in Stats.Problem,
// and holds up no other flow. The
// advance is a guarded UPDATE (id, step, status='active'), so a double tick,
// a second instance or a restart never sends a step twice; time comes only
// from Tick's argument and tx.Now.
//
// Contact policy (package contact, Config.Contact): each batch of due runs
// is checked in one query; a step whose mail would break the frequency cap or
// fall in quiet hours waits (its due_at moves to the next allowed time, the
// run stays at its step), and the mails queued are logged (contact_log) in
// the batch's transaction, so two runs of one subscriber in a batch send one.
//
// Tables written: flows, flow_runs, flow_sends (one row per step sent or
// skipped, the basis of Stats), and through coupons.Assign coupon_codes.
// Read, not written: carts and shop_orders through package events, and shop_orders in Stats'
// attribution query.
//
// With Config.Tracking a step's links are rewritten to tracked redirects
// (package tracking) inside the tick's transaction, so links registered for a
// mail vanish with it if the batch rolls back.
//
// Stats per step carry what a campaign's figures do (engagement.go):
// delivered, opens, clicks and unsubscribes from package tracking's reads of
// the step's mail key, bounces and complaints through Config.Feedback
// (package feedback's bounced mails, mapped to steps by flow_sends), with
// their rates as shares of the mails sent; the flow's are the steps' sum.
package flows
