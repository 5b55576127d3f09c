-- hookline schema 8 on PostgreSQL: API keys (issue 15). A key is shown once, when it is made; only
-- the SHA-256 of it is kept (keys are 256 random bits, so a fast hash is enough). A revoked key
-- keeps its row (revoked_at set), so a request with it is told it was revoked rather than that it
-- never existed. Every request looks its key up here, so a revocation holds at once in every process.

CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    scopes     text NOT NULL,             -- JSON list of scope names
    key_hash   text NOT NULL,             -- hex SHA-256 of the key
    prefix     text NOT NULL,             -- the key's first characters, to tell keys apart in lists
    created_at double precision NOT NULL,
    expires_at double precision,
    revoked_at double precision
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
