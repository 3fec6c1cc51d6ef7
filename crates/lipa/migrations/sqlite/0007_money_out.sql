-- Money out: payouts (B2C) and refunds (Transaction Reversal, or B2C back to the payer), one row each.
-- The row is committed before anything is sent to Daraja; its id (po_…/re_…) is the OriginatorConversationID
-- of a B2C v3 request, so sending it again can never pay twice (Daraja refuses the duplicate).
CREATE TABLE money_out (
    seq                        INTEGER PRIMARY KEY AUTOINCREMENT,
    id                         TEXT NOT NULL UNIQUE,
    object                     TEXT NOT NULL,
    status                     TEXT NOT NULL,
    amount                     INTEGER NOT NULL,
    phone                      TEXT,
    kind                       TEXT NOT NULL,
    method                     TEXT NOT NULL,
    remarks                    TEXT NOT NULL,
    metadata                   TEXT NOT NULL,
    payment_id                 TEXT,
    original_receipt           TEXT,
    send_state                 TEXT NOT NULL,
    callback_secret            TEXT NOT NULL UNIQUE,
    query_secret               TEXT NOT NULL UNIQUE,
    originator_conversation_id TEXT,
    conversation_id            TEXT,
    mpesa_receipt              TEXT,
    recipient_name             TEXT,
    result_code                TEXT,
    result_desc                TEXT,
    failure_reason             TEXT,
    review_reason              TEXT,
    api_key_id                 TEXT,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    completed_at               INTEGER,
    check_attempts             INTEGER NOT NULL DEFAULT 0,
    next_check_at              INTEGER,
    lease_until                INTEGER
);
CREATE INDEX money_out_due ON money_out (next_check_at) WHERE status = 'pending';
CREATE INDEX money_out_list ON money_out (object, seq);
CREATE INDEX money_out_status ON money_out (object, status, seq);
CREATE INDEX money_out_phone ON money_out (object, phone, seq);
CREATE INDEX money_out_payment ON money_out (payment_id, seq);

-- Idempotency-Key of POST /v1/payouts and POST /v1/payments/{id}/refunds, enforced by the primary key.
CREATE TABLE money_out_idempotency (
    key_id       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (key_id, idem_key)
);

-- Every result, queue-timeout notice and Transaction Status answer as received, committed before Daraja
-- gets its acknowledgement. object_id is NULL when the URL's secret named nothing (the body is cut short).
CREATE TABLE money_out_results (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id   TEXT,
    path        TEXT NOT NULL,
    raw_body    BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX money_out_results_object ON money_out_results (object_id, seq);

-- Account Balance queries: GET /v1/balance waits for the result of its own query (any instance may receive it).
CREATE TABLE balance_reads (
    secret       TEXT PRIMARY KEY,
    requested_at INTEGER NOT NULL,
    raw_body     BLOB,
    received_at  INTEGER
);

-- What the succeeded refunds of a payment gave back, whole KES.
ALTER TABLE payments ADD COLUMN refunded_amount INTEGER NOT NULL DEFAULT 0;
