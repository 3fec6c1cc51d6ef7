-- When Daraja accepted the push. The payment row itself is the "push accepted" line of its history, so
-- storing the CheckoutRequestID is one UPDATE (one commit) with no log row beside it.
ALTER TABLE payments ADD COLUMN push_accepted_at INTEGER;
