// Package tracking owns what happens to a mail after it is sent: clicks,
// opens, and the orders they earned.
//
// Tables written: links, clicks, opens, conversions, unsubscribes
// (store/migrations/0008_tracking.sql). It reads no other package's tables:
// consent comes through the Consent interface (package subscribers), orders
// through OrderPlaced, called by package events inside its transaction.
//
// Links: Links(mail).Rewrite replaces every http(s) link of a rendered
// campaign or flow mail (hrefs of <a> in the HTML part, URLs in the text
// part) with BASE/l/TOKEN; links under BASE (unsubscribe, preferences,
// confirm) are never touched. A link's id is a keyed hash of (mail, url), so
// registering it is an idempotent insert, in the caller's transaction where
// there is one. The target gets the UTM query (Config.UTM, DefaultUTM; off
// per mail), except keys the link has already.
//
// Tokens are one AES block (token.go): the link, and only with the
// subscriber's tracking consent (TDDDG § 25) the subscriber and the sending
// time. A token that does not decrypt to a stored link is a 404: the redirect
// only goes where a mail linked to. Without consent every recipient's token
// for a link is the same, clicks count for the link only, and the mail has no
// open pixel; with it, a 1x1 pixel BASE/o/TOKEN and per-person clicks. The
// consent is checked again at each click and open, so a withdrawal stops
// per-person tracking of mails sent before it.
//
// Machines: an open within MachineOpen (10 s) of sending, or MachineOpenApple
// (2 min) from Apple's proxy range 17.0.0.0/8, is a proxy prefetch (Apple Mail
// Privacy Protection); clicks by one clicker on two or more links of a mail
// within ScannerWindow (1 s) are a link scanner's. Both are stored, marked,
// and reported apart from people's.
//
// People lists who did something with a mail (tracked opens and clicks,
// unsubscribes, credited orders), for per-variant figures of A/B tests.
//
// Listeners: Config.OnClick hears of each click by a person inside the
// transaction that records it (cmd/treu queues the link.clicked webhook), with
// the subscriber only where the click is tied to one (tracking consent).
// Until Click.Settled it may still prove a scanner's; then Config.OnScanner
// gets its id in the later click's transaction. ParseMailKey reads a mail key
// back into a campaign id or a flow and step.
//
// Revenue: an order placed within AttributionWindow (5 days) after a
// person's last human click (or open) on a campaign or flow mail is credited
// to that mail, once per order; an order that names a campaign
// ("attribution": {"campaign_id"}) is credited to it.
package tracking
