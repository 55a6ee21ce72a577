-- PostgreSQL translation of ../0013_flows_general.sql (rules: 0001_subscribers.sql).

ALTER TABLE flows ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN trigger_kind TEXT NOT NULL DEFAULT 'confirmed'
	CHECK (trigger_kind IN ('confirmed', 'event', 'stage', 'date', 'segment', 'cart', 'schedule'));
ALTER TABLE flows ADD COLUMN trigger_arg TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN exit_order BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN exit_stage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN once_per_person BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN cooldown BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN builtin BIGINT NOT NULL DEFAULT 0;

UPDATE flows SET builtin = 1, name = 'Welcome', trigger_kind = 'confirmed', once_per_person = 1 WHERE slug = 'welcome';
UPDATE flows SET builtin = 1, name = 'Cart abandonment', trigger_kind = 'cart' WHERE slug = 'cart-abandonment';
UPDATE flows SET builtin = 1, name = 'Offers', trigger_kind = 'schedule' WHERE slug = 'offers';

CREATE INDEX flows_trigger ON flows (trigger_kind, trigger_arg) WHERE enabled = 1;

ALTER TABLE flow_runs ADD COLUMN event JSONB;
ALTER TABLE flow_runs ADD COLUMN coupon TEXT NOT NULL DEFAULT '';

CREATE TABLE flow_segment_members (
	flow          TEXT   NOT NULL REFERENCES flows (slug) ON DELETE CASCADE,
	subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	PRIMARY KEY (flow, subscriber_id)
);
