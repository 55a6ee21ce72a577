-- Opens, clicks and what they earned (issue 9). Owned by package tracking,
-- except the two columns added to other packages' tables, which their owners
-- read and write: subscribers.tracking (package subscribers) and
-- campaigns.utm (package campaigns).

-- Per-person opens and clicks need their own consent (TDDDG § 25), given and
-- withdrawn apart from the newsletter's and logged in consents like it.
ALTER TABLE subscribers ADD COLUMN tracking INTEGER NOT NULL DEFAULT 0 CHECK (tracking IN (0, 1));

-- 0: the campaign's links get no UTM parameters.
ALTER TABLE campaigns ADD COLUMN utm INTEGER NOT NULL DEFAULT 1 CHECK (utm IN (0, 1));

-- One row per distinct link of a mail. A mail is named by text: 'campaign:ID'
-- or 'flow:SLUG:STEP'. The id is derived from (mail, url) by a keyed hash,
-- so a link is registered idempotently, even inside another package's
-- transaction, and a token decrypted to a random id finds nothing.
CREATE TABLE links (
	id         INTEGER PRIMARY KEY,
	mail       TEXT    NOT NULL,
	url        TEXT    NOT NULL, -- as written in the mail; '' is the mail's open pixel
	target     TEXT    NOT NULL, -- where /l/ redirects: url with the UTM parameters
	created_at INTEGER NOT NULL
);
CREATE INDEX links_mail ON links (mail);

-- One row per click. subscriber_id only with tracking consent; without it a
-- click counts for its link and nobody.
CREATE TABLE clicks (
	id            INTEGER PRIMARY KEY,
	link_id       INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
	mail          TEXT    NOT NULL,
	-- An erased person's clicks stay, anonymous: the link's figures do not shrink.
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	machine       INTEGER NOT NULL DEFAULT 0, -- a link scanner, not a person
	sent_at       INTEGER,                    -- when the mail was rendered (tracked clicks only)
	at            INTEGER NOT NULL
);
CREATE INDEX clicks_link ON clicks (link_id, machine);
CREATE INDEX clicks_mail ON clicks (mail, at);
CREATE INDEX clicks_subscriber ON clicks (subscriber_id, at);

-- Open-pixel fetches: only of subscribers with tracking consent.
CREATE TABLE opens (
	id            INTEGER PRIMARY KEY,
	mail          TEXT    NOT NULL,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL, -- NULL once erased
	machine       INTEGER NOT NULL DEFAULT 0, -- a mail client's proxy prefetch (Apple MPP)
	sent_at       INTEGER NOT NULL,
	at            INTEGER NOT NULL
);
CREATE INDEX opens_mail ON opens (mail, at);
CREATE INDEX opens_subscriber ON opens (subscriber_id, at);

-- An order credited to a mail, once per order (order_id from shop_orders).
CREATE TABLE conversions (
	order_id      TEXT    PRIMARY KEY,
	mail          TEXT    NOT NULL,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	via           TEXT    NOT NULL CHECK (via IN ('click', 'open', 'attribution')),
	currency      TEXT    NOT NULL,
	total         REAL    NOT NULL,
	at            INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX conversions_mail ON conversions (mail);
CREATE INDEX conversions_subscriber ON conversions (subscriber_id);

-- An unsubscribe through a mail's link, counted for that mail once per person.
CREATE TABLE unsubscribes (
	mail          TEXT    NOT NULL,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	at            INTEGER NOT NULL,
	PRIMARY KEY (mail, subscriber_id)
) WITHOUT ROWID;
-- Erasing a subscriber finds their rows without scanning every mail's.
CREATE INDEX unsubscribes_subscriber ON unsubscribes (subscriber_id);
