-- Fine-grained access (ACCESS.md), PostgreSQL flavour: grant scopes, data filters, row
-- rules, column tags and tag-driven masks. Same conventions as 0001 (and as the SQLite
-- flavour, which this matches statement for statement).

-- What of its table an item (and the grant that fulfils it) covers: JSON of `GrantScope`.
-- NULL is the default scope (the whole table), which is also what every older row means.
ALTER TABLE share_items ADD COLUMN scope TEXT;
ALTER TABLE grants ADD COLUMN scope TEXT;

-- Named row filters and column lists on one table. They go with their product (deleted
-- explicitly by `delete_product`, and by cascade as a backstop); grants refer to them by id
-- inside their scope JSON, so the store refuses to delete one that a grant still uses.
CREATE TABLE data_filters (
    id          TEXT PRIMARY KEY NOT NULL,
    product_id  TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    table_id    TEXT NOT NULL REFERENCES product_tables (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    row_filter  TEXT,
    -- JSON array of column names; NULL = all columns.
    columns     TEXT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (table_id, name)
);
CREATE INDEX data_filters_product ON data_filters (product_id);

-- A product's row-level security rules, replaced as a whole; `ordinal` keeps import order.
CREATE TABLE row_rules (
    product_id   TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    ordinal      BIGINT NOT NULL,
    user_name    TEXT,
    group_name   TEXT,
    -- JSON object: field → allowed values (an empty list admits every value).
    field_values TEXT NOT NULL,
    PRIMARY KEY (product_id, ordinal)
);

-- Tags of one column, as a JSON array; a column without tags has no row.
CREATE TABLE column_tags (
    table_id    TEXT NOT NULL REFERENCES product_tables (id) ON DELETE CASCADE,
    column_name TEXT NOT NULL,
    tags        TEXT NOT NULL,
    PRIMARY KEY (table_id, column_name)
);

-- Default masks for tagged columns, mesh-wide (`domain_id` NULL) or per domain. One per
-- (domain, tag): NULLs are distinct in a plain UNIQUE constraint on both backends, so the
-- index is on the domain with NULL mapped to '' (upserts name the same expression).
CREATE TABLE tag_masks (
    id         TEXT PRIMARY KEY NOT NULL,
    domain_id  TEXT REFERENCES domains (id),
    tag        TEXT NOT NULL,
    mask       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tag_masks_domain_tag ON tag_masks ((COALESCE(domain_id, '')), tag);
