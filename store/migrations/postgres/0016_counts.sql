-- PostgreSQL translation of ../0016_counts.sql (rules: 0001_subscribers.sql).

ALTER TABLE campaigns ADD COLUMN snapshot_upto BIGINT;
ALTER TABLE campaigns ADD COLUMN snapshot_until BIGINT;

CREATE TABLE subscriber_counts (
	status TEXT PRIMARY KEY,
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

CREATE FUNCTION list_counts_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO list_counts (list_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
		RETURN NEW;
	END IF;
	DELETE FROM list_counts WHERE list_id = OLD.id;
	RETURN OLD;
END
$$;
CREATE TRIGGER list_counts_list_insert AFTER INSERT ON lists FOR EACH ROW EXECUTE FUNCTION list_counts_list();
CREATE TRIGGER list_counts_list_delete AFTER DELETE ON lists FOR EACH ROW EXECUTE FUNCTION list_counts_list();

CREATE FUNCTION subscriber_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		UPDATE subscriber_counts SET n = n + 1 WHERE status = NEW.status;
		RETURN NEW;
	ELSIF TG_OP = 'DELETE' THEN
		UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
		IF OLD.status = 'active' THEN
			UPDATE list_counts SET active = active - 1 WHERE list_id IN
				(SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = OLD.id AND su.status = 'active');
		END IF;
		RETURN OLD;
	END IF;
	UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
	UPDATE subscriber_counts SET n = n + 1 WHERE status = NEW.status;
	IF OLD.status = 'active' OR NEW.status = 'active' THEN
		UPDATE list_counts SET active = active + (CASE WHEN NEW.status = 'active' THEN 1 ELSE -1 END)
		WHERE list_id IN (SELECT su.list_id FROM subscriptions su WHERE su.subscriber_id = NEW.id AND su.status = 'active');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER subscriber_counts_insert AFTER INSERT ON subscribers FOR EACH ROW EXECUTE FUNCTION subscriber_counts_sync();
-- BEFORE: the cascade deletes the subscriptions before AFTER triggers run.
CREATE TRIGGER subscriber_counts_delete BEFORE DELETE ON subscribers FOR EACH ROW EXECUTE FUNCTION subscriber_counts_sync();
CREATE TRIGGER subscriber_counts_status AFTER UPDATE OF status ON subscribers
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION subscriber_counts_sync();

CREATE FUNCTION list_counts_sub() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		UPDATE list_counts SET
			listed  = listed - (OLD.status = 'active')::int,
			pending = pending - (OLD.status = 'pending')::int,
			active  = active - (OLD.status = 'active' AND EXISTS
				(SELECT 1 FROM subscribers s WHERE s.id = OLD.subscriber_id AND s.status = 'active'))::int
		WHERE list_id = OLD.list_id;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		UPDATE list_counts SET
			listed  = listed + (NEW.status = 'active')::int,
			pending = pending + (NEW.status = 'pending')::int,
			active  = active + (NEW.status = 'active' AND EXISTS
				(SELECT 1 FROM subscribers s WHERE s.id = NEW.subscriber_id AND s.status = 'active'))::int
		WHERE list_id = NEW.list_id;
		RETURN NEW;
	END IF;
	RETURN OLD;
END
$$;
CREATE TRIGGER list_counts_sub_insert AFTER INSERT ON subscriptions FOR EACH ROW EXECUTE FUNCTION list_counts_sub();
CREATE TRIGGER list_counts_sub_delete AFTER DELETE ON subscriptions FOR EACH ROW EXECUTE FUNCTION list_counts_sub();
CREATE TRIGGER list_counts_sub_update AFTER UPDATE OF status, list_id, subscriber_id ON subscriptions
	FOR EACH ROW EXECUTE FUNCTION list_counts_sub();

CREATE INDEX subscribers_name_lower ON subscribers (lower(name));
