-- Existing customers, bonus points and referrals (issue 10).

-- The legal basis of a subscriber's marketing mail: consent (double opt-in or
-- imported proof), or existing_customer (UWG § 7 (3): the address came with a
-- sale, the customer was told and did not object). Only mailings that say so
-- (campaigns.existing_customers, flows.existing_customers) may reach the
-- latter; subscribers/marketing.go is where that is decided.
ALTER TABLE subscribers ADD COLUMN legal_basis TEXT NOT NULL DEFAULT 'consent'
	CHECK (legal_basis IN ('consent', 'existing_customer'));
ALTER TABLE campaigns ADD COLUMN existing_customers INTEGER NOT NULL DEFAULT 0 CHECK (existing_customers IN (0, 1));
ALTER TABLE flows ADD COLUMN existing_customers INTEGER NOT NULL DEFAULT 0 CHECK (existing_customers IN (0, 1));

-- Package loyalty: the points ledger, append-only but for erasure. The balance
-- is the sum of a subscriber's rows. An order earns once and a refund takes
-- back once (the unique index makes a repeated event change nothing).
CREATE TABLE loyalty_points (
	id            INTEGER PRIMARY KEY,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	kind          TEXT    NOT NULL CHECK (kind IN ('order', 'refund', 'reward', 'referral')),
	ref           TEXT    NOT NULL DEFAULT '', -- the order id, the reward's coupon code, the friend's id
	points        INTEGER NOT NULL,            -- negative for refunds and rewards
	created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX loyalty_points_once ON loyalty_points (subscriber_id, kind, ref);

-- Package loyalty: who recommended whom. A friend is referred once; the
-- referrer is credited at the friend's first order (credited_at, and what
-- was given: points, or the coupon code).
CREATE TABLE referrals (
	friend_id   INTEGER PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
	referrer_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	created_at  INTEGER NOT NULL,
	credited_at INTEGER,
	credit      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX referrals_referrer ON referrals (referrer_id);
