-- Unusual-read alerts (docs/design/AUDIT.md §Unusual reads), SQLite flavour; the other
-- flavour matches it statement for statement.

-- An alert's notifications are about no share: `share_id` may be NULL, and `alert_id` names
-- the alert instead. SQLite cannot drop a NOT NULL, so the table is rebuilt, and with it
-- `webhook_deliveries`, the one table that refers to it: the migration runs in a transaction
-- with foreign keys enforced, where renaming `notifications` makes `webhook_deliveries` refer
-- to the renamed table. Both old tables are renamed, the new ones created and filled, and the
-- old ones dropped, the referring one first.
ALTER TABLE notifications RENAME TO notifications_before_alerts;
ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_before_alerts;
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    share_id     TEXT REFERENCES shares (id),
    event        TEXT NOT NULL,
    actor_id     TEXT,
    audit_seq    BIGINT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    link         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    read_at      BIGINT,
    emailed_at   BIGINT,
    alert_id     TEXT
);
INSERT INTO notifications (id, principal_id, share_id, event, actor_id, audit_seq, title, body,
                           link, created_at, read_at, emailed_at)
SELECT id, principal_id, share_id, event, actor_id, audit_seq, title, body, link, created_at,
       read_at, emailed_at
FROM notifications_before_alerts;
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
INSERT INTO webhook_deliveries (id, webhook_id, notification_id, event, payload, status,
                                attempts, last_error, created_at, finished_at)
SELECT id, webhook_id, notification_id, event, payload, status, attempts, last_error,
       created_at, finished_at
FROM webhook_deliveries_before_alerts;
DROP TABLE webhook_deliveries_before_alerts;
DROP TABLE notifications_before_alerts;
CREATE UNIQUE INDEX notifications_once ON notifications (audit_seq, principal_id);
CREATE INDEX notifications_inbox ON notifications (principal_id, created_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);

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
