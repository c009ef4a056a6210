-- Channel mode (issue 11): a press of the channel's link reads the user's card, their signal
-- message as written at fan-out, by its user_signals row; without this index each press scanned
-- the whole outbox (10,000 rows and more after a signal to 10,000 subscribers).
CREATE INDEX outbox_by_user_signal ON outbox (user_signal_id) WHERE user_signal_id IS NOT NULL;
