-- PostgreSQL translation of ../0011_lawful.sql (rules: 0001_subscribers.sql).

ALTER TABLE campaigns ADD COLUMN coupon_pool TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN coupon TEXT;

CREATE INDEX deliveries_reply ON deliveries (subscriber_id) WHERE reply IS NOT NULL;

-- SQLite's (recipient COLLATE NOCASE): the owning packages compare
-- lower(recipient) = lower(?) on PostgreSQL, which these indexes serve.
CREATE INDEX mail_queue_recipient ON mail_queue (lower(recipient));
CREATE INDEX mail_queue_sent ON mail_queue (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_recipient_nocase ON outbox (lower(recipient));

ALTER TABLE lists ADD COLUMN public BIGINT NOT NULL DEFAULT 1 CHECK (public IN (0, 1));
