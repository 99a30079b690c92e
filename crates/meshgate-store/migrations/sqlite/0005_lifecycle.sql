-- The whole share lifecycle (LIFECYCLE.md), SQLite flavour; the PostgreSQL flavour matches it
-- statement for statement.

-- Folder items name a file prefix of their product.
ALTER TABLE share_items ADD COLUMN path TEXT;

-- The expiry in force (set at approval, moved by an approved extension), the expiry an
-- extension asks for, the consumer's local schema name, and when reminders went out.
ALTER TABLE shares ADD COLUMN expires_at BIGINT;
ALTER TABLE shares ADD COLUMN extension_expiry BIGINT;
ALTER TABLE shares ADD COLUMN extension_reason TEXT;
ALTER TABLE shares ADD COLUMN local_name TEXT;
ALTER TABLE shares ADD COLUMN expiry_reminded_at BIGINT;
ALTER TABLE shares ADD COLUMN pending_reminded_at BIGINT;
ALTER TABLE shares ADD COLUMN submitted_at BIGINT;
CREATE INDEX shares_expires ON shares (expires_at);
CREATE INDEX shares_local_name ON shares (local_name);

-- Access to a product's files given by a folder item (one prefix) or a whole-product item
-- (the empty prefix). Table access stays in `grants`.
CREATE TABLE file_grants (
    id            TEXT PRIMARY KEY NOT NULL,
    share_item_id TEXT NOT NULL REFERENCES share_items (id) ON DELETE CASCADE,
    grantee_type  TEXT NOT NULL,
    grantee_id    TEXT NOT NULL,
    product_id    TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX file_grants_grantee ON file_grants (grantee_type, grantee_id);
CREATE INDEX file_grants_share_item ON file_grants (share_item_id);

-- A product's rules for shares: expiry and auto-approval (JSON of `ShareSettings`).
CREATE TABLE share_settings (
    product_id TEXT PRIMARY KEY NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What each processor run did, line by line, for approvers (`meshgate share-logs`).
CREATE TABLE share_logs (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    share_id TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    job      TEXT NOT NULL,
    at       BIGINT NOT NULL,
    level    TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX share_logs_share ON share_logs (share_id, seq);

-- Processors lock per product and per grantee: a job is not leased while another job with
-- the same key holds a lease.
ALTER TABLE jobs ADD COLUMN lock_product TEXT;
ALTER TABLE jobs ADD COLUMN lock_grantee TEXT;
