-- The public track record (issue 9, section 5): every published signal is followed to its
-- outcome by a shadow paper position of one unit that belongs to no user, under the same exit
-- rules and fill model as paper trading. `playbook` is the signal's playbook ('admin' for a
-- manual signal). R and the return are written once, when the shadow closes.
CREATE TABLE shadow_positions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id       INTEGER NOT NULL UNIQUE REFERENCES signals (id),
    playbook        TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    entry_price     REAL    NOT NULL,                 -- the fill model's entry fill
    quantity        REAL    NOT NULL,                 -- what is still open of the one unit
    stop_price      REAL    NOT NULL,
    initial_stop    REAL    NOT NULL,
    tp1             REAL    NOT NULL,
    tp2             REAL    NOT NULL,
    tp1_done        INTEGER NOT NULL DEFAULT 0 CHECK (tp1_done IN (0, 1)),
    highest         REAL    NOT NULL,
    lowest          REAL    NOT NULL,
    atr             REAL,
    realized_pnl    REAL    NOT NULL DEFAULT 0,       -- gross, per unit
    fees            REAL    NOT NULL DEFAULT 0,       -- entry and exits, per unit
    status          TEXT    NOT NULL CHECK (status IN ('open', 'closed', 'void')),
    published_at    TEXT    NOT NULL,                 -- the signal's created_at
    last_candle_at  TEXT,                             -- open time of the last candle applied
    closed_at       TEXT,                             -- close time of the exit candle
    exit_price      REAL,
    exit_reason     TEXT,
    r_multiple      REAL,                             -- net P&L over the entry's distance to the stop
    return_pct      REAL                              -- net P&L, % of the entry notional
);
CREATE INDEX shadow_positions_open ON shadow_positions (status);
CREATE INDEX shadow_positions_by_playbook ON shadow_positions (playbook, status, closed_at);

-- A playbook whose rolling record fell below the admins' bound is on probation until it recovers.
CREATE TABLE playbook_probation (
    playbook      TEXT    PRIMARY KEY,
    on_probation  INTEGER NOT NULL CHECK (on_probation IN (0, 1)),
    since         TEXT,
    avg_r         REAL,
    trades        INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT    NOT NULL
);
