-- meshgate control-plane schema, PostgreSQL flavour.
--
-- Conventions shared with the PostgreSQL migrations (the same queries run on both through
-- sqlx's Any driver): ids are UUID text, timestamps are BIGINT microseconds since the Unix
-- epoch, enums are their lowercase text names, JSON is TEXT (the Any driver has no uuid,
-- timestamptz or jsonb). Booleans are BOOLEAN here and INTEGER on SQLite.

CREATE TABLE principals (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_admin     BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id  TEXT NOT NULL REFERENCES principals (id),
    member_id TEXT NOT NULL REFERENCES principals (id),
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_principal ON api_tokens (principal_id);

CREATE TABLE domains (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    producer    BOOLEAN NOT NULL,
    consumer    BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE team_members (
    team_id      TEXT NOT NULL REFERENCES teams (id),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    role         TEXT NOT NULL,
    PRIMARY KEY (team_id, principal_id)
);
CREATE INDEX team_members_principal ON team_members (principal_id);

CREATE TABLE products (
    id          TEXT PRIMARY KEY NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    team_id     TEXT NOT NULL REFERENCES teams (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE INDEX products_team ON products (team_id);

CREATE TABLE product_tables (
    id          TEXT PRIMARY KEY NOT NULL,
    product_id  TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    location    TEXT NOT NULL,
    managed     BOOLEAN NOT NULL,
    columns     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (product_id, name)
);

-- Shares outlive their product (they are the record of who had access), so `product_id` has
-- no foreign key; `owner_team_id` is copied from the product at creation so that the owning
-- team can still list the share after the product is gone.
CREATE TABLE shares (
    id                     TEXT PRIMARY KEY NOT NULL,
    product_id             TEXT NOT NULL,
    owner_team_id          TEXT NOT NULL,
    requester_team_id      TEXT REFERENCES teams (id),
    requester_principal_id TEXT REFERENCES principals (id),
    created_by             TEXT NOT NULL,
    reason                 TEXT NOT NULL,
    status                 TEXT NOT NULL,
    requested_expiry       BIGINT,
    decision_notes         TEXT,
    decided_by             TEXT,
    version                BIGINT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    deleted_reason         TEXT
);
CREATE INDEX shares_product ON shares (product_id);
CREATE INDEX shares_status ON shares (status);
CREATE INDEX shares_owner_team ON shares (owner_team_id);
CREATE INDEX shares_requester_team ON shares (requester_team_id);
CREATE INDEX shares_requester_principal ON shares (requester_principal_id);

-- `table_id` has no foreign key either: the table goes with its product, the item stays.
CREATE TABLE share_items (
    id               TEXT PRIMARY KEY NOT NULL,
    share_id         TEXT NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    table_id         TEXT,
    permission       TEXT NOT NULL,
    status           TEXT NOT NULL,
    health           TEXT,
    health_message   TEXT,
    last_verified_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX share_items_share ON share_items (share_id);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY NOT NULL,
    share_item_id TEXT NOT NULL REFERENCES share_items (id) ON DELETE CASCADE,
    grantee_type  TEXT NOT NULL,
    grantee_id    TEXT NOT NULL,
    table_id      TEXT NOT NULL,
    permission    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX grants_grantee ON grants (grantee_type, grantee_id);
CREATE INDEX grants_share_item ON grants (share_item_id);

-- A single-row counter; access snapshots are cached by it.
CREATE TABLE policy_version (
    id      SMALLINT PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 0);

-- The outbox: work a state change leaves for the workers.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    run_at      BIGINT NOT NULL,
    leased_by   TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at);

-- Append-only; an identity column so the database assigns the sequence number.
CREATE TABLE audit_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT,
    outcome     TEXT NOT NULL,
    request_id  TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_object ON audit_events (object_id, seq);
