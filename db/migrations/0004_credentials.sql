-- Exchange API keys of users who trade live, encrypted at rest (Fernet, ENCRYPTION_KEY).
-- One row per user and exchange; `token` holds the key and the secret together, bound to
-- the user and the exchange inside the encrypted payload.
CREATE TABLE credentials (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    exchange    TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (user_id, exchange)
);
