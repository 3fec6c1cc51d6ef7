-- Retention of raw callback bodies (LIPA_CALLBACK_RETENTION) scans callbacks by age.
CREATE INDEX callbacks_received ON callbacks (received_at);
