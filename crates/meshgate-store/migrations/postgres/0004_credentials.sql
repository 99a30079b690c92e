-- Short-lived, tenant-scoped credentials and multi-tenant tables (ACCESS.md §Tenant
-- isolation), PostgreSQL flavour; the SQLite flavour matches it statement for statement.

-- Credentials a principal vended: the token itself is never stored (it is signed, not
-- looked up); this row exists for listing and revocation.
CREATE TABLE credentials (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    -- JSON of `SessionPolicy`.
    policy       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX credentials_principal ON credentials (principal_id);
CREATE INDEX credentials_revoked ON credentials (revoked_at);

-- Secrets of the mesh shared by all replicas (the credential signing key).
CREATE TABLE mesh_secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Tables whose rows belong to tenants: the key column and how a key names its tenant.
CREATE TABLE tenant_tables (
    table_id   TEXT PRIMARY KEY NOT NULL REFERENCES product_tables (id) ON DELETE CASCADE,
    key_column TEXT NOT NULL,
    -- The tenant is the key's part before this; NULL = the whole key.
    separator  TEXT
);
