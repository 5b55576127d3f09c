-- hookline schema 10: an attempt whose delivery is gone is not recorded.
--
-- A delivery erased with its job (DELETE /v1/jobs/...) while a dispatcher was sending it used to
-- get its attempt row when the send finished: a row without its delivery, which neither erasure
-- nor retention would ever find again. hookline_complete is the one of schema 7 but for the
-- attempts it inserts: only those whose delivery still exists (SQLite: insert_attempts).

CREATE OR REPLACE FUNCTION hookline_complete(
    a_id text[], a_delivery_id text[], a_attempted_at double precision[], a_status_code integer[],
    a_latency_ms double precision[], a_error text[], a_response_body text[],
    c_id text[], c_owner text[], c_status text[], c_next_attempt_at double precision[], c_code integer[],
    c_error text[], c_now double precision[], c_delivered_at double precision[],
    p_succeeded text[], p_succeeded_at double precision[], p_resolution double precision)
RETURNS TABLE (id text, subscription_id text, job_id text, status text, failing_since double precision,
               last_success_at double precision, consecutive_failures integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids text[];
    v_subs text[];
    v_jobs text[];
    v_statuses text[];
    v_failing double precision[];
    v_success double precision[];
    v_failures integer[];
    v_promoted integer;
BEGIN
    PERFORM 1 FROM jobs j
     WHERE j.id IN (SELECT d.job_id FROM deliveries d JOIN unnest(c_id, c_status) AS u(id, status) ON d.id = u.id
                     WHERE u.status <> 'pending')
     ORDER BY j.id FOR UPDATE;
    WITH attempt AS (
        INSERT INTO attempts (id, delivery_id, attempted_at, status_code, latency_ms, error, response_body)
        SELECT a.* FROM unnest(a_id, a_delivery_id, a_attempted_at, a_status_code, a_latency_ms, a_error, a_response_body)
                AS a(id, delivery_id, attempted_at, status_code, latency_ms, error, response_body)
         WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)
    ), finished AS (
        UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1,
               next_attempt_at = CASE WHEN s.enabled AND NOT s.paused THEN u.next_attempt_at END,
               lease_until = NULL, lease_owner = NULL, last_status_code = u.code, last_error = u.error,
               updated_at = u.now, delivered_at = coalesce(u.delivered_at, d.delivered_at)
          FROM unnest(c_id, c_owner, c_status, c_next_attempt_at, c_code, c_error, c_now, c_delivered_at)
               AS u(id, owner, status, next_attempt_at, code, error, now, delivered_at),
               subscriptions s
         WHERE d.id = u.id AND d.lease_owner = u.owner AND s.id = d.subscription_id
        RETURNING d.id, d.subscription_id, d.job_id, d.status, s.failing_since, s.last_success_at,
                  s.consecutive_failures
    )
    SELECT array_agg(f.id), array_agg(f.subscription_id), array_agg(f.job_id), array_agg(f.status),
           array_agg(f.failing_since), array_agg(f.last_success_at), array_agg(f.consecutive_failures)
      INTO v_ids, v_subs, v_jobs, v_statuses, v_failing, v_success, v_failures
      FROM finished f;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    -- The next waiting delivery of each finished chain becomes due, unless the chain still has a
    -- head (retried by an operator) or the subscription is disabled.
    UPDATE deliveries SET next_attempt_at = (SELECT max(x) FROM unnest(c_now) AS x)
     WHERE deliveries.id IN (
        SELECT w.id
          FROM (SELECT DISTINCT f.sub, f.job FROM unnest(v_subs, v_jobs, v_statuses) AS f(sub, job, status)
                 WHERE f.status <> 'pending') c
         CROSS JOIN LATERAL (
               SELECT n.id FROM deliveries n
                WHERE n.subscription_id = c.sub AND n.job_id = c.job AND n.status = 'pending'
                  AND n.next_attempt_at IS NULL
                ORDER BY n.n LIMIT 1) w
         WHERE NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.subscription_id = c.sub AND h.job_id = c.job
                              AND h.status = 'pending' AND h.next_attempt_at IS NOT NULL)
           AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = c.sub AND s.enabled AND NOT s.paused));
    GET DIAGNOSTICS v_promoted = ROW_COUNT;
    IF v_promoted > 0 THEN
        PERFORM pg_notify('hookline_deliveries', '');
    END IF;
    -- Successes clear failing_since at once; last_success_at is refreshed at most once per
    -- p_resolution seconds, so a busy healthy subscription's row is not written (and locked) by
    -- every batch of every dispatcher. Rows are locked in id order.
    PERFORM 1 FROM subscriptions s JOIN unnest(p_succeeded, p_succeeded_at) AS u(id, at) ON s.id = u.id
     WHERE u.id = ANY (v_subs)
       AND (s.failing_since IS NOT NULL OR s.last_success_at IS NULL OR s.last_success_at < u.at - p_resolution)
     ORDER BY s.id FOR UPDATE OF s;
    UPDATE subscriptions s SET last_success_at = u.at, failing_since = NULL,
           consecutive_failures = CASE WHEN s.consecutive_failures >= 4 THEN s.consecutive_failures ELSE 0 END
      FROM unnest(p_succeeded, p_succeeded_at) AS u(id, at)
     WHERE s.id = u.id AND u.id = ANY (v_subs)
       AND (s.failing_since IS NOT NULL OR s.last_success_at IS NULL OR s.last_success_at < u.at - p_resolution);
    RETURN QUERY SELECT * FROM unnest(v_ids, v_subs, v_jobs, v_statuses, v_failing, v_success, v_failures);
END
$$;
