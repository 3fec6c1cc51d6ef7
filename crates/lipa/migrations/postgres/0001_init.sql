-- Payments: one row per payment. `seq` orders lists (newest first) and makes cursors stable.
CREATE TABLE payments (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    phone               TEXT,
    reference           TEXT NOT NULL,
    description         TEXT NOT NULL,
    metadata            TEXT NOT NULL,
    return_url          TEXT,
    checkout_request_id TEXT UNIQUE,
    merchant_request_id TEXT,
    mpesa_receipt       TEXT,
    result_code         TEXT,
    result_desc         TEXT,
    failure_reason      TEXT,
    review_reason       TEXT,
    push_state          TEXT NOT NULL,
    callback_secret     TEXT NOT NULL UNIQUE,
    pending_guard       TEXT,
    api_key_id          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    check_attempts      BIGINT NOT NULL DEFAULT 0,
    next_check_at       BIGINT,
    lease_until         BIGINT
);
-- The guard against double prompts: at most one pending payment per reference (NULL = guard off).
CREATE UNIQUE INDEX payments_pending_guard ON payments (pending_guard) WHERE status = 'pending';
CREATE INDEX payments_due ON payments (next_check_at) WHERE status = 'pending';
CREATE INDEX payments_status ON payments (status, seq);
CREATE INDEX payments_reference ON payments (reference, seq);
CREATE INDEX payments_phone ON payments (phone, seq);

CREATE TABLE idempotency_keys (
    key_id       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    payment_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (key_id, idem_key)
);

-- Every callback body as received, kept whatever it says.
CREATE TABLE callbacks (
    seq         BIGSERIAL PRIMARY KEY,
    payment_id  TEXT,
    raw_body    BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX callbacks_payment ON callbacks (payment_id, seq);

-- The outbox: one row per status change, written in the same transaction as the change.
CREATE TABLE events (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    payment_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    data            TEXT NOT NULL,
    delivered_at    BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT
);
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_payment ON events (payment_id, seq);
CREATE INDEX events_due ON events (next_attempt_at) WHERE delivered_at IS NULL;

-- A payment's history: push, callbacks, queries, events, webhook attempts.
CREATE TABLE payment_log (
    seq        BIGSERIAL PRIMARY KEY,
    payment_id TEXT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX payment_log_payment ON payment_log (payment_id, seq);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Small shared values with an optional lease: the Daraja token, locks.
CREATE TABLE kv (
    k           TEXT PRIMARY KEY,
    v           TEXT NOT NULL,
    expires_at  BIGINT,
    lease_owner TEXT,
    lease_until BIGINT
);
