-- The audit log's tamper evidence (docs/design/AUDIT.md), SQLite flavour; the other flavour
-- matches it statement for statement.

-- Each event's place in the one chain: its position (1, 2, … no gaps), the hash of the event
-- before it and its own hash. Written in the transaction that writes the event, just before
-- it commits; NULL only for events written before the chain began (seq <= since_seq below)
-- or outside meshgate.
ALTER TABLE audit_events ADD COLUMN chain_pos BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_chain ON audit_events (chain_pos) WHERE chain_pos IS NOT NULL;
CREATE INDEX audit_events_unchained ON audit_events (seq) WHERE chain_pos IS NULL;

-- The end of the chain: one row, whose lock orders every writer of the chain (held from the
-- moment a transaction links its events to its commit). `since_seq`: the events already in
-- the log when the chain began.
CREATE TABLE audit_chain_head (
    id        INTEGER PRIMARY KEY,
    pos       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    since_seq BIGINT NOT NULL
);
INSERT INTO audit_chain_head (id, pos, hash, since_seq)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
       COALESCE(MAX(seq), 0)
FROM audit_events;

-- The keys that sign digests: Ed25519, the private half as base64 PKCS#8.
CREATE TABLE audit_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    public_key  TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Signed digests: "the chain from from_pos to to_pos ends in last_hash", each naming the one
-- before (prev_digest), written by the one replica holding the digest lease.
CREATE TABLE audit_digests (
    from_pos    BIGINT NOT NULL PRIMARY KEY,
    to_pos      BIGINT NOT NULL UNIQUE,
    last_hash   TEXT NOT NULL,
    prev_digest TEXT NOT NULL,
    at          BIGINT NOT NULL,
    key_id      TEXT NOT NULL,
    signature   TEXT NOT NULL
);

-- Where each follower of the chain is — a SIEM sink of the audit stream (`sink:<name>`), the
-- unusual-read detector (`alerts`) —: the last chain position done, and its last failure.
-- Shared by the replicas, so the one that follows next goes on from here.
CREATE TABLE audit_cursors (
    name         TEXT NOT NULL PRIMARY KEY,
    pos          BIGINT NOT NULL,
    delivered_at BIGINT,
    failures     BIGINT NOT NULL,
    last_error   TEXT,
    updated_at   BIGINT NOT NULL
);
