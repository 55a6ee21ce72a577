// Package subscribers owns the people Treu mails and their consent: enrollment
// with double opt-in, confirmation, lists and subscriptions, preferences,
// unsubscribing, export and erasure (GDPR), and the signed customer links.
//
// Tables written: subscribers, lists, subscriptions, subscriber_counts and
// list_counts (by triggers), consents (append-only;
// only erasure and the purge of never-confirmed sign-ups delete from it, with
// the person), suppressions (the hash of an erased, bounced or complaining
// address; package feedback suppresses through suppress.go). Mails are queued
// through Queue inside the same transaction as the change that causes them, so
// a confirmation mail is durable when Enroll returns. The marketer's pages
// and the metrics read through counts.go (counts by status, list sizes,
// growth, search). Counts by status and per list come from the summary
// tables subscriber_counts and list_counts (this package's, migration 0016),
// kept by triggers on subscribers, subscriptions and lists, so every write
// path (imports, erasure, the purge) keeps them right and a page reads a few
// rows at any size; the search matches the start of the address (email_key)
// or of the name (lower(name), indexed); the separate consent to per-person tracking (TDDDG § 25)
// is the subscribers.tracking column, kept in tracking.go.
//
// Consent is data (DESIGN.md): the log records, per subscriber, the sign-up
// (time, IP, user agent, source, the consent text shown and its sha256
// version), each confirmation mail sent, the confirming click (time, IP), every
// preference change and every withdrawal with its channel. Tracking consent
// (per-person opens and clicks, TDDDG § 25) is separate: the flag
// subscribers.tracking, set at enrollment ("tracking" with its own text) or on
// the preferences page, each change logged as tracking_on / tracking_off
// (tracking.go); TrackingAllowed is what package tracking asks.
//
// Customer links carry a token: version, purpose (confirm or manage),
// subscriber id and issue time, signed with HMAC-SHA256 (128-bit tag) under a
// key derived from Config.Secret. Confirm tokens expire with PendingTTL;
// manage tokens (unsubscribe, preferences) do not, since links in old mails
// must keep working. Subscriber ids are never reused (AUTOINCREMENT), so an
// old link can never act on another person.
//
// Enrollments arriving while the single SQLite writer is busy are written
// together in one transaction (store.GroupCommit); each caller still
// returns only after the commit that holds its subscriber and mail.
//
// Flows change a subscriber through automation.go, in the flow's
// transaction: AutomationList (add to a private list, remove from any;
// logged with channel "flow") and SetAttribute (Update's limits).
//
// Bulk imports (package imports) go through Importer (batch.go): Enroll's
// rules for proven consent, written a batch at a time in the caller's
// transaction. ExportCSV (csvexport.go) streams subscribers as CSV.
//
// Lists are public (offered on /subscribe and the preference page) or
// private (the shop's own; the preference page leaves them alone).
//
// Erasure runs every Config.Eraser (AddressEraser: also by address) in its
// transaction, then checkpoints the write-ahead log; with the store's
// secure_delete no copy of the address stays in the database files.
// Names with bidirectional control characters are refused, and attribute
// values nest at most 10 levels.
//
// Status model: a subscriber is pending, active or unsubscribed; each list
// membership is pending (asked for, not confirmed), active or unsubscribed.
// Marketing mail goes only to active subscribers on active memberships whose
// address is not suppressed and whose legal basis is consent, or
// existing_customer where the mailing allows it (Mailing.ExistingCustomers).
// That rule is written once, in marketing.go (MarketingWhere and
// MarketingWhereFor for SQL, Recipients, RecipientsFor and Lookup for
// batches and typed addresses), and segments, campaigns, flows and txmail
// all call it; a table test in cmd/treu feeds the same fixtures through
// every path.
//
// Legal basis (subscribers.legal_basis): consent, or existing_customer (UWG
// § 7 (3)): enrolled with the sale that brought the address (EnrollInput
// LegalBasis, OrderID, Notice), active at once without double opt-in, logged
// as the consent action existing_customer. A confirmed opt-in or an import of
// proof of consent makes the basis consent; the basis never moves down.
package subscribers
