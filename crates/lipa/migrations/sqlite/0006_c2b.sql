-- C2B: customers paying the paybill or till from the SIM menu or by QR. Payments say how they were paid
-- (`stk`, or `c2b`), the payer's name Daraja gives and the amount actually received.
ALTER TABLE payments ADD COLUMN channel TEXT NOT NULL DEFAULT 'stk';
ALTER TABLE payments ADD COLUMN payer_name TEXT;
ALTER TABLE payments ADD COLUMN paid_amount INTEGER;
CREATE INDEX payments_channel ON payments (channel, seq);

-- Every C2B confirmation as received, committed before it is acknowledged. `trans_id` (Daraja's TransID,
-- the M-Pesa receipt) is unique: a duplicate is acknowledged and changes nothing. A body that could not be
-- read is kept with no trans_id.
CREATE TABLE c2b_transactions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    trans_id      TEXT UNIQUE,
    raw_body      BLOB NOT NULL,
    received_at   INTEGER NOT NULL,
    amount        INTEGER,
    account       TEXT,
    short_code    TEXT,
    msisdn        TEXT,
    payer_name    TEXT,
    payer_phone   TEXT,
    trans_time    TEXT,
    payment_id    TEXT,
    note          TEXT NOT NULL
);
CREATE INDEX c2b_transactions_payment ON c2b_transactions (payment_id, seq);

-- Every C2B validation request as received, with lipa's answer.
CREATE TABLE c2b_validations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    trans_id     TEXT,
    raw_body     BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    result_code  TEXT NOT NULL,
    payment_id   TEXT
);
