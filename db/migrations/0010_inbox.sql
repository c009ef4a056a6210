-- Updates from Telegram, stored before Telegram is told they were received (the next
-- getUpdates offset), so that a crash between receiving and handling loses none: at start
-- every update not done yet is handled again (bot/intake.py).
CREATE TABLE inbox (
    update_id   INTEGER PRIMARY KEY,        -- Telegram's update id
    payload     TEXT    NOT NULL,           -- the update as Telegram sent it (JSON)
    received_at REAL    NOT NULL,           -- unix seconds, wall clock
    done_at     REAL                        -- handled (or dropped on purpose); NULL: not yet
);
CREATE INDEX inbox_not_done ON inbox (update_id) WHERE done_at IS NULL;
