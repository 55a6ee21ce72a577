-- Flows become general (package flows): a flow has a name, a trigger, typed
-- steps, exit conditions and entry settings. The three built-in flows stay
-- rows of the same table with their slugs, runs and sends; they become
-- instances of the general model with the triggers they always had.

ALTER TABLE flows ADD COLUMN name TEXT NOT NULL DEFAULT '';
-- What starts a run: confirmed (a subscriber became active), event (a shop
-- event of type trigger_arg), stage (the ladder stage trigger_arg entered),
-- date (the date attribute trigger_arg, once a year), segment (entered the
-- segment in segment_id), cart (a cart abandoned), schedule (cron, offers).
ALTER TABLE flows ADD COLUMN trigger_kind TEXT NOT NULL DEFAULT 'confirmed'
	CHECK (trigger_kind IN ('confirmed', 'event', 'stage', 'date', 'segment', 'cart', 'schedule'));
ALTER TABLE flows ADD COLUMN trigger_arg TEXT NOT NULL DEFAULT '';
-- Exits, checked as a run advances: an order placed after entry, a change
-- of the ladder stage after entry (an unsubscribe always ends a run).
ALTER TABLE flows ADD COLUMN exit_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN exit_stage INTEGER NOT NULL DEFAULT 0;
-- Entry settings: once per person ever, and a cool-down in seconds during
-- which a person who entered the flow does not enter it again.
ALTER TABLE flows ADD COLUMN once_per_person INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN cooldown INTEGER NOT NULL DEFAULT 0;
-- The ready-made flows cannot be deleted or change their trigger.
ALTER TABLE flows ADD COLUMN builtin INTEGER NOT NULL DEFAULT 0;

UPDATE flows SET builtin = 1, name = 'Welcome', trigger_kind = 'confirmed', once_per_person = 1 WHERE slug = 'welcome';
UPDATE flows SET builtin = 1, name = 'Cart abandonment', trigger_kind = 'cart' WHERE slug = 'cart-abandonment';
UPDATE flows SET builtin = 1, name = 'Offers', trigger_kind = 'schedule' WHERE slug = 'offers';

-- The hooks (an event stored, a stage entered) look up the enabled flows of
-- their trigger in the transaction that stores the event or the change.
CREATE INDEX flows_trigger ON flows (trigger_kind, trigger_arg) WHERE enabled = 1;

-- The triggering event's JSON (the shop event, the stage change), for
-- {{ .Event.order.id }} in the flow's mails; NULL for other triggers.
ALTER TABLE flow_runs ADD COLUMN event TEXT CHECK (event IS NULL OR json_valid(event));
-- A code assigned by a coupon step, printed by later send steps as {{ .Coupon }}.
ALTER TABLE flow_runs ADD COLUMN coupon TEXT NOT NULL DEFAULT '';

-- Segment-entered flows: who was in the segment at the last check, so the
-- next check enters exactly those who joined since.
CREATE TABLE flow_segment_members (
	flow          TEXT    NOT NULL REFERENCES flows (slug) ON DELETE CASCADE,
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	PRIMARY KEY (flow, subscriber_id)
) WITHOUT ROWID;
