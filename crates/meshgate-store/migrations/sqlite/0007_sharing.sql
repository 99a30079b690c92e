-- Delta Sharing recipients, SQLite flavour; the PostgreSQL flavour matches it statement for
-- statement. A recipient is an ordinary principal with its own sharing tokens, which
-- authenticate only the Delta Sharing endpoints.

-- Bearer tokens (version-1 profiles), OAuth clients (version-2 profiles) and the access tokens
-- the OAuth token endpoint issued to those clients. Only hashes are kept: of the one-time
-- activation code until the recipient activates the token, then of its secret.
CREATE TABLE sharing_tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    principal_id    TEXT NOT NULL REFERENCES principals (id),
    -- 'bearer', 'oauth_client' or 'access'.
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    -- NULL until activated.
    secret_hash     TEXT UNIQUE,
    -- NULL once activated (and for access tokens, which are issued activated).
    activation_hash TEXT UNIQUE,
    -- For an access token: the OAuth client it was issued to.
    parent_id       TEXT REFERENCES sharing_tokens (id),
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    activated_at    BIGINT,
    revoked_at      BIGINT,
    last_used_at    BIGINT
);
CREATE INDEX sharing_tokens_principal ON sharing_tokens (principal_id, created_at);
CREATE INDEX sharing_tokens_parent ON sharing_tokens (parent_id);
-- For the collection of expired access tokens.
CREATE INDEX sharing_tokens_access_expiry ON sharing_tokens (expires_at) WHERE kind = 'access';

-- A recipient's Delta Sharing settings.
CREATE TABLE recipient_settings (
    principal_id  TEXT PRIMARY KEY NOT NULL REFERENCES principals (id),
    -- JSON array of addresses and CIDR ranges the recipient may connect from; [] = anywhere.
    ip_allow_list TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);
