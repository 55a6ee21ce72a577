-- PostgreSQL translation of ../0016_counts.sql (rules: 0001_subscribers.sql).
--
-- The counters are kept by plpgsql triggers under SQLite's trigger names.
-- Two differences from SQLite matter here:
--   * Other instances write at the same time (READ COMMITTED). A subscription
--     trigger that decides "active" from its subscriber's status reads that
--     status FOR SHARE: a concurrent change of the subscriber's status waits
--     for it (or it for the change), so neither side counts from a stale row.
--     The subscriber's status trigger runs with the row locked, and its reads
--     of subscriptions see every subscription trigger that went before.
--   * Rows of several counters are locked in key order, so that two writers
--     touching the same counters do not deadlock on each other.
-- subscriber_counts_delete is BEFORE DELETE as on SQLite: ON DELETE CASCADE
-- removes the subscriptions after the subscriber is gone, when their trigger
-- can no longer see that it was active.

ALTER TABLE campaigns ADD COLUMN snapshot_upto BIGINT;
ALTER TABLE campaigns ADD COLUMN snapshot_until BIGINT;

CREATE TABLE subscriber_counts (
	status TEXT   PRIMARY KEY,
	n      BIGINT NOT NULL DEFAULT 0
);
INSERT INTO subscriber_counts (status, n) VALUES ('pending', 0), ('active', 0), ('unsubscribed', 0);
UPDATE subscriber_counts SET n = (SELECT count(*) FROM subscribers s WHERE s.status = subscriber_counts.status);

CREATE TABLE list_counts (
	list_id BIGINT PRIMARY KEY,
	listed  BIGINT NOT NULL DEFAULT 0,
	active  BIGINT NOT NULL DEFAULT 0,
	pending BIGINT NOT NULL DEFAULT 0
);
INSERT INTO list_counts (list_id, listed, active, pending)
SELECT l.id,
	(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'active'),
	(SELECT count(*) FROM subscriptions su JOIN subscribers s ON s.id = su.subscriber_id
		WHERE su.list_id = l.id AND su.status = 'active' AND s.status = 'active'),
	(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'pending')
FROM lists l;

CREATE FUNCTION list_counts_list_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO list_counts (list_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
CREATE TRIGGER list_counts_list_insert AFTER INSERT ON lists
	FOR EACH ROW EXECUTE FUNCTION list_counts_list_insert();

CREATE FUNCTION list_counts_list_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM list_counts WHERE list_id = OLD.id;
	RETURN NULL;
END
$$;
CREATE TRIGGER list_counts_list_delete AFTER DELETE ON lists
	FOR EACH ROW EXECUTE FUNCTION list_counts_list_delete();

-- Adds d to list_counts.active of the lists where subscriber sub has an active
-- subscription, locking those rows in list order first.
CREATE FUNCTION list_counts_add_active(sub bigint, d bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM list_counts
	WHERE list_id IN (SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = sub AND su.status = 'active')
	ORDER BY list_id FOR UPDATE;
	UPDATE list_counts SET active = active + d
	WHERE list_id IN (SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = sub AND su.status = 'active');
END
$$;

CREATE FUNCTION subscriber_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE subscriber_counts SET n = n + 1 WHERE status = NEW.status;
	RETURN NULL;
END
$$;
CREATE TRIGGER subscriber_counts_insert AFTER INSERT ON subscribers
	FOR EACH ROW EXECUTE FUNCTION subscriber_counts_insert();

CREATE FUNCTION subscriber_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
	IF OLD.status = 'active' THEN
		PERFORM list_counts_add_active(OLD.id, -1);
	END IF;
	RETURN OLD;
END
$$;
CREATE TRIGGER subscriber_counts_delete BEFORE DELETE ON subscribers
	FOR EACH ROW EXECUTE FUNCTION subscriber_counts_delete();

CREATE FUNCTION subscriber_counts_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM subscriber_counts WHERE status IN (OLD.status, NEW.status) ORDER BY status FOR UPDATE;
	UPDATE subscriber_counts SET n = n + (CASE WHEN status = NEW.status THEN 1 ELSE -1 END)
	WHERE status IN (OLD.status, NEW.status);
	IF OLD.status = 'active' OR NEW.status = 'active' THEN
		PERFORM list_counts_add_active(NEW.id, CASE WHEN NEW.status = 'active' THEN 1 ELSE -1 END);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER subscriber_counts_status AFTER UPDATE OF status ON subscribers
	FOR EACH ROW WHEN (OLD.status <> NEW.status)
	EXECUTE FUNCTION subscriber_counts_status();

-- What one subscription row adds to its list's counts (sign 1) or takes away
-- (sign -1). The subscriber's status is read FOR SHARE (see the top); a
-- subscriber already deleted (the cascade) reads as not active.
CREATE FUNCTION list_counts_sub_apply(sub bigint, list bigint, st text, sign bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	IF st NOT IN ('active', 'pending') THEN
		RETURN;
	END IF;
	IF st = 'active' THEN
		SELECT status INTO s FROM subscribers WHERE id = sub FOR SHARE;
	END IF;
	UPDATE list_counts SET
		listed  = listed + sign * (st = 'active')::int,
		pending = pending + sign * (st = 'pending')::int,
		active  = active + sign * (st = 'active' AND s IS NOT DISTINCT FROM 'active')::int
	WHERE list_id = list;
END
$$;

CREATE FUNCTION list_counts_sub() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM list_counts_sub_apply(NEW.subscriber_id, NEW.list_id, NEW.status, 1);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM list_counts_sub_apply(OLD.subscriber_id, OLD.list_id, OLD.status, -1);
	ELSIF OLD.list_id <= NEW.list_id THEN -- UPDATE: the lower list first
		PERFORM list_counts_sub_apply(OLD.subscriber_id, OLD.list_id, OLD.status, -1);
		PERFORM list_counts_sub_apply(NEW.subscriber_id, NEW.list_id, NEW.status, 1);
	ELSE
		PERFORM list_counts_sub_apply(NEW.subscriber_id, NEW.list_id, NEW.status, 1);
		PERFORM list_counts_sub_apply(OLD.subscriber_id, OLD.list_id, OLD.status, -1);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER list_counts_sub_insert AFTER INSERT ON subscriptions
	FOR EACH ROW EXECUTE FUNCTION list_counts_sub();
CREATE TRIGGER list_counts_sub_delete AFTER DELETE ON subscriptions
	FOR EACH ROW EXECUTE FUNCTION list_counts_sub();
CREATE TRIGGER list_counts_sub_update AFTER UPDATE OF status, list_id, subscriber_id ON subscriptions
	FOR EACH ROW EXECUTE FUNCTION list_counts_sub();

CREATE INDEX subscribers_name_lower ON subscribers (lower(name));
