-- hookline schema 3: dashboard sessions logged out before they expire. A session cookie is signed,
-- so it stays valid until it expires unless it is listed here; rows go once the session would have
-- expired anyway.

CREATE TABLE revoked_sessions (
    nonce      TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);
