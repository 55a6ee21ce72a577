// Package mailer turns a Message into RFC 5322 bytes and delivers it.
//
// It owns:
//   - Build: the MIME message every mail becomes (multipart text + HTML,
//     RFC 2047 headers, the List-Id and one-click List-Unsubscribe API.md
//     requires of marketing mail), written in one pass by mime.go; why not
//     go-mail's Msg is measured in message.go, and TestBuildMatchesGoMail
//     checks the result against go-mail's.
//   - SMTP: go-mail dials (TLS, auth); the send engine then pipelines
//     MAIL/RCPT/DATA on pooled connections (pipeline.go) with a rate limit,
//     and Multi spreads over several servers. Where the server offers
//     PIPELINING, mails are pipelined across each other too: one mail's
//     content and the next one's commands go out in one write, and the
//     next sender reads the first one's reply (a connection has at most two
//     mails in flight; SMTP.Concurrency says how many Sends keep it busy).
//   - Outbox: mail captured in the database instead of sent, when no SMTP is set.
//   - Queue: the durable queue for single mails (confirmation, welcome,
//     transactional, test, flow), enqueued inside the caller's transaction and
//     delivered by workers that claim rows with an owner and a lease.
//   - DKIM signing and key generation.
//   - Metrics hooks, without a metrics library: QueueConfig.OnResult counts
//     recorded results, SMTPConfig.Latency times each SMTP transaction, and
//     Queue.Stats gives the queue's depth and the oldest queued mail's age.
//   - Erasure (EraseAddress: a person's queued and captured mail) and
//     retention (Prune: sent, failed and captured mail after --mail-retention).
//
// Tables written: mail_queue and outbox (store/migrations/0002_mailer.sql).
// The queue's INSERT runs from the caller's transaction through store's
// statement cache.
package mailer
