-- Scoped policy changes (docs/design/ACCESS.md §Snapshot). The policy version still moves on
-- every change to what anyone may read; `broad` is the version of the last change that is not
-- scoped, and `policy_scopes` the version of the last scoped change (a grant made or removed)
-- of each grantee (`team:<id>`, `principal:<id>`). A cached access snapshot stays valid across
-- versions that changed nothing it depends on.
ALTER TABLE policy_version ADD COLUMN broad BIGINT NOT NULL DEFAULT 0;
UPDATE policy_version SET broad = version;

CREATE TABLE policy_scopes (
    scope   TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
