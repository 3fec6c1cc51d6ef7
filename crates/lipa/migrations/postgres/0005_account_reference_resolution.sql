-- The merchant's reference is kept whole (up to 64 characters). What Daraja gets as AccountReference — and
-- a customer types as the paybill account number — is derived from it (at most LIPA_REFERENCE_MAX_LEN
-- characters) and is unique among open (pending) payments, case-insensitively.
ALTER TABLE payments ADD COLUMN account_reference TEXT;
-- Payments written before this kept only the (already shortened) reference: it is their account reference,
-- except for a pending payment that shares it with an older pending one (possible with LIPA_PENDING_GUARD=off),
-- which keeps NULL and is shown with its reference.
UPDATE payments SET account_reference = reference
WHERE status <> 'pending'
   OR NOT EXISTS (SELECT 1 FROM payments o
                  WHERE o.status = 'pending' AND UPPER(o.reference) = UPPER(payments.reference) AND o.seq < payments.seq);
CREATE UNIQUE INDEX payments_open_account_reference ON payments (UPPER(account_reference)) WHERE status = 'pending';

-- An operator's resolution of a payment under review: the status chosen, by whom, when and why. A payment
-- resolved as failed loses its receipt from its fields (the raw callbacks and the history keep it); the
-- receipt it dismissed is kept here so the same success reported again is not taken for news.
ALTER TABLE payments ADD COLUMN resolution_outcome TEXT;
ALTER TABLE payments ADD COLUMN resolved_by TEXT;
ALTER TABLE payments ADD COLUMN resolved_at BIGINT;
ALTER TABLE payments ADD COLUMN resolution_note TEXT;
ALTER TABLE payments ADD COLUMN dismissed_receipt TEXT;

-- Finding payments by the account reference an M-Pesa statement shows (GET /v1/payments?account_reference=).
CREATE INDEX payments_account_reference ON payments (UPPER(account_reference), seq);
