// Package flows runs Treu's automations. A flow (flow.go) is a slug, a name,
// a trigger, an ordered list of steps, exit conditions and entry settings
// (once per person ever; a cool-down). The three built-in flows, welcome
// (confirmed trigger), cart-abandonment (cart.go) and offers (offers.go, a
// cron schedule), are rows of the same model with their own slugs, runs and
// figures; they cannot be deleted or change their trigger. defaults.go holds
// their German and English texts, served until a marketer saves the flow.
//
// Triggers, each in its own file: confirmed (trigger_confirmed.go, the
// subscribers OnActivated hook), event by type (trigger_event.go, any event
// posted to POST /api/events, custom types with their data included, in the
// transaction that stores it through events.Service.OnEvent), stage entered
// (trigger_stage.go, a retention.Service OnChange listener in the
// transaction of the change), date attribute (trigger_date.go, once a year
// on the day in the shop's zone), segment entered (trigger_segment.go, a
// periodic comparison with flow_segment_members), cart abandoned (cart.go)
// and the offers schedule (offers.go). entry.go is how every trigger starts
// runs: one row in flow_runs per (flow, subscriber, trigger key: the event
// id, the stage change, the year, the segment check, the cart id, the offers
// round, or empty for confirmed), with the flow's once-per-person and
// cool-down guards in the same INSERT ... SELECT. The triggering event's JSON
// is kept on the run and read by the mails as {{ .Event.order.id }}.
//
// Steps (steps.go): send (a mail: subject and Markdown, per locale in
// Step.Locales, optional coupon pool; a step without type is one), wait (a
// delay, or until a weekday and time in Config.Location), condition (a
// segment rule, inline or saved, for the subscriber: on to the next step, or
// jump to a later one or the end), coupon (coupons.Assign; the code is kept on
// the run for later mails), list (add to a private list or remove from any,
// through subscribers.AutomationList), attribute (subscribers.SetAttribute)
// and webhook (a flow.webhook event on package webhooks' durable queue, via
// Config.Emit). Every step waits its Delay, and then Until, after the
// previous one. Exits, checked as a run advances: leaving the flow's lists
// (the marketing rule), an order after entry (Exit.Order); a stage change
// (Exit.StageChange) ends runs in the change's transaction.
//
// Tick(ctx, now) is the only driver of due work: it enters carts whose wait
// ended (cart-abandonment), starts an offers round when the cron
// (robfig/cron/v3, read in Config.Location, the shop's zone; reference:
// last_round_at in the DB) is due, enters the day's date-attribute flows and
// the segment flows' new members (each guarded by cursor_at, moved in the
// entering transaction), and advances due runs in batches of write
// transactions (Batch runs each; the subscribers, carts and orders a batch's
// checks need are read in a few queries at its start, and the per-run
// statements are prepared once on the writer). A run whose next step is due
// already (a list step before a mail) goes on in the same transaction. Entry
// and every step ask package subscribers' marketing rule for Config.Lists,
// the lists the mail's List-Id is for (MarketingWhere on entry, Recipients
// for a batch of due runs). For each run it re-checks the conditions (the
// marketing rule; the exits; cart still open, not cleared, no order for it or
// after its last update), and a mail step (send, the one function every flow
// mail goes through) renders the mail and checks it as the queue will, and
// enqueues it through the durable mail queue in the same transaction that
// advances the run. A mail that cannot be built for one subscriber ends that
// run (render_failed), not the batch; a list or segment deleted under a step
// ends it as step_failed. A coupon is assigned inside a savepoint that is
// rolled back unless the mail with it is queued. A flow saved so that it
// cannot start runs (its segment deleted) skips that, logged once and in
// Stats.Problem, and holds up no other flow. The advance is a guarded UPDATE
// (id, step, status='active'), so a double tick, a second instance or a
// restart never sends a step twice; time comes only from Tick's argument and
// tx.Now.
//
// Contact policy (package contact, Config.Contact): each batch of due runs
// is checked in one query; a step whose mail would break the frequency cap or
// fall in quiet hours waits (its due_at moves to the next allowed time, the
// run stays at its step), and the mails queued are logged (contact_log) in
// the batch's transaction, so two runs of one subscriber in a batch send one.
// Only send steps are held; other steps run on. With the policy on, a run
// sends at most one mail per tick: a send step reached right after another
// waits for the next tick, which checks it.
//
// Tables written: flows, flow_runs, flow_sends (one row per mail step sent
// or skipped, the basis of Stats), flow_segment_members, and through
// coupons.Assign coupon_codes. Read, not written: carts and shop_orders
// through package events, and shop_orders in Stats' attribution query.
//
// Ready-made flows (templates.go): Templates lists nps (a survey mail 7 days
// after order.placed with the eleven one-click links {{ .SurveyURL }}/0..10,
// from Config.Survey, retention.SurveyLinks.URL; the survey is the order's
// id), birthday, win-back and promoter-referral, each with de and en texts;
// CreateFromTemplate stores one switched off (POST /api/flows/templates/{key}).
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
