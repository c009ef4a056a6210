-- When the request of an order left for the exchange (after the rate limiter let it go),
-- as opposed to when its intent was stored: the exchange refuses a request older than its
-- receive window, so "not found" becomes final only a receive window after THIS moment.
-- NULL: never sent.
ALTER TABLE orders ADD COLUMN sent_at TEXT;
