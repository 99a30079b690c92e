-- Automatic classification (docs/design/CLASSIFICATION.md), SQLite flavour; the other
-- flavour matches it statement for statement.

-- One suggestion per kind of personal data detected on a column. `tags` are the tags the
-- kind stands for and `added_tags` those the suggestion put on the column (JSON arrays);
-- `confidence` is in thousandths; `status` is pending, applied, confirmed or rejected. A
-- rejected suggestion is kept, so its kind is never suggested for that column again.
-- `decided_by` is who confirmed or rejected it (no reference, like `data_filters.created_by`).
CREATE TABLE classification_suggestions (
    table_id    TEXT NOT NULL REFERENCES product_tables (id) ON DELETE CASCADE,
    column_name TEXT NOT NULL,
    kind        TEXT NOT NULL,
    confidence  BIGINT NOT NULL,
    evidence    TEXT NOT NULL,
    tags        TEXT NOT NULL,
    added_tags  TEXT NOT NULL,
    status      TEXT NOT NULL,
    decided_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (table_id, column_name, kind)
);
