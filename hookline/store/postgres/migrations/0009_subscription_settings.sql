-- hookline schema 9 on PostgreSQL: per-subscription settings (issue 15): extra request headers, a
-- rate limit, a retry schedule of its own; and the rate limit's bucket (see
-- hookline/store/rates.py), a row per rate-limited subscription, apart from the subscription's row
-- so that taking a send slot (a row lock held for one short transaction by whichever dispatcher
-- process takes it) locks nothing else.
ALTER TABLE subscriptions ADD COLUMN headers json NOT NULL DEFAULT '{}';   -- {name: value}
ALTER TABLE subscriptions ADD COLUMN rate_limit integer;                     -- requests per second, NULL: none
ALTER TABLE subscriptions ADD COLUMN retry_schedule json;                    -- [seconds], NULL: the global one

CREATE TABLE rate_buckets (
    subscription_id text COLLATE "C" PRIMARY KEY,
    next_at         double precision NOT NULL   -- the earliest time the next request may go out
);
