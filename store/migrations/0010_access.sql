-- Access (package accounts, package audit): scoped API tokens, user roles and
-- invitations, server-side sessions, sign-in failures counted per account and
-- client address, and the audit log.

-- Tokens made before scopes could do everything; they keep doing it. New
-- tokens say their scope (`treu token create --scope`, the settings page).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin'
	CHECK (scope IN ('shop', 'admin'));

-- Users made before roles could do everything: they become owners.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'
	CHECK (role IN ('owner', 'admin', 'editor', 'viewer'));
-- An invited user has password_hash '' (no sign-in possible) until the link in
-- the invitation sets a password. invited_at is signed into that link, so a
-- new invitation replaces the old one; setting the password ends both.
ALTER TABLE users ADD COLUMN invited_at INTEGER;
-- users.failed_logins and users.locked_until are no longer read: failures are
-- counted in signin_failures instead.

-- A signed-in browser. The cookie carries a random secret; only its hash is
-- here, so a copy of the database signs nobody in. Deleting the row (sign-out,
-- password change, removal) ends every copy of the cookie at once.
CREATE TABLE sessions (
	id_hash    TEXT    PRIMARY KEY,   -- hex sha256 of the cookie's secret
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Failed sign-ins per (address typed, client IP). Keyed by what was typed, not
-- by user id, so an unknown address locks exactly like a known one and the
-- answers do not tell which addresses have accounts; keyed by IP too, so
-- someone guessing from elsewhere cannot lock an admin out. Rows are deleted
-- on success and pruned once their lock and window have passed.
CREATE TABLE signin_failures (
	email        TEXT    NOT NULL,    -- lower-cased, as typed (at most 254 bytes)
	ip           TEXT    NOT NULL,
	failures     INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,    -- start of the counting window
	locked_until INTEGER,
	PRIMARY KEY (email, ip)
) WITHOUT ROWID;

-- Who did what (package audit). Append-only. The actor's name is copied as it
-- was, so the entry stays readable after the user or token is gone; targets
-- are ids, never a subscriber's address (an erasure must not leave one here).
CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	actor_kind TEXT    NOT NULL CHECK (actor_kind IN ('user', 'token', 'cli', 'system')),
	actor_id   INTEGER,               -- users.id or api_tokens.id; no foreign key, the log outlives them
	actor      TEXT    NOT NULL,      -- email or token name at the time
	ip         TEXT    NOT NULL DEFAULT '',
	action     TEXT    NOT NULL,      -- e.g. campaign.start, user.role
	target     TEXT    NOT NULL DEFAULT '', -- e.g. campaign 12
	detail     TEXT    NOT NULL DEFAULT ''
);
