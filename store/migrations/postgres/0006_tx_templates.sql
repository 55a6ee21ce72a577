-- PostgreSQL translation of ../0006_tx_templates.sql (rules: 0001_subscribers.sql).

CREATE TABLE tx_templates (
	slug       TEXT   PRIMARY KEY,
	name       TEXT   NOT NULL,
	locales    JSONB  NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
