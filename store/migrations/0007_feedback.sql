-- Feedback (owner: package feedback): what came back after a mail was sent.
-- One row per bounce or complaint, whatever brought it in: a refusal at send
-- time, a DSN or ARF report to the VERP address, a provider webhook, the API.

CREATE TABLE bounces (
	id            INTEGER PRIMARY KEY,
	-- NULL when the address belongs to no subscriber (a transactional mail);
	-- erasing the subscriber erases their bounces (the diagnostic may name them).
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
	email_hash    TEXT    NOT NULL, -- hex sha256 of the lower-cased address, as suppressions
	kind          TEXT    NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
	-- smtp (refused at send), dsn, arf, verp (an unstructured bounce), api,
	-- ses, sendgrid, postmark, mailgun, brevo
	source        TEXT    NOT NULL,
	status        TEXT    NOT NULL DEFAULT '', -- RFC 3463 code such as 5.1.1, or the SMTP reply code
	diagnostic    TEXT    NOT NULL DEFAULT '', -- the remote server's words, for the operator
	-- What the bounced mail was: a campaign's delivery, or a queued single mail
	-- (and the flow it was a step of). No foreign keys: a bounce stays part of
	-- the address's history when its campaign is deleted.
	campaign_id   INTEGER,
	delivery_id   INTEGER,
	mail_id       INTEGER,
	flow          TEXT    NOT NULL DEFAULT '',
	-- The provider's or report's own id: a webhook delivered twice counts once.
	event_id      TEXT,
	created_at    INTEGER NOT NULL
);
-- The soft-bounce rule counts an address's soft bounces in a window.
CREATE INDEX bounces_address ON bounces (email_hash, created_at);
CREATE INDEX bounces_subscriber ON bounces (subscriber_id, id) WHERE subscriber_id IS NOT NULL;
-- A campaign's figures: bounced and complained deliveries.
CREATE INDEX bounces_campaign ON bounces (campaign_id, kind, delivery_id) WHERE campaign_id IS NOT NULL;
CREATE UNIQUE INDEX bounces_event ON bounces (event_id) WHERE event_id IS NOT NULL;

-- Webhooks to the shop (owner: package webhooks): endpoints the shop
-- registered, and a durable queue of signed deliveries to them.
CREATE TABLE webhooks (
	id         INTEGER PRIMARY KEY,
	url        TEXT    NOT NULL,
	events     TEXT    NOT NULL CHECK (json_valid(events)), -- JSON array of event types
	-- "whsec_" + base64 of 32 random bytes (Standard Webhooks); kept as is,
	-- since every delivery is signed with it.
	secret     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
	id              INTEGER PRIMARY KEY,
	webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	message_id      TEXT    NOT NULL, -- the webhook-id header: the same on every retry
	type            TEXT    NOT NULL,
	-- Deliveries with the same key (one subscriber's events) go out in order:
	-- a newer one waits while an older one is pending.
	ordering_key    TEXT    NOT NULL DEFAULT '',
	payload         TEXT    NOT NULL,
	status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL, -- a claim moves it to the lease's end
	lease_owner     TEXT,
	last_status     INTEGER,          -- the receiver's HTTP status, if it answered
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	sent_at         INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at, id);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering_key, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (webhook_id, id);
-- Erasure finds a subscriber's events by their key.
CREATE INDEX webhook_deliveries_key ON webhook_deliveries (ordering_key) WHERE ordering_key <> '';
