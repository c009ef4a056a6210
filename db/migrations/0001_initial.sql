-- Users, signals (once each) and their per-user copies, orders, positions,
-- the outbox of messages to deliver, the admin audit trail and a key-value store.
-- Times are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width: string order = time order).

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,          -- Telegram user id (= private chat id)
    language       TEXT    NOT NULL DEFAULT 'en',
    subscribed     INTEGER NOT NULL DEFAULT 1 CHECK (subscribed IN (0, 1)),
    blocked        INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    paper_balance  REAL    NOT NULL,
    risk_pct       REAL,                         -- NULL: the system's risk_per_trade_pct
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE signals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL CHECK (source IN ('engine', 'manual')),
    symbol       TEXT NOT NULL,
    timeframe    TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('long', 'short')),
    entry        REAL NOT NULL,
    stop         REAL NOT NULL,
    tp1          REAL NOT NULL,
    tp2          REAL NOT NULL,
    strength     REAL NOT NULL,
    regime       TEXT,
    atr          REAL,
    candle_time  TEXT NOT NULL,
    meta         TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL
);
-- The engine publishes a given symbol/timeframe/candle at most once, restarts included.
CREATE UNIQUE INDEX signals_engine_once ON signals (symbol, timeframe, candle_time) WHERE source = 'engine';

CREATE TABLE user_signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id   INTEGER NOT NULL REFERENCES signals (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    quantity    REAL    NOT NULL CHECK (quantity > 0),
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'confirmed', 'executed', 'skipped', 'expired', 'rejected')),
    reason      TEXT,
    message_id  INTEGER,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (signal_id, user_id)
);
CREATE INDEX user_signals_by_user ON user_signals (user_id, state);
CREATE INDEX user_signals_pending ON user_signals (state, expires_at);

CREATE TABLE positions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    user_signal_id  INTEGER UNIQUE REFERENCES user_signals (id),  -- one position per signal row
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('long', 'short')),
    entry_price     REAL    NOT NULL,
    initial_quantity REAL   NOT NULL,
    quantity        REAL    NOT NULL,
    stop_price      REAL    NOT NULL,
    initial_stop    REAL    NOT NULL,
    tp1             REAL    NOT NULL,
    tp2             REAL    NOT NULL,
    tp1_done        INTEGER NOT NULL DEFAULT 0,
    highest         REAL    NOT NULL,
    lowest          REAL    NOT NULL,
    atr             REAL,
    realized_pnl    REAL    NOT NULL DEFAULT 0,
    fees            REAL    NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at       TEXT    NOT NULL,
    last_candle_at  TEXT,
    closed_at       TEXT,
    exit_price      REAL,
    exit_reason     TEXT
);
CREATE INDEX positions_by_user ON positions (user_id, status);

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id    TEXT    NOT NULL UNIQUE,
    user_id            INTEGER NOT NULL REFERENCES users (id),
    position_id        INTEGER REFERENCES positions (id),
    purpose            TEXT    NOT NULL,
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type               TEXT    NOT NULL,
    amount             REAL    NOT NULL,
    price              REAL,
    stop_price         REAL,
    reduce_only        INTEGER NOT NULL DEFAULT 0,
    exchange_order_id  TEXT,
    status             TEXT    NOT NULL CHECK (status IN ('submitting', 'open', 'filled', 'canceled', 'rejected', 'unknown')),
    filled             REAL    NOT NULL DEFAULT 0,
    average_price      REAL,
    fee                REAL    NOT NULL DEFAULT 0,
    fee_currency       TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);
CREATE INDEX orders_by_status ON orders (status);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    last_error  TEXT,
    message_id  INTEGER,
    created_at  TEXT    NOT NULL,
    sent_at     TEXT
);
CREATE INDEX outbox_pending ON outbox (status, priority, id);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id    INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT '{}',
    created_at  TEXT    NOT NULL
);

CREATE TABLE kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
