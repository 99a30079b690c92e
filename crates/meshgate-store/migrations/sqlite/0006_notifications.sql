-- Notifications (LIFECYCLE.md §Notifications), SQLite flavour; the PostgreSQL flavour matches
-- it statement for statement. Notifications are derived from the audit log: a dispatcher
-- tails `audit_events` by `seq` from `notify_cursor` and writes inbox rows, webhook
-- deliveries and their outbox jobs together with the new cursor, in one transaction.

-- How far the audit log has been dispatched: every event with `seq <= last_seq`. One row.
-- An existing mesh starts at its current end of the log, so upgrading sends no backlog.
CREATE TABLE notify_cursor (
    id       INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO notify_cursor (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_events;

-- The in-app inbox: one row per recipient of an event.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    share_id     TEXT NOT NULL REFERENCES shares (id),
    event        TEXT NOT NULL,
    -- NULL for the system.
    actor_id     TEXT,
    -- The audit event it was derived from; a recipient hears of an event once.
    audit_seq    BIGINT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    link         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    read_at      BIGINT,
    emailed_at   BIGINT
);
CREATE UNIQUE INDEX notifications_once ON notifications (audit_seq, principal_id);
CREATE INDEX notifications_inbox ON notifications (principal_id, created_at);

-- Where a principal wants email.
CREATE TABLE contacts (
    principal_id TEXT PRIMARY KEY NOT NULL REFERENCES principals (id),
    email        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- URLs that receive their owner's notifications, signed with `secret` (HMAC-SHA-256).
CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    -- Comma-separated event names; '' = every event.
    events       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Set when deleted; kept for the record of its deliveries.
    disabled_at  BIGINT
);
CREATE INDEX webhooks_owner ON webhooks (principal_id);

-- One notification sent to one webhook; its `deliver_webhook` job carries the retries.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    event           TEXT NOT NULL,
    -- The JSON body exactly as sent, so every retry carries the same signature.
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
