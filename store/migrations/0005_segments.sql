-- Segments (owner: segments package): saved rule trees, and an attribute index
-- that lets a rule such as attributes.city eq "Berlin" find its subscribers
-- without parsing a million JSON documents.

CREATE TABLE segments (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	rule       TEXT NOT NULL CHECK (json_valid(rule)), -- the rule tree as the API takes it
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- One row per top-level member of subscribers.attributes, kept by the triggers
-- below; no Go code writes it. An expression index cannot serve keys that are
-- only known at run time, so this inverted index stands in for one.
--   kind:  json_each's type: text, integer, real, true, false, object, array
--          (JSON null is left out, so a row means "the attribute exists").
--   value: the SQL value json_each gives (TEXT, INTEGER, REAL; 1/0 for booleans);
--          '' for objects and arrays, which rules can only test with exists.
-- The primary key spans every column and the inserts are DISTINCT, so a JSON
-- object with a repeated key can never make a subscriber write fail.
CREATE TABLE segment_attrs (
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	key           TEXT NOT NULL,
	kind          TEXT NOT NULL,
	value         NOT NULL,
	PRIMARY KEY (subscriber_id, key, kind, value)
) WITHOUT ROWID;
-- Serves every attribute condition: equality and ranges seek (key, kind, value)
-- and read subscriber_id from the index itself.
CREATE INDEX segment_attrs_lookup ON segment_attrs (key, kind, value);

CREATE TRIGGER segment_attrs_insert AFTER INSERT ON subscribers
WHEN json_type(NEW.attributes) = 'object'
BEGIN
	INSERT INTO segment_attrs (subscriber_id, key, kind, value)
	SELECT DISTINCT NEW.id, j.key, j.type,
	       CASE WHEN j.type IN ('object', 'array') THEN '' ELSE j.value END
	FROM json_each(NEW.attributes) AS j
	WHERE j.type <> 'null';
END;

CREATE TRIGGER segment_attrs_update AFTER UPDATE OF attributes ON subscribers
WHEN NEW.attributes IS NOT OLD.attributes
BEGIN
	DELETE FROM segment_attrs WHERE subscriber_id = NEW.id;
	INSERT INTO segment_attrs (subscriber_id, key, kind, value)
	SELECT DISTINCT NEW.id, j.key, j.type,
	       CASE WHEN j.type IN ('object', 'array') THEN '' ELSE j.value END
	FROM json_each(NEW.attributes) AS j
	WHERE json_type(NEW.attributes) = 'object' AND j.type <> 'null';
END;

-- Subscribers that exist before this migration.
INSERT INTO segment_attrs (subscriber_id, key, kind, value)
SELECT DISTINCT s.id, j.key, j.type,
       CASE WHEN j.type IN ('object', 'array') THEN '' ELSE j.value END
FROM subscribers AS s, json_each(s.attributes) AS j
WHERE json_type(s.attributes) = 'object' AND j.type <> 'null';
