-- Limit entries (issue 11): a user may take a signal with a limit order at its entry, valid
-- until the signal expires. The row is claimed pending -> confirmed together with this
-- record, in one transaction; while the row stays confirmed the order is working (paper: the
-- monitor watches the price; live: it rests on the exchange as atra-us<row>-entry). Its fill
-- makes the row executed, its expiry or cancellation ends it; this record stays as it was.
CREATE TABLE limit_entries (
    user_signal_id  INTEGER NOT NULL PRIMARY KEY REFERENCES user_signals (id),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    price           REAL    NOT NULL CHECK (price > 0),
    quantity        REAL    NOT NULL CHECK (quantity > 0),   -- sized for `price`: the configured risk
    placed_at       TEXT    NOT NULL
);
