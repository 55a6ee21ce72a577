-- Subscribers, lists, consent and API tokens: the ground of everything else.
-- Times are INTEGER Unix seconds (UTC): portable, indexable, cheap to compare.

CREATE TABLE lists (
	id          INTEGER PRIMARY KEY,
	slug        TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);

-- A fresh install has one list; API.md: "lists left out means that one".
INSERT INTO lists (slug, name, description, created_at)
VALUES ('newsletter', 'Newsletter', '', CAST(strftime('%s', 'now') AS INTEGER));

-- AUTOINCREMENT: an erased subscriber's id is never reused, so an old signed
-- link can never act on a different person.
CREATE TABLE subscribers (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	email        TEXT NOT NULL,                 -- as the subscriber wrote it (domain normalised)
	email_key    TEXT NOT NULL UNIQUE,          -- lower-cased: uniqueness ignores case
	name         TEXT NOT NULL DEFAULT '',
	locale       TEXT NOT NULL DEFAULT 'en' CHECK (locale IN ('de', 'en')),
	attributes   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
	status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	-- When the last confirmation mail was queued: rate-limits re-sends per address,
	-- and an unconfirmed subscriber is purged PendingTTL after it.
	confirm_sent_at INTEGER,
	-- The last withdrawal: a confirmation link issued before it must not undo it.
	unsubscribed_at INTEGER,
	-- Shop figures, kept current by the events package for segments and reports.
	order_count    INTEGER NOT NULL DEFAULT 0,
	order_total    REAL    NOT NULL DEFAULT 0,
	first_order_at INTEGER,
	last_order_at  INTEGER
);
CREATE INDEX subscribers_status_created ON subscribers (status, created_at);
CREATE INDEX subscribers_created ON subscribers (created_at, id);
-- PurgePending finds unconfirmed subscribers by when their last confirmation mail went out.
CREATE INDEX subscribers_pending ON subscribers (confirm_sent_at) WHERE status = 'pending';

CREATE TABLE subscriptions (
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	list_id       INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	-- pending: asked for under double opt-in, not yet confirmed; only 'active' receives mail.
	status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')) DEFAULT 'active',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (subscriber_id, list_id)
) WITHOUT ROWID;
CREATE INDEX subscriptions_list ON subscriptions (list_id, status, subscriber_id);

-- Append-only: every opt-in, confirmation, preference change and withdrawal.
-- Erasure deletes a person's rows with the person (GDPR); nothing else deletes.
CREATE TABLE consents (
	id            INTEGER PRIMARY KEY,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	action        TEXT NOT NULL,  -- signup, confirmation_sent, confirmed, imported, preferences, unsubscribed, resubscribed
	channel       TEXT NOT NULL DEFAULT '', -- api, form, link, one_click, preferences, admin
	source        TEXT NOT NULL DEFAULT '',
	consent_text  TEXT NOT NULL DEFAULT '',
	text_version  TEXT NOT NULL DEFAULT '', -- sha256 prefix of consent_text: which wording was shown
	ip            TEXT NOT NULL DEFAULT '',
	user_agent    TEXT NOT NULL DEFAULT '',
	detail        TEXT NOT NULL DEFAULT '', -- e.g. which lists
	created_at    INTEGER NOT NULL
);
CREATE INDEX consents_subscriber ON consents (subscriber_id, id);

-- Addresses that must never be mailed again: erased or hard-bounced.
-- Only a hash of the lower-cased address is kept.
CREATE TABLE suppressions (
	email_hash TEXT PRIMARY KEY, -- hex sha256 of email_key
	reason     TEXT NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,         -- first characters, shown in the UI to tell tokens apart
	hash         TEXT NOT NULL UNIQUE,  -- hex sha256 of the whole token; tokens are 256-bit random
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
);

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
	password_hash TEXT NOT NULL,        -- bcrypt
	created_at    INTEGER NOT NULL,
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER
);

-- Operator settings that the UI can change (Impressum, sender, base URL...).
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
