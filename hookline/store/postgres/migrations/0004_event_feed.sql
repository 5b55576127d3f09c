-- hookline schema 4 on PostgreSQL: the event feed (GET /v1/events) follows commit order.
-- (Version 3 is the dashboard sessions' table; a version may be missing: each is applied once.)
--
-- Event ids are made by each process before its transaction commits, so with several processes
-- (or one slow transaction) an event can commit after an event with a larger id, and a follower
-- paging by id would skip it. Each event keeps the id of the transaction that inserted it; the
-- feed orders by (xact, id) and returns only events whose transaction is older than the oldest
-- transaction of this database still in flight: every event committed later has a transaction id
-- at least that large, so it sorts after anything a follower has already read (FEED_* in
-- hookline/store/postgres/sql.py). xid8 is 64-bit: it does not wrap around.
ALTER TABLE events ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_feed ON events (xact, id);
