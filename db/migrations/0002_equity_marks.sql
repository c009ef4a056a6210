-- Per-user equity marks for the drawdown and daily-loss limits: the highest equity seen
-- and the equity at the first look of each UTC day.
ALTER TABLE users ADD COLUMN peak_equity REAL;
ALTER TABLE users ADD COLUMN day_start_equity REAL;
ALTER TABLE users ADD COLUMN day_start TEXT;
