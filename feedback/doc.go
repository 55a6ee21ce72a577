// Package feedback closes the loop after a send: bounces and complaints come
// back into Treu and change who gets the next mail.
//
// Table written: bounces (store/migrations/0007_feedback.sql), one row per
// hard bounce, soft bounce or complaint, with the remote server's diagnostic
// and what the mail was (campaign and delivery, or queued mail and flow).
// Suppressions and memberships belong to package subscribers: feedback
// changes them only through its exported functions (Subscribers).
//
// Rules (Rules, with these defaults): a hard bounce suppresses the address
// (reason "bounce"); SoftLimit (3) soft bounces within SoftWindow (30 days)
// do too; a complaint unsubscribes the subscriber from every list (logged in
// the consent log with channel "feedback") and suppresses the address
// (reason "complaint"). A report with an event id seen before changes nothing.
//
// Where reports come from: a 5xx at send time (campaigns and the mail queue
// report it), POST /api/bounces (Submit), and the VERP return path
// bounces+TOKEN@BOUNCE_DOMAIN every mail carries (verp.go), which names the
// delivery or queued mail the bounce is about. Mail to that address reaches
// the bounce listener (smtpd.go), which reads RFC 3464 DSNs, RFC 5965 ARF
// complaints and free-text bounces (parse.go). Relays report through their
// event webhooks (providers.go, ses.go), each verified by its signature.
//
// Reads for other packages' figures: Campaign (a campaign's bounced and
// complained deliveries) and Flow (a flow's bounced and complained mails,
// flowread.go), which package flows maps to its steps.
package feedback
