-- hookline schema 7: paused subscriptions (issue 14). A paused subscription keeps getting deliveries
-- queued, but they are held (next_attempt_at NULL, as behind a chain's head) until it is resumed,
-- so the dispatchers' claims never see them. (Versions 5 and 6 belong to other features.)
ALTER TABLE subscriptions ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
-- Failed attempts in a row, reset by a success: 4 make the subscription "failing" (operational events).
ALTER TABLE subscriptions ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
