// Package contact owns the one contact policy for marketing mail, campaigns
// and flows alike: a frequency cap and quiet hours.
//
// The rule (Policy): a subscriber gets at most PerDay marketing mails per
// calendar day and PerWeek per week (that day and the six before it), days
// counted in the shop's zone (Policy.Location, --timezone), and none during
// the quiet hours (QuietFrom-QuietTo on the local clock, e.g. 21:00-08:00).
// Defaults: 1 a day, 3 a week, 21:00-08:00 (settings --contact-per-day,
// --contact-per-week, --quiet-hours; 0 or "off" turns a part off). Calendar
// days rather than a rolling 24 hours, so that a daily newsletter at 10:00
// is not capped by yesterday's, sent at 10:05.
//
// Table written: contact_log (store/migrations/0014_contact.sql), one row per
// marketing mail let through, in the transaction that claims (campaigns) or
// queues (flows) it, so two campaigns and a flow sending at once cannot
// together break the cap: every check and its record run under the one
// writer. Rows older than Keep are deleted by Prune (daily), a subscriber's
// rows by Eraser at erasure.
//
// Why a table of its own rather than counting deliveries, flow_sends and
// the mail queue: none of those has a (subscriber, time) index, a campaign
// adds a million delivery rows, and the check would be a union of three
// reads per batch. contact_log is narrow, holds a week, and its covering
// index answers a batch of 1,000 subscribers against 1,000,000 rows in one
// query of about 10 ms (BenchmarkCheck).
//
// Use, once per batch (one query whatever its size):
//
//	b, err := policy.Check(ctx, tx, ids, now, campaignID) // 0 for a flow mail
//	for each recipient: if until, held := b.Held(id); held { wait or skip } else { b.Take(id) }
//	err = b.Record(ctx, tx)
//
// (Policy.Record logs mails without a check.) QuietUntil alone answers
// whether a moment is in quiet hours (a campaign pauses its claims).
//
// Held gives the next time the caps and quiet hours allow one more mail
// (the start of the next local day, or when the week's oldest mail leaves
// the window, moved out of quiet hours). A campaign delivery claimed again
// (retry, resume) finds its own row and is neither held nor counted twice.
// What each sender does with a held mail is its own: a flow step waits
// (package flows moves its due time), a campaign skips it as "capped" or
// waits, per campaign (package campaigns). Transactional mail (txmail) and
// the double opt-in confirmation (subscribers) never ask and are not logged.
package contact
