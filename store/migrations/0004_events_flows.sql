-- Shop events, carts and orders (package events), flows and their runs
-- (package flows), coupon pools (package coupons).

-- Every accepted event, for idempotency and audit. The UNIQUE index on event_id
-- is the dedupe: INSERT ... ON CONFLICT DO NOTHING, no read before the write.
-- Rows are pruned after the event retention (events.Config), which is therefore
-- also the window in which a repeated id is recognised.
CREATE TABLE shop_events (
	id            INTEGER PRIMARY KEY,
	event_id      TEXT    NOT NULL UNIQUE,
	type          TEXT    NOT NULL,
	email_key     TEXT    NOT NULL,
	-- NULL while the address is not (yet) a subscriber; set by events.Link.
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
	payload       TEXT    NOT NULL,
	occurred_at   INTEGER NOT NULL,
	received_at   INTEGER NOT NULL
);
-- No index on received_at: Prune walks the oldest rows by id (ids grow with
-- time), and every index is one more page written per event.
CREATE INDEX shop_events_unlinked ON shop_events (email_key) WHERE subscriber_id IS NULL;

-- The current state of each cart the shop reported; one row per shop cart id.
CREATE TABLE carts (
	cart_id       TEXT    PRIMARY KEY,
	email_key     TEXT    NOT NULL,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
	status        TEXT    NOT NULL CHECK (status IN ('open', 'cleared', 'ordered')),
	url           TEXT    NOT NULL DEFAULT '',
	currency      TEXT    NOT NULL DEFAULT '',
	total         REAL    NOT NULL DEFAULT 0,
	items         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(items)),
	item_count    INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL  -- occurred_at of the last cart event applied
);
-- The cart-abandonment flow looks for open carts whose wait is over, a page
-- at a time in (updated_at, cart_id) order: with cart_id in the index a page
-- is a seek and a short walk, not a sort of every open cart in the window.
-- cart_id never changes, so it costs no extra index write.
CREATE INDEX carts_open ON carts (updated_at, cart_id) WHERE status = 'open';
CREATE INDEX carts_subscriber ON carts (subscriber_id);
CREATE INDEX carts_unlinked ON carts (email_key) WHERE subscriber_id IS NULL;

-- Orders; one row per shop order id, so a repeated order.placed under a new
-- event id is not counted twice in the subscriber's figures.
CREATE TABLE shop_orders (
	order_id      TEXT    PRIMARY KEY,
	email_key     TEXT    NOT NULL,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
	cart_id       TEXT    NOT NULL DEFAULT '',
	currency      TEXT    NOT NULL,
	total         REAL    NOT NULL,
	items         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(items)),
	placed_at     INTEGER NOT NULL
);
CREATE INDEX shop_orders_subscriber ON shop_orders (subscriber_id, placed_at);
CREATE INDEX shop_orders_cart ON shop_orders (cart_id) WHERE cart_id <> '';
CREATE INDEX shop_orders_unlinked ON shop_orders (email_key) WHERE subscriber_id IS NULL;

-- The built-in flows. steps is NULL until a marketer saves the flow: then the
-- flows package serves its built-in German and English defaults.
CREATE TABLE flows (
	slug          TEXT    PRIMARY KEY,
	enabled       INTEGER NOT NULL DEFAULT 0,
	steps         TEXT    CHECK (steps IS NULL OR json_valid(steps)),
	cron          TEXT    NOT NULL DEFAULT '',
	segment_id    INTEGER,
	version       INTEGER NOT NULL DEFAULT 1,  -- bumped on every save: the template cache key
	-- When the flow was last switched on: carts older than that never enter it,
	-- so switching on the flow does not mail every cart of the past.
	enabled_at    INTEGER NOT NULL,
	-- offers: when the last round was started (the cron's reference point).
	last_round_at INTEGER,
	-- cart-abandonment: carts last updated up to here have been considered for
	-- entry, so a tick looks only at carts whose wait ended since the last one.
	cursor_at     INTEGER,
	updated_at    INTEGER NOT NULL
);
INSERT INTO flows (slug, enabled, cron, enabled_at, updated_at) VALUES
	('welcome',          1, '',            CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER)),
	('cart-abandonment', 1, '',            CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER)),
	('offers',           0, '0 9 * * MON', CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER));

-- One subscriber's way through one flow. UNIQUE (flow, subscriber, trigger) is
-- what makes a repeated event or a second tick harmless: the cart id for cart
-- abandonment, the round for offers, '' for welcome.
CREATE TABLE flow_runs (
	id            INTEGER PRIMARY KEY,
	flow          TEXT    NOT NULL REFERENCES flows (slug),
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	trigger_key   TEXT    NOT NULL DEFAULT '',
	step          INTEGER NOT NULL DEFAULT 0, -- the next step to send (= steps sent so far)
	status        TEXT    NOT NULL CHECK (status IN ('active', 'done', 'ended')) DEFAULT 'active',
	due_at        INTEGER,                    -- when step is due; NULL unless active
	end_reason    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	UNIQUE (flow, subscriber_id, trigger_key)
);
CREATE INDEX flow_runs_due ON flow_runs (due_at, id) WHERE status = 'active';
CREATE INDEX flow_runs_subscriber ON flow_runs (subscriber_id);

-- One row per step a run passed: a flow mail queued ('sent': the figures and
-- order attribution) or a step skipped because it was due too long ago ('late').
CREATE TABLE flow_sends (
	id            INTEGER PRIMARY KEY,
	run_id        INTEGER NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
	flow          TEXT    NOT NULL,
	step          INTEGER NOT NULL,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	outcome       TEXT    NOT NULL DEFAULT 'sent' CHECK (outcome IN ('sent', 'late')),
	mail_id       INTEGER,           -- mail_queue.id; NULL when skipped
	coupon        TEXT    NOT NULL DEFAULT '',
	sent_at       INTEGER NOT NULL   -- queued at
);
CREATE INDEX flow_sends_attribution ON flow_sends (subscriber_id, flow, sent_at);
CREATE INDEX flow_sends_flow ON flow_sends (flow, step);

CREATE TABLE coupon_pools (
	id         INTEGER PRIMARY KEY,
	slug       TEXT    NOT NULL UNIQUE,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

-- A code belongs to one pool and goes to one subscriber at most: assigned_at is
-- set in the same transaction that queues the mail carrying it.
CREATE TABLE coupon_codes (
	id            INTEGER PRIMARY KEY,
	pool_id       INTEGER NOT NULL REFERENCES coupon_pools (id) ON DELETE CASCADE,
	code          TEXT    NOT NULL,
	-- SET NULL on erasure: the code stays used, the person is forgotten.
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	assigned_at   INTEGER,
	created_at    INTEGER NOT NULL,
	UNIQUE (pool_id, code)
);
-- Assign takes the lowest free id; used codes are not in this index.
CREATE INDEX coupon_codes_free ON coupon_codes (pool_id, id) WHERE assigned_at IS NULL;
