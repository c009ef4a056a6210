-- PostgreSQL form of 0003_delivery.sql (json_extract is SQLite's; the rest as translated).
ALTER TABLE outbox ADD COLUMN user_signal_id BIGINT;
ALTER TABLE outbox ADD COLUMN enqueued_at DOUBLE PRECISION;                        -- unix seconds, wall clock
ALTER TABLE outbox ADD COLUMN attempt_id TEXT;                                     -- set while a send is in flight
ALTER TABLE outbox ADD COLUMN attempt_started_at DOUBLE PRECISION;
ALTER TABLE outbox ADD COLUMN in_doubt BIGINT NOT NULL DEFAULT 0;                  -- re-queued after a stop mid-send
ALTER TABLE outbox ADD COLUMN rate_limited BIGINT NOT NULL DEFAULT 0;              -- 429 answers met
ALTER TABLE outbox ADD COLUMN delivered_as TEXT;                                   -- text, photo or edit
UPDATE outbox SET user_signal_id = (payload::jsonb ->> 'user_signal_id')::bigint WHERE status = 'pending';
CREATE INDEX outbox_by_user ON outbox (user_id, status);

-- A signal's message is a photo (chart + caption) or, without a chart, a text.
ALTER TABLE user_signals ADD COLUMN message_is_photo BIGINT NOT NULL DEFAULT 0;

-- Each signal's chart is uploaded once per language; every other recipient gets Telegram's file_id.
CREATE TABLE signal_charts (
    signal_id   BIGINT NOT NULL REFERENCES signals (id),
    language    TEXT   NOT NULL,
    file_id     TEXT   NOT NULL,
    created_at  TEXT   NOT NULL,
    PRIMARY KEY (signal_id, language)
);
