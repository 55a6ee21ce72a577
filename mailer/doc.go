// Package mailer turns a Message into RFC 5322 bytes and delivers it.
//
// It owns:
//   - Build: the MIME message every mail becomes (go-mail's Msg), with the
//     headers API.md requires of marketing mail (List-Id, one-click List-Unsubscribe).
//   - SMTP: a pool of persistent go-mail connections with a rate limit, and
//     Multi to spread over several servers.
//   - Outbox: mail captured in the database instead of sent, when no SMTP is set.
//   - Queue: the durable queue for single mails (confirmation, welcome,
//     transactional, test, flow), enqueued inside the caller's transaction and
//     delivered by workers that claim rows with an owner and a lease.
//   - DKIM signing and key generation.
//   - Erasure (EraseAddress: a person's queued and captured mail) and
//     retention (Prune: sent, failed and captured mail after --mail-retention).
//
// Tables written: mail_queue and outbox (store/migrations/0002_mailer.sql).
package mailer
