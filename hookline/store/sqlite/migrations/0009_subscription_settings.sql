-- hookline schema 9: per-subscription settings (issue 15): extra request headers, a rate limit,
-- a retry schedule of its own; and the rate limit's bucket (see hookline/store/rates.py), a row
-- per rate-limited subscription, apart from the subscription's row so that taking a send slot
-- locks nothing else.
ALTER TABLE subscriptions ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';   -- JSON {name: value}
ALTER TABLE subscriptions ADD COLUMN rate_limit INTEGER;                     -- requests per second, NULL: none
ALTER TABLE subscriptions ADD COLUMN retry_schedule TEXT;                    -- JSON [seconds], NULL: the global one

CREATE TABLE rate_buckets (
    subscription_id TEXT PRIMARY KEY,
    next_at         REAL NOT NULL   -- the earliest time the next request may go out
);
