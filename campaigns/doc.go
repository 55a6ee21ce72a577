// Package campaigns owns campaigns, their layouts and the send engine.
//
// Tables written: campaigns, layouts, deliveries (store/migrations/0003_campaigns.sql),
// contact_policy and the capped index (0014_contact.sql), campaign_ab,
// campaign_variants and deliveries.variant (0015_abtest.sql), the snapshot's
// columns (0016).
// Who may be mailed is package subscribers' rule: the snapshot uses it
// through segments.AudienceWhere, each batch through subscribers.Recipients,
// a test send through subscribers.Lookup.
//
// Life of a campaign: Create (draft; the template is compiled, so a template
// error is a 422 with its line) -> Start: now (running), at send_at or by cron
// (scheduled; Tick starts it when due) -> running <-> paused -> finished, or
// cancelled from scheduled, running or paused.
//
// Recurring campaigns (Cron set) choose "a child per occurrence": the campaign
// itself stays scheduled with next_run_at; each occurrence Tick finds due
// copies it into a child campaign (parent_id, name "Name (2006-01-02 15:04)")
// with its own audience snapshot and stats. Occurrences missed while the
// server was down collapse into one; pausing the parent holds occurrences,
// cancelling it ends them. Cron expressions are robfig/cron standard (five
// fields, @daily, @every 1h, optional CRON_TZ=), evaluated in Config.Location.
//
// Sending: when a campaign starts it is marked running at once and its
// audience is snapshotted in chunks (snapshot.go): one read statement on the
// read pool reads the recipients' ids from one consistent snapshot of the
// database; the first 2,000 become delivery rows at once (the first mail
// leaves after them), the rest, held in memory (8 bytes an id) until the read
// is closed, in chunks sized to hold the writer about 10 ms, each in a short
// write transaction of its own, so enrollments are never stuck behind a
// million-row insert. The audience is exactly who matched when the read began; people who
// enroll during the start are not in it (ids above snapshot_upto), people who
// leave during it are skipped by the per-batch check. A campaign does not
// finish while its copy is under way; a copy whose process died is taken
// over by Tick when its lease (snapshot_until) runs out. Run's claimer takes batches
// of pending deliveries with UPDATE ... RETURNING, setting lease_owner and
// lease_until (instances sharing a database never take the same row; leases
// are renewed while held), loads the batch's recipients and checks again that
// each may still be mailed (subscribers.Recipients: unsubscribed, suppressed
// or erased meanwhile: skipped with the reason). Senders, as many per transport
// as its Concurrency (two per connection for *mailer.SMTP, which pipelines
// one mail behind the other), else its MaxConns (or Config.Conns), render
// (compiled once per campaign, executed per recipient) and send; the
// recorder writes results as they come back, one transaction for what
// arrived within FlushInterval (2 ms). At most ~3 batches are claimed at a
// time: memory is bounded by the batch size, not the audience.
//
// Contact policy (package contact, Config.Contact): after the marketing
// check each batch is checked against the frequency cap in one write
// transaction that also logs the recipients let through (checkContact). The
// campaign's contact_policy says what happens to a recipient over the cap:
// skip (the default, like Klaviyo's smart sending: a marketer expects a
// send to finish today, not to trickle out for a week) skips the delivery
// with reply "capped" (Stats.Capped); wait keeps it pending with
// next_attempt_at at the next allowed time, the campaign running until then;
// ignore applies no cap and no quiet hours (its mails still count). During
// quiet hours a skip or wait campaign claims nothing and goes on when they
// end (quiet). A delivery claimed again (retry, resume) finds its own log
// row and is neither capped nor counted twice.
//
// Coupons: a campaign with a coupon pool (required when the mail prints
// {{ .Coupon }}) gives each recipient one code through package coupons,
// assigned after the claim's consent check and kept on the delivery
// (deliveries.coupon), so a resumed send mails the same code; an empty pool
// pauses the campaign. Erasure clears a subscriber's SMTP replies (erase.go).
//
// Failures: an SMTP 4xx or no answer puts the delivery back to pending with
// next_attempt_at (backoff doubling from RetryBackoff) without holding up the
// rest; after MaxAttempts it is failed. A 5xx fails that delivery with the
// server's reply. DownAfter temporary failures in a row take a transport out
// for DownBackoff (doubling), then it is probed with real mail again.
//
// Crashes: nothing is lost and nothing sent twice on purpose. A new engine
// picks up running campaigns by itself; the deliveries a dead instance held
// become due when their lease expires. Only mails handed to the server but not
// yet recorded at the crash can go twice: those on the connections (two per
// connection) and ~2 ms of accepted ones (TestKill9Resume20k: at most 50 of
// 20,000 at 8 connections).
// Pause and Cancel take effect within a second: queued work is handed back.
//
// A/B tests (abtest.go): a campaign with 2-4 Variants (A is its own mail)
// sends each to an even part of AB's test share of the audience, fixed on the
// deliveries by the snapshot's own INSERT (a systematic sample of the scan,
// variants by turn; abAssign, as the chunked snapshot copies); the rest are pending deliveries due at
// heldUntil (never), which the claim's "due" condition skips. Tick chooses the winner once the wait
// since the start is over and every test mail has been tried: the best rate
// per delivered mail of unique clickers, unique openers (tracking) or credited
// revenue (people named through tracking.People), ties to the earlier
// variant; then the rest become due and are rendered with the winner.
// PickWinner chooses early. Paused campaigns are not decided; a restart keeps
// everything, since assignment and choice live in the database.
//
// Every mail: From/FromName from Config, List-Id "<first list slug>.<host of
// Config.BaseURL>", List-Unsubscribe from Links, header X-Treu-Campaign: <id>.
// With Config.Tracking its links are rewritten to tracked redirects after
// rendering (package tracking; the open pixel only for recipients with
// tracking consent, subscribers.tracking), with the UTM parameters unless the
// campaign's utm is off; previews and test sends keep the links as written.
// Stats include what package tracking counted for the campaign.
// Test sends go straight through the first transport with "[Test] " before the
// subject, so the marketer sees the server's answer; Preview, Test and the real
// send use the same compiled template.
package campaigns
