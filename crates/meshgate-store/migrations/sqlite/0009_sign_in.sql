-- Sign-in with an identity provider and provisioning (docs/design/SIGN_IN.md), sqlite flavour;
-- the other flavour matches it statement for statement.

-- The name the identity provider knows a principal by: the configured user claim of its
-- tokens (`sub`, `email`, `preferred_username`), a client id for a service, a group claim
-- value for a group, SCIM's userName / displayName. Unique whatever the letter case.
ALTER TABLE principals ADD COLUMN login TEXT;
CREATE UNIQUE INDEX principals_login ON principals (lower(login));

-- A deactivated principal (SCIM `active: false`) authenticates with nothing.
ALTER TABLE principals ADD COLUMN active INTEGER NOT NULL DEFAULT 1;

-- Who made a group membership: `manual` (the API), `idp` (the groups claim of a token,
-- re-synced on every sign-in) or `scim`. A sync replaces only its own source's rows.
ALTER TABLE group_members ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';

-- Delta Sharing OIDC federation: a recipient bound to a subject of a trusted issuer reads
-- with that issuer's JWTs instead of a meshgate recipient token. One binding per recipient,
-- one recipient per (issuer, subject).
CREATE TABLE recipient_federations (
    principal_id TEXT PRIMARY KEY NOT NULL REFERENCES principals (id),
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
