-- Always-lawful mail and data protection (issue 11).

-- A campaign may hand out one coupon code per recipient (package coupons owns
-- the codes). The code given is kept on the delivery, so a send resumed after
-- a crash mails the same code, never a second one.
ALTER TABLE campaigns ADD COLUMN coupon_pool TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN coupon TEXT;

-- An SMTP reply may quote the address ("550 <kim@example.com>: no such user");
-- erasing a subscriber clears their replies without scanning every delivery.
CREATE INDEX deliveries_reply ON deliveries (subscriber_id) WHERE reply IS NOT NULL;

-- Erasure also finds mail to the address that is linked to no subscriber
-- (a transactional mail before they subscribed), and retention prunes the
-- outbox and sent mail by age.
CREATE INDEX mail_queue_recipient ON mail_queue (recipient COLLATE NOCASE);
CREATE INDEX mail_queue_sent ON mail_queue (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_recipient_nocase ON outbox (recipient COLLATE NOCASE);

-- Private lists are for the shop's own use (imports, VIPs): the public
-- sign-up form and the preference page offer public lists only.
ALTER TABLE lists ADD COLUMN public INTEGER NOT NULL DEFAULT 1 CHECK (public IN (0, 1));
