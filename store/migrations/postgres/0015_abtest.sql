-- PostgreSQL translation of ../0015_abtest.sql (rules: 0001_subscribers.sql).

CREATE TABLE campaign_ab (
	campaign_id BIGINT PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
	test_share  DOUBLE PRECISION NOT NULL CHECK (test_share > 0 AND test_share <= 1),
	wait        BIGINT  NOT NULL,
	metric      TEXT    NOT NULL CHECK (metric IN ('clicks', 'opens', 'revenue')),
	winner      BIGINT,
	decided_at  BIGINT,
	decided_by  TEXT    CHECK (decided_by IN ('auto', 'manual'))
);

CREATE TABLE campaign_variants (
	campaign_id BIGINT  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	variant     BIGINT  NOT NULL CHECK (variant BETWEEN 0 AND 3),
	subject     TEXT    NOT NULL,
	preheader   TEXT    NOT NULL DEFAULT '',
	markdown    TEXT    NOT NULL,
	PRIMARY KEY (campaign_id, variant)
);

ALTER TABLE deliveries ADD COLUMN variant BIGINT;
CREATE INDEX deliveries_variant ON deliveries (campaign_id, variant, status) WHERE variant IS NOT NULL;
