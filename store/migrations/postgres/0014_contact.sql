-- PostgreSQL translation of ../0014_contact.sql (rules: 0001_subscribers.sql).

CREATE TABLE contact_log (
	subscriber_id BIGINT NOT NULL,
	sent_at       BIGINT NOT NULL,
	campaign_id   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX contact_log_subscriber ON contact_log (subscriber_id, sent_at, campaign_id);
CREATE INDEX contact_log_sent ON contact_log (sent_at);

ALTER TABLE campaigns ADD COLUMN contact_policy TEXT NOT NULL DEFAULT 'skip'
	CHECK (contact_policy IN ('skip', 'wait', 'ignore'));

CREATE INDEX deliveries_capped ON deliveries (campaign_id) WHERE status = 'skipped' AND reply = 'capped';
