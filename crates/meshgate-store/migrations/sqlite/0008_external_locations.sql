-- External locations, SQLite flavour; the PostgreSQL flavour matches it statement for
-- statement. An admin declares a URL prefix and the teams that may register existing Delta
-- tables under it; nothing outside a declared location can be registered.
CREATE TABLE external_locations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    -- The normalized prefix, ending in '/'.
    url         TEXT NOT NULL UNIQUE,
    -- JSON array of the ids of the teams that may register under it.
    teams       TEXT NOT NULL,
    -- Whether tables registered under it accept writes.
    writable    INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
