-- Transactional mail (package txmail): the named templates a shop sends one
-- mail at a time through POST /api/tx (an order problem, a delivery delay).
-- The mails themselves are rows of mail_queue with kind 'tx'; the data a
-- request carries is rendered into that row and never stored on its own.

CREATE TABLE tx_templates (
	slug       TEXT    PRIMARY KEY,            -- what POST /api/tx names in "template"
	name       TEXT    NOT NULL,
	-- {"de": {"subject", "markdown"}, "en": {...}}: one or both locales, each
	-- compiled by package templates before it is saved.
	locales    TEXT    NOT NULL CHECK (json_valid(locales)),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
