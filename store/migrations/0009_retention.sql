-- Retention (package retention): where each subscriber stands on the ladder
-- prospect -> first-time buyer -> repeat buyer -> regular -> promoter (or
-- lapsing, lost), the history of moves, and the satisfaction (NPS) answers.
--
-- A subscriber without a subscriber_stages row is a prospect: most subscribers
-- never order, and a row each for them would only be rewritten.

CREATE TABLE subscriber_stages (
	subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
	stage         TEXT    NOT NULL CHECK (stage IN ('prospect', 'first_time_buyer', 'repeat_buyer',
	                                                'regular', 'promoter', 'lapsing', 'lost')),
	since         INTEGER NOT NULL,              -- when the subscriber entered the stage
	updated_at    INTEGER NOT NULL               -- when the stage was last computed
);
-- Stage counts and the segment field stage read by stage.
CREATE INDEX subscriber_stages_stage ON subscriber_stages (stage, subscriber_id);

-- Every move between stages, append-only: the timeline on the subscriber page
-- and the moves per month on the retention page.
CREATE TABLE stage_changes (
	id            INTEGER PRIMARY KEY,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	from_stage    TEXT    NOT NULL,
	to_stage      TEXT    NOT NULL,
	changed_at    INTEGER NOT NULL
);
CREATE INDEX stage_changes_subscriber ON stage_changes (subscriber_id, changed_at);
CREATE INDEX stage_changes_changed ON stage_changes (changed_at);

-- NPS answers: one row per subscriber and survey (the order asked about, or
-- '' for a survey without an order). A click within 24 hours of the first
-- answer replaces the score; after that the answer stands.
CREATE TABLE nps_answers (
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	survey        TEXT    NOT NULL DEFAULT '',
	score         INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
	comment       TEXT    NOT NULL DEFAULT '',
	first_at      INTEGER NOT NULL,              -- the first click: starts the 24 hours
	answered_at   INTEGER NOT NULL,              -- the last accepted click
	PRIMARY KEY (subscriber_id, survey)
) WITHOUT ROWID;
CREATE INDEX nps_answers_answered ON nps_answers (answered_at);

-- Reports computed ahead by the nightly pass (GET /api/retention for the
-- page's default periods), keyed by the period; a live request for the same
-- period on the same day reads the stored body.
CREATE TABLE retention_reports (
	period_from INTEGER NOT NULL,
	period_to   INTEGER NOT NULL,
	body        TEXT    NOT NULL CHECK (json_valid(body)),
	computed_at INTEGER NOT NULL,
	PRIMARY KEY (period_from, period_to)
) WITHOUT ROWID;

-- The report reads orders by time (package events owns shop_orders; this
-- index serves its period figures).
CREATE INDEX shop_orders_placed ON shop_orders (placed_at, subscriber_id, total);
-- The report's cohorts start from each customer's first order.
CREATE INDEX subscribers_first_order ON subscribers (first_order_at) WHERE first_order_at IS NOT NULL;
