-- A/B tests of campaigns (issue 9). Owned by package campaigns.

-- A campaign under test: the share of its audience that gets the variants,
-- how long to wait before choosing, by which figure, and the choice.
CREATE TABLE campaign_ab (
	campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
	test_share  REAL    NOT NULL CHECK (test_share > 0 AND test_share <= 1),
	wait        INTEGER NOT NULL, -- seconds from the send's start
	metric      TEXT    NOT NULL CHECK (metric IN ('clicks', 'opens', 'revenue')),
	winner      INTEGER,          -- the chosen variant (0 = A); NULL while testing
	decided_at  INTEGER,
	decided_by  TEXT    CHECK (decided_by IN ('auto', 'manual'))
);

-- The 2-4 versions of a campaign's mail; variant 0 (A) repeats the
-- campaign's own subject, preheader and Markdown.
CREATE TABLE campaign_variants (
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	variant     INTEGER NOT NULL CHECK (variant BETWEEN 0 AND 3),
	subject     TEXT    NOT NULL,
	preheader   TEXT    NOT NULL DEFAULT '',
	markdown    TEXT    NOT NULL,
	PRIMARY KEY (campaign_id, variant)
) WITHOUT ROWID;

-- The variant a test recipient got, fixed when the audience is snapshotted.
-- NULL: not under test, or the rest of a test audience, which waits
-- (next_attempt_at far in the future) until the winner is chosen and then
-- gets the winner.
ALTER TABLE deliveries ADD COLUMN variant INTEGER;
-- Per-variant figures and the "test mails out?" check read only the test group.
CREATE INDEX deliveries_variant ON deliveries (campaign_id, variant, status) WHERE variant IS NOT NULL;
