-- The governed catalog (issue 7), SQLite flavour: domain hierarchy, listing states, table
-- tags, metadata form types (versioned) and forms, enforcement rules, the business glossary.
-- Same conventions as 0001 (and as the PostgreSQL flavour, which this matches statement for
-- statement, booleans aside).

-- The domain this one is a unit of; NULL for a top-level domain. The store refuses cycles.
ALTER TABLE domains ADD COLUMN parent_id TEXT REFERENCES domains (id);

-- Where a product stands in the catalog: `draft`, `published` or `unpublished`. Products made
-- before the catalog existed were usable at once, so they are `published`. `revision` is
-- bumped by every change to the product's catalog metadata.
ALTER TABLE products ADD COLUMN listing TEXT NOT NULL DEFAULT 'published';
ALTER TABLE products ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
CREATE INDEX products_listing ON products (listing);

-- Tags of one table (a JSON array), as `column_tags` holds them for columns; a
-- classification (`public` … `restricted`) is a tag of that vocabulary.
CREATE TABLE table_tags (
    table_id TEXT PRIMARY KEY NOT NULL REFERENCES product_tables (id) ON DELETE CASCADE,
    tags     TEXT NOT NULL
);

-- Metadata form types: the latest revision here, every revision's fields (JSON) below.
CREATE TABLE form_types (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE form_type_revisions (
    form_type_id TEXT NOT NULL REFERENCES form_types (id) ON DELETE CASCADE,
    revision     BIGINT NOT NULL,
    description  TEXT NOT NULL,
    fields       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (form_type_id, revision)
);

-- Forms filled for a product, a table or a share request: one per target and form type,
-- checked against (and remembering) the revision current when it was filled. The product
-- (NULL for shares) lets a product's forms go with it.
CREATE TABLE metadata_forms (
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    form_type_id TEXT NOT NULL REFERENCES form_types (id),
    revision     BIGINT NOT NULL,
    product_id   TEXT REFERENCES products (id) ON DELETE CASCADE,
    field_values TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (target_kind, target_id, form_type_id)
);
CREATE INDEX metadata_forms_product ON metadata_forms (product_id);
CREATE INDEX metadata_forms_type ON metadata_forms (form_type_id);

-- Enforcement rules: publishing a product of (or requesting access to a product of) the
-- domain, and with `include_children` of its descendants, requires forms of these types.
CREATE TABLE catalog_rules (
    id               TEXT PRIMARY KEY NOT NULL,
    domain_id        TEXT NOT NULL REFERENCES domains (id),
    action           TEXT NOT NULL,
    include_children INTEGER NOT NULL,
    description      TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX catalog_rules_domain ON catalog_rules (domain_id);

-- The form types a rule requires, in order; the foreign key keeps a used form type.
CREATE TABLE catalog_rule_forms (
    rule_id      TEXT NOT NULL REFERENCES catalog_rules (id) ON DELETE CASCADE,
    ordinal      BIGINT NOT NULL,
    form_type_id TEXT NOT NULL REFERENCES form_types (id),
    PRIMARY KEY (rule_id, form_type_id)
);
CREATE INDEX catalog_rule_forms_type ON catalog_rule_forms (form_type_id);

-- The business glossary.
CREATE TABLE glossaries (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE glossary_terms (
    id          TEXT PRIMARY KEY NOT NULL,
    glossary_id TEXT NOT NULL REFERENCES glossaries (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (glossary_id, name)
);

-- `term_id kind target_id`: `is_a` (kept acyclic by the store) or `classifies`.
CREATE TABLE glossary_term_relations (
    term_id   TEXT NOT NULL REFERENCES glossary_terms (id),
    kind      TEXT NOT NULL,
    target_id TEXT NOT NULL REFERENCES glossary_terms (id),
    PRIMARY KEY (term_id, kind, target_id)
);
CREATE INDEX glossary_term_relations_target ON glossary_term_relations (target_id);

-- Terms attached to a product (`table_id` and `column_name` '') or to one column.
CREATE TABLE glossary_term_links (
    term_id     TEXT NOT NULL REFERENCES glossary_terms (id),
    product_id  TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    table_id    TEXT NOT NULL,
    column_name TEXT NOT NULL,
    PRIMARY KEY (term_id, product_id, table_id, column_name)
);
CREATE INDEX glossary_term_links_product ON glossary_term_links (product_id);
