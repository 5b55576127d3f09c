-- hookline schema 6: Idempotency-Key answers (hookline/store/idempotency.py). One row per
-- (credential, key): while the first request runs, ``owner`` holds it until ``expires_at`` (its
-- lock, extended while it runs, so a crashed request's key frees itself, whichever process held
-- it); once answered, the answer is kept until ``expires_at`` (24 h after the answer). Rows past
-- ``expires_at`` are dead: a new request may take the key over, and prune_idempotency deletes them.
-- (Version 5 belongs to another capability; each version is applied once.)

CREATE TABLE idempotency_keys (
    credential   text COLLATE "C" NOT NULL,  -- who sent it: keys are per credential
    key          text COLLATE "C" NOT NULL,
    fingerprint  text NOT NULL,              -- SHA-256 of method, path, query and body
    owner        text,                       -- the running request's token; NULL once answered
    status       integer,                    -- the answer; NULL while running
    content_type text,
    body         bytea,
    created_at   double precision NOT NULL,
    expires_at   double precision NOT NULL,
    PRIMARY KEY (credential, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
