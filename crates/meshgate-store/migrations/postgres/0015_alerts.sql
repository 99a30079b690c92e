-- Unusual-read alerts (docs/design/AUDIT.md §Unusual reads), PostgreSQL flavour; the other
-- flavour matches it statement for statement.

-- An alert's notifications are about no share: `share_id` may be NULL, and `alert_id` names
-- the alert instead.
ALTER TABLE notifications ALTER COLUMN share_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN alert_id TEXT;

-- Unusual reads the detector found (meshgate_core::alerts::Alert): one row per read that
-- pushed a baseline over, with every finding's numbers (`findings`, JSON) and the tables it
-- touched (`tables`, JSON). Written with the detector's cursor move (`audit_cursors`, name
-- `alerts`) and an `alert.raised` audit event, in one transaction.
CREATE TABLE alerts (
    id              TEXT NOT NULL PRIMARY KEY,
    principal_id    TEXT NOT NULL,
    read_action     TEXT NOT NULL,
    read_pos        BIGINT NOT NULL,
    tables          TEXT NOT NULL,
    findings        TEXT NOT NULL,
    summary         TEXT NOT NULL,
    response        TEXT NOT NULL,
    status          TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at BIGINT,
    note            TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (created_at);
CREATE INDEX alerts_by_principal ON alerts (principal_id, created_at);

-- Principals refused on every surface until an admin lifts it (the `suspend` response).
CREATE TABLE suspensions (
    principal_id TEXT NOT NULL PRIMARY KEY REFERENCES principals (id) ON DELETE CASCADE,
    alert_id     TEXT,
    reason       TEXT NOT NULL,
    at           BIGINT NOT NULL
);

-- The mesh's tuning of the detector and its response (meshgate_core::alerts::AlertSettings
-- as JSON; '{}' is the defaults). One row.
CREATE TABLE alert_settings (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO alert_settings (id, settings, updated_at) VALUES (1, '{}', 0);
