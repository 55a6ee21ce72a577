-- CSV imports of subscribers (owner: imports package). One row per uploaded
-- file, from the upload through the dry run to the import itself, so an import
-- survives a restart or a crash and any instance sharing the database can
-- finish it.

CREATE TABLE import_jobs (
	id          TEXT PRIMARY KEY,            -- random and unguessable: it names the job in URLs
	user_id     INTEGER,                     -- the UI user who uploaded it; NULL from the command line
	file_name   TEXT NOT NULL,
	path        TEXT NOT NULL,               -- the kept file; removed when the import ends
	size        INTEGER NOT NULL,
	-- How the file is read: compression, character set, separator (JSON).
	format      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(format)),
	header      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(header)),
	-- A few rows for the mapping page; cleared when the import ends (personal data).
	sample      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(sample)),
	settings    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)), -- mapping, lists, consent
	report      TEXT CHECK (report IS NULL OR json_valid(report)),       -- the last dry run
	-- uploaded -> checked (a dry run passed) -> running -> finished | failed
	-- (failed: an error on the server; it may be run again and resumes).
	status      TEXT NOT NULL DEFAULT 'uploaded'
	            CHECK (status IN ('uploaded', 'checked', 'running', 'finished', 'failed')),
	-- The checkpoint: data rows of the file read and written, valid or not. It
	-- moves in the same transaction as the subscribers of those rows, so a
	-- resumed import neither repeats nor skips a row.
	rows_read   INTEGER NOT NULL DEFAULT 0,
	rows_total  INTEGER NOT NULL DEFAULT 0,  -- data rows of the file (the dry run's count)
	created     INTEGER NOT NULL DEFAULT 0,  -- new subscribers
	existing    INTEGER NOT NULL DEFAULT 0,  -- addresses already there
	failed      INTEGER NOT NULL DEFAULT 0,  -- refused on writing (e.g. suppressed)
	skipped     INTEGER NOT NULL DEFAULT 0,  -- bad or repeated rows, left out
	issues      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(issues)), -- the run's first problems
	error       TEXT NOT NULL DEFAULT '',
	-- The instance running it, until when; a lapsed lease may be taken over.
	owner       TEXT,
	lease_until INTEGER,
	-- Where this stretch of the run began, for the rate and the estimate.
	resumed_at   INTEGER,
	resumed_rows INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	started_at  INTEGER,
	finished_at INTEGER
);
-- The resumer looks for running imports whose lease lapsed.
CREATE INDEX import_jobs_running ON import_jobs (lease_until) WHERE status = 'running';
CREATE INDEX import_jobs_created ON import_jobs (created_at);
