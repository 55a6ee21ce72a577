// Package txmail sends transactional mail: one mail to one address, now,
// because of something the shop did for that person (an order problem, a
// delivery delay). It is outside marketing consent: it goes to any valid
// address, subscriber or not, active, pending or unsubscribed, and carries no
// List-Id, no List-Unsubscribe and no preference links. Its footer still
// names the shop with the Impressum, like every mail (templates' footer shows
// the unsubscribe part only when there is an unsubscribe link).
//
// Templates are named by a slug and hold a subject and Markdown per locale
// (de, en). Put compiles every text with package templates, so a mistake is
// a 422 at save time naming "locales.de.markdown" and the line, never a
// failed send. Send picks the text in the first of: the request's locale,
// the subscriber's locale, en, de that the template has.
//
// The request's data object (at most 16 KiB) is what the Markdown sees as
// .Data: {{ .Data.order_id }}, {{ .Data.order.id }},
// {{ range .Data.items }}{{ .name }}{{ end }}. It also reads as attributes,
// as templates written before .Data did: {{ .Attr "order_id" }}. When the address
// belongs to a subscriber, their name, locale and stored attributes fill in
// the rest; the data's keys win, and a string "name" in the data is the
// recipient's name. Whole numbers stay whole ("order_id": 12345678 prints
// 12345678, not 1.2345678e+07).
//
// Send renders the mail and enqueues it in mailer's durable queue (kind "tx")
// in one transaction: the 202 means the mail is durable. The data is stored
// nowhere else, and the queue drops the body once the mail is sent.
//
// Erased addresses (a suppressions row, no subscriber): the mail is sent.
// Erasure withdraws marketing consent and deletes what Treu held; it does
// not end the shop's contract with the person, and a message about their
// order is part of performing that contract (GDPR Art. 6(1)(b)). Send links
// the mail to no subscriber, creates no subscriber and keeps nothing beyond
// the queue row. The one address refused is one that bounced permanently
// (a 422 naming "email", subscribers.Recipient.Undeliverable): mailing it
// again only hurts the shop's sender reputation. A tx mail to a
// subscriber carries their id, so erasing them later deletes it while it is
// still queued (mailer.Queue.DeleteForSubscriber).
//
// Tables written: tx_templates (store/migrations/0006_tx_templates.sql), and
// mail_queue through mailer.Queue. Read, not written: subscribers (name,
// locale and attributes of the recipient).
package txmail
