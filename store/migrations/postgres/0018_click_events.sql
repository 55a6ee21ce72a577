-- PostgreSQL translation of ../0018_click_events.sql (rules: 0001_subscribers.sql).

ALTER TABLE webhook_deliveries ADD COLUMN ref TEXT;
CREATE INDEX webhook_deliveries_ref ON webhook_deliveries (ref) WHERE ref IS NOT NULL;

CREATE INDEX bounces_flow ON bounces (flow, mail_id) WHERE flow <> '';
