-- Delivery (issue 6).
-- outbox: a send in flight is marked before the Bot API call (attempt_id), so a crash leaves
-- it recognisable as "in doubt" rather than lost or silently repeated; the row names its
-- user signal (its chart, its message); wall-clock enqueue time for end-to-end latency.
ALTER TABLE outbox ADD COLUMN user_signal_id INTEGER;
ALTER TABLE outbox ADD COLUMN enqueued_at REAL;                        -- unix seconds, wall clock
ALTER TABLE outbox ADD COLUMN attempt_id TEXT;                         -- set while a send is in flight
ALTER TABLE outbox ADD COLUMN attempt_started_at REAL;
ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;     -- re-queued after a stop mid-send
ALTER TABLE outbox ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0; -- 429 answers met
ALTER TABLE outbox ADD COLUMN delivered_as TEXT;                       -- text, photo or edit
UPDATE outbox SET user_signal_id = json_extract(payload, '$.user_signal_id') WHERE status = 'pending';
CREATE INDEX outbox_by_user ON outbox (user_id, status);

-- A signal's message is a photo (chart + caption) or, without a chart, a text.
ALTER TABLE user_signals ADD COLUMN message_is_photo INTEGER NOT NULL DEFAULT 0;

-- Each signal's chart is uploaded once per language; every other recipient gets Telegram's file_id.
CREATE TABLE signal_charts (
    signal_id   INTEGER NOT NULL REFERENCES signals (id),
    language    TEXT    NOT NULL,
    file_id     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (signal_id, language)
);
