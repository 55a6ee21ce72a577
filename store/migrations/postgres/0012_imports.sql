-- PostgreSQL translation of ../0012_imports.sql (rules: 0001_subscribers.sql).

CREATE TABLE import_jobs (
	id          TEXT PRIMARY KEY,
	user_id     BIGINT,
	file_name   TEXT NOT NULL,
	path        TEXT NOT NULL,
	size        BIGINT NOT NULL,
	format      JSONB NOT NULL DEFAULT '{}',
	header      JSONB NOT NULL DEFAULT '[]',
	sample      JSONB NOT NULL DEFAULT '[]',
	settings    JSONB NOT NULL DEFAULT '{}',
	report      JSONB,
	status      TEXT NOT NULL DEFAULT 'uploaded'
	            CHECK (status IN ('uploaded', 'checked', 'running', 'finished', 'failed')),
	rows_read   BIGINT NOT NULL DEFAULT 0,
	rows_total  BIGINT NOT NULL DEFAULT 0,
	created     BIGINT NOT NULL DEFAULT 0,
	existing    BIGINT NOT NULL DEFAULT 0,
	failed      BIGINT NOT NULL DEFAULT 0,
	skipped     BIGINT NOT NULL DEFAULT 0,
	issues      JSONB NOT NULL DEFAULT '[]',
	error       TEXT NOT NULL DEFAULT '',
	owner       TEXT,
	lease_until BIGINT,
	resumed_at   BIGINT,
	resumed_rows BIGINT NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	started_at  BIGINT,
	finished_at BIGINT
);
CREATE INDEX import_jobs_running ON import_jobs (lease_until) WHERE status = 'running';
CREATE INDEX import_jobs_created ON import_jobs (created_at);
