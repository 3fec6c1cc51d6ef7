-- Webhook delivery: who holds an event's lease, the retry state, the give-up marker, and every attempt.
ALTER TABLE events ADD COLUMN lease_owner TEXT;
-- Failed attempts in a row since the event was (re)scheduled: the backoff exponent.
ALTER TABLE events ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
-- When the current retry window began (NULL: when the event was created); redeliver starts a new one.
ALTER TABLE events ADD COLUMN retry_from INTEGER;
-- Set when lipa gave up (the retry window ran out); redeliver clears it.
ALTER TABLE events ADD COLUMN failed_at INTEGER;

CREATE TABLE webhook_attempts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    payment_id  TEXT NOT NULL,
    at          INTEGER NOT NULL,
    url         TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, seq);
