-- Paid broadcasts (issue 11): the signal pushes sent with allow_paid_broadcast per UTC day,
-- counted before each send (0.1 Star each), so a restart neither resets nor exceeds the
-- day's Stars budget.
CREATE TABLE paid_broadcast_spend (
    day       TEXT    NOT NULL PRIMARY KEY,   -- UTC date, YYYY-MM-DD
    messages  INTEGER NOT NULL DEFAULT 0      -- paid sends counted that day (0.1 Star each)
);
