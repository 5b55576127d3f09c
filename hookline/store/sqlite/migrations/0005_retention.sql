-- hookline schema 5: retention (issue 14). The pruner finds what is older than HOOKLINE_RETENTION
-- by when each row last changed: terminal jobs, finished deliveries, callbacks. Each index is
-- small (partial where it can be), so finding a batch never walks a whole table.
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('succeeded', 'failed', 'moderated', 'cancelled');
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
CREATE INDEX callbacks_received ON callbacks (received_at);
