-- hookline schema 6: Idempotency-Key answers (hookline/store/idempotency.py). One row per
-- (credential, key): while the first request runs, ``owner`` holds it until ``expires_at`` (its
-- lock, extended while it runs, so a crashed request's key frees itself); once answered, the
-- answer is kept until ``expires_at`` (24 h after the answer). Rows past ``expires_at`` are dead:
-- a new request may take the key over, and prune_idempotency deletes them.
-- (Versions 4 and 5 belong to other capabilities; each version is applied once.)

CREATE TABLE idempotency_keys (
    credential   TEXT NOT NULL,  -- who sent it: keys are per credential
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,  -- SHA-256 of method, path, query and body
    owner        TEXT,           -- the running request's token; NULL once answered
    status       INTEGER,        -- the answer; NULL while running
    content_type TEXT,
    body         BLOB,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    PRIMARY KEY (credential, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
