-- Campaigns, their layouts and the per-recipient delivery rows of a send.
-- Owned by package campaigns. The segments table belongs to package segments
-- (a later migration), so campaigns.segment_id carries no foreign key.

-- HTML layouts a campaign's rendered Markdown is placed into.
CREATE TABLE layouts (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	html       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL,
	subject     TEXT    NOT NULL,
	preheader   TEXT    NOT NULL DEFAULT '',
	markdown    TEXT    NOT NULL,
	-- List slugs as a JSON array; a campaign is for the subscribers active on any of them.
	lists       TEXT    NOT NULL DEFAULT '["newsletter"]' CHECK (json_valid(lists)),
	segment_id  INTEGER,                 -- segments(id); NULL = the whole lists
	layout_id   INTEGER REFERENCES layouts (id) ON DELETE SET NULL, -- NULL = default layout
	send_at     INTEGER,                 -- a one-off campaign starts at this time
	cron        TEXT    NOT NULL DEFAULT '', -- recurring: each occurrence spawns a child send
	-- The recurring campaign a child send was spawned from.
	parent_id   INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
	status      TEXT    NOT NULL DEFAULT 'draft'
	            CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'finished', 'cancelled')),
	next_run_at INTEGER,                 -- recurring: the next occurrence
	audience    INTEGER NOT NULL DEFAULT 0, -- recipients snapshotted at start
	started_at  INTEGER,                 -- set when the audience is snapshotted
	finished_at INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
-- The scheduler's and the workers' look-ups: due scheduled campaigns, running ones.
CREATE INDEX campaigns_status ON campaigns (status, send_at);
CREATE INDEX campaigns_parent ON campaigns (parent_id) WHERE parent_id IS NOT NULL;

-- One row per recipient of a send, made in one INSERT ... SELECT when the send
-- starts, so the audience is fixed and a crash resumes from these rows.
-- Kept narrow (a million rows per large send): no message body, the SMTP reply
-- only where a delivery failed or is waiting for a retry.
CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY,
	campaign_id     INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	-- No foreign key: an erased subscriber's rows stay (they hold no personal data)
	-- and deleting a subscriber must not scan every delivery.
	subscriber_id   INTEGER NOT NULL,
	-- pending: waiting (maybe for next_attempt_at); sending: claimed by lease_owner
	-- until lease_until; sent; failed (reply says why); skipped (not mailable any more
	-- when its turn came: reply says why); cancelled.
	status          TEXT    NOT NULL DEFAULT 'pending'
	                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'cancelled')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	lease_owner     TEXT,
	lease_until     INTEGER,
	reply           TEXT,
	sent_at         INTEGER
);
-- The claim query walks (campaign, 'pending', due) in order; also serves stats
-- (count per status) and lease sweeps (campaign, 'sending').
CREATE INDEX deliveries_claim ON deliveries (campaign_id, status, next_attempt_at);
-- One delivery per recipient and send, whatever happens.
CREATE UNIQUE INDEX deliveries_recipient ON deliveries (campaign_id, subscriber_id);
