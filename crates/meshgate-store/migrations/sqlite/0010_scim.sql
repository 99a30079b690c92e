-- SCIM 2.0 provisioning (docs/design/SIGN_IN.md §SCIM), sqlite flavour; the other flavour
-- matches it statement for statement.

-- What an API token authenticates: 'api' (everything but SCIM) or 'scim' (the SCIM endpoints
-- at /scim/v2 and nothing else; only admins make them).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'api';

-- The SCIM side of a user or group principal: what a SCIM client sent that meshgate keeps
-- for it without using it (externalId, name, emails, ...), and the soft delete. userName and
-- a group's displayName are the principal's login, active its active flag, members its group
-- memberships; those live on the principal.
CREATE TABLE scim_resources (
    principal_id  TEXT PRIMARY KEY NOT NULL REFERENCES principals (id),
    -- JSON object of the kept attributes.
    attributes    TEXT NOT NULL,
    -- Bumped by every SCIM write: a write made from an older read is refused and retried, so
    -- concurrent PATCHes never lose each other's changes.
    version       BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    -- SCIM DELETE: the principal stays (audit events, shares and grants name it), deactivated
    -- and without its login, and SCIM answers 404 for it.
    deleted_at    BIGINT,
    -- The login it had when it was deleted (the login itself is freed for reuse).
    deleted_login TEXT
);
