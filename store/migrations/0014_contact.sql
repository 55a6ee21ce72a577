-- One contact policy across campaigns and flows (issue 10): a frequency cap
-- and quiet hours for marketing mail. Owned by package contact.

-- Every marketing mail let through, written in the transaction that claims
-- it (a campaign batch) or queues it (a flow step). The cap counts these
-- rows; rows older than the longest window (7 days in the shop's zone) are
-- pruned daily. Transactional mail and the DOI confirmation are not logged.
CREATE TABLE contact_log (
	-- No foreign key: erasure deletes a subscriber's rows (contact.Eraser),
	-- and deleting a subscriber must not scan this table.
	subscriber_id INTEGER NOT NULL,
	sent_at       INTEGER NOT NULL,
	-- The campaign the mail belongs to; 0 for a flow mail. A campaign
	-- delivery claimed again (a retry, a resume after pause or crash) finds
	-- its own row and is neither held nor counted twice.
	campaign_id   INTEGER NOT NULL DEFAULT 0
);
-- The check of a batch: a range per subscriber, covered (no table reads).
CREATE INDEX contact_log_subscriber ON contact_log (subscriber_id, sent_at, campaign_id);
-- The daily prune.
CREATE INDEX contact_log_sent ON contact_log (sent_at);

-- Per campaign, what happens to a recipient over the cap: skip (the delivery
-- is skipped with reply 'capped', the default), wait (it waits until the cap
-- allows it) or ignore (no cap and no quiet hours; still logged).
ALTER TABLE campaigns ADD COLUMN contact_policy TEXT NOT NULL DEFAULT 'skip'
	CHECK (contact_policy IN ('skip', 'wait', 'ignore'));

-- A campaign's capped count for its stats, without reading skipped rows.
CREATE INDEX deliveries_capped ON deliveries (campaign_id) WHERE status = 'skipped' AND reply = 'capped';
