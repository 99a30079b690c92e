-- Browser sessions and sign-ins in progress (docs/design/SIGN_IN.md §Browser sessions),
-- sqlite flavour; the other flavour matches it statement for statement.

-- The cookie's value is never stored, only its SHA-256 hash.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    method       TEXT NOT NULL,
    issuer       TEXT,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_principal ON sessions (principal_id);

-- An authorization-code sign-in between /auth/login and /auth/callback: used once, kept
-- for minutes (a replica other than the one that started it may finish it).
CREATE TABLE sign_in_attempts (
    state_hash TEXT PRIMARY KEY NOT NULL,
    issuer     TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    return_to  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
