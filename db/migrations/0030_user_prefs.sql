-- A user's own choices (issue 11): which signals, quiet hours, event messages, what to do with a
-- signal they cannot take, auto-execution. One JSON object, read by core/prefs.py; '{}' is
-- every default.
ALTER TABLE users ADD COLUMN prefs TEXT NOT NULL DEFAULT '{}';
