-- hookline schema 8: API keys (issue 15). A key is shown once, when it is made; only the SHA-256
-- of it is kept (keys are 256 random bits, so a fast hash is enough). A revoked key keeps its row
-- (revoked_at set), so a request with it is told it was revoked rather than that it never existed.

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,             -- JSON list of scope names
    key_hash   TEXT NOT NULL,             -- hex SHA-256 of the key
    prefix     TEXT NOT NULL,             -- the key's first characters, to tell keys apart in lists
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
