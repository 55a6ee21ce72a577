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
