-- link.clicked webhooks (issue 9) and per-step flow figures.

-- A delivery that may still be withdrawn names what it is about (owner:
-- package webhooks). A click is held back for the scanner window: when the
-- clicker then turns out to be a link scanner, its click.ID deliveries are
-- dropped before they go out. NULL for every other event.
ALTER TABLE webhook_deliveries ADD COLUMN ref TEXT;
CREATE INDEX webhook_deliveries_ref ON webhook_deliveries (ref) WHERE ref IS NOT NULL;

-- A flow's bounces and complaints, for its per-step figures (owner: package
-- feedback; flow is '' for campaign and transactional mails).
CREATE INDEX bounces_flow ON bounces (flow, mail_id) WHERE flow <> '';
