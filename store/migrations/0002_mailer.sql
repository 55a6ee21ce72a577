-- Mailer: the durable queue for single mails and the outbox that captures mail
-- when no SMTP server is configured. Owned by package mailer.

-- One row per single mail (confirmation, welcome, transactional, test, flow).
-- The message is stored as JSON, not as raw MIME, so Date, Message-ID and the
-- DKIM signature are made when it is actually sent. After sending, message is
-- set to NULL: the metadata stays for statistics, the personal data goes.
CREATE TABLE mail_queue (
	id              INTEGER PRIMARY KEY,
	kind            TEXT    NOT NULL,                 -- confirm, welcome, tx, test, flow
	-- NULL for mail to no subscriber, and after an erase (GDPR).
	subscriber_id   INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	recipient       TEXT    NOT NULL,
	message         TEXT,                             -- the Message as JSON, written by Enqueue only
	status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,       -- claims so far, counted at claim time
	-- When a worker may next claim the row. A claim moves it to the lease's end,
	-- so a row whose worker died becomes due again by itself.
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT,                             -- the instance holding the claim
	lease_until     INTEGER,
	last_error      TEXT    NOT NULL DEFAULT '',      -- the server's reply, for the operator
	created_at      INTEGER NOT NULL,
	sent_at         INTEGER
);
-- Claiming walks the queued rows in due order and stops at the limit; Stats
-- counts by status. One index serves both: with a separate (status) index
-- the planner read every queued row and sorted them on every claim, which
-- under a burst of enrollments cost a quarter of the CPU.
CREATE INDEX mail_queue_due ON mail_queue (status, next_attempt_at, id);
CREATE INDEX mail_queue_subscriber ON mail_queue (subscriber_id) WHERE subscriber_id IS NOT NULL;

-- Mail captured instead of sent (no SMTP configured): the raw RFC 5322 bytes,
-- shown in the UI. Listed newest first by id (keyset paging).
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY,
	kind       TEXT    NOT NULL DEFAULT '',
	recipient  TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	raw        BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX outbox_recipient ON outbox (recipient);
