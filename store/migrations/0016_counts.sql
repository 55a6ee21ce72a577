-- Chunked campaign start (package campaigns, snapshot.go): a start marks the
-- campaign running at once and copies its audience into deliveries in short
-- write transactions, so the writer is never held for the whole audience.
-- snapshot_upto: the highest subscriber id at the start while the copy is
-- under way (NULL once the audience is complete); nobody enrolled after the
-- start is taken. snapshot_until: the lease of the process copying it; after
-- a crash another process (Tick) takes the copy over once it has run out.
ALTER TABLE campaigns ADD COLUMN snapshot_upto INTEGER;
ALTER TABLE campaigns ADD COLUMN snapshot_until INTEGER;

-- Counts the marketer's pages show, kept by triggers so a page reads a few
-- rows instead of counting a million (package subscribers owns both tables,
-- counts.go reads them). Every write path, imports and erasure included,
-- keeps them right because the database does it.

-- Subscribers per status.
CREATE TABLE subscriber_counts (
	status TEXT PRIMARY KEY,
	n      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO subscriber_counts (status, n) VALUES ('pending', 0), ('active', 0), ('unsubscribed', 0);
UPDATE subscriber_counts SET n = (SELECT count(*) FROM subscribers s WHERE s.status = subscriber_counts.status);

-- Per list: listed = active subscriptions; active = active subscriptions of
-- active subscribers; pending = subscriptions waiting for confirmation.
-- No foreign key: a list's row goes with the list (trigger below).
CREATE TABLE list_counts (
	list_id INTEGER PRIMARY KEY,
	listed  INTEGER NOT NULL DEFAULT 0,
	active  INTEGER NOT NULL DEFAULT 0,
	pending INTEGER NOT NULL DEFAULT 0
);
INSERT INTO list_counts (list_id, listed, active, pending)
SELECT l.id,
	(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'active'),
	(SELECT count(*) FROM subscriptions su JOIN subscribers s ON s.id = su.subscriber_id
		WHERE su.list_id = l.id AND su.status = 'active' AND s.status = 'active'),
	(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'pending')
FROM lists l;

CREATE TRIGGER list_counts_list_insert AFTER INSERT ON lists BEGIN
	INSERT OR IGNORE INTO list_counts (list_id) VALUES (new.id);
END;
CREATE TRIGGER list_counts_list_delete AFTER DELETE ON lists BEGIN
	DELETE FROM list_counts WHERE list_id = old.id;
END;

CREATE TRIGGER subscriber_counts_insert AFTER INSERT ON subscribers BEGIN
	UPDATE subscriber_counts SET n = n + 1 WHERE status = new.status;
END;
-- BEFORE: the cascade deletes the subscriptions after the row is gone, when
-- their trigger can no longer see that the subscriber was active.
CREATE TRIGGER subscriber_counts_delete BEFORE DELETE ON subscribers BEGIN
	UPDATE subscriber_counts SET n = n - 1 WHERE status = old.status;
	UPDATE list_counts SET active = active - 1
	WHERE old.status = 'active' AND list_id IN
		(SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = old.id AND su.status = 'active');
END;
CREATE TRIGGER subscriber_counts_status AFTER UPDATE OF status ON subscribers
WHEN old.status <> new.status BEGIN
	UPDATE subscriber_counts SET n = n - 1 WHERE status = old.status;
	UPDATE subscriber_counts SET n = n + 1 WHERE status = new.status;
	UPDATE list_counts SET active = active + (CASE WHEN new.status = 'active' THEN 1 ELSE -1 END)
	WHERE (old.status = 'active' OR new.status = 'active') AND list_id IN
		(SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = new.id AND su.status = 'active');
END;

CREATE TRIGGER list_counts_sub_insert AFTER INSERT ON subscriptions BEGIN
	UPDATE list_counts SET
		listed  = listed + (new.status = 'active'),
		pending = pending + (new.status = 'pending'),
		active  = active + (new.status = 'active' AND EXISTS
			(SELECT 1 FROM subscribers s WHERE s.id = new.subscriber_id AND s.status = 'active'))
	WHERE list_id = new.list_id;
END;
CREATE TRIGGER list_counts_sub_delete AFTER DELETE ON subscriptions BEGIN
	UPDATE list_counts SET
		listed  = listed - (old.status = 'active'),
		pending = pending - (old.status = 'pending'),
		active  = active - (old.status = 'active' AND EXISTS
			(SELECT 1 FROM subscribers s WHERE s.id = old.subscriber_id AND s.status = 'active'))
	WHERE list_id = old.list_id;
END;
CREATE TRIGGER list_counts_sub_update AFTER UPDATE OF status, list_id, subscriber_id ON subscriptions BEGIN
	UPDATE list_counts SET
		listed  = listed - (old.status = 'active'),
		pending = pending - (old.status = 'pending'),
		active  = active - (old.status = 'active' AND EXISTS
			(SELECT 1 FROM subscribers s WHERE s.id = old.subscriber_id AND s.status = 'active'))
	WHERE list_id = old.list_id;
	UPDATE list_counts SET
		listed  = listed + (new.status = 'active'),
		pending = pending + (new.status = 'pending'),
		active  = active + (new.status = 'active' AND EXISTS
			(SELECT 1 FROM subscribers s WHERE s.id = new.subscriber_id AND s.status = 'active'))
	WHERE list_id = new.list_id;
END;

-- Subscriber search by name prefix, case-insensitive like the address's
-- email_key (UNIQUE, so already indexed).
CREATE INDEX subscribers_name_lower ON subscribers (lower(name));
