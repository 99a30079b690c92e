//! The audit log: every change's events are written by the change itself; this appends
//! events on their own and reads the log.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::audit_chain::{AuditDigest, AuditKey, ChainHead};
use meshgate_core::model::{AuditCursor, AuditEvent, NewAuditEvent};
use uuid::Uuid;

/// Filters for [`AuditStore::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events with `seq` greater than this (for paging and tailing).
    pub after_seq: Option<i64>,
    pub actor_id: Option<Uuid>,
    /// Events whose action starts with this (e.g. `share.` or `query.run`).
    pub action_prefix: Option<String>,
    pub object_id: Option<String>,
    /// Events at or after this time.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Events before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many (the store caps it at 1000).
    pub limit: Option<u32>,
}

/// The audit log (`store/audit.rs`).
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends one event on its own (reads, denials); returns its sequence number.
    async fn append_audit(&self, event: NewAuditEvent) -> Result<i64>;
    /// Events in sequence order.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>>;
    /// Events after `after_seq` about objects of the given types, in sequence order, at most
    /// `limit` (capped at 1000): for followers of the log that act on some kinds of change.
    async fn audit_of_types(
        &self,
        after_seq: i64,
        object_types: &[&str],
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;
    /// The highest sequence number in the log (0 when it is empty).
    async fn last_audit_seq(&self) -> Result<i64>;

    // ----- the chain and its digests (docs/design/AUDIT.md) -----

    /// The end of the chain as last committed.
    async fn audit_head(&self) -> Result<ChainHead>;
    /// Chained events from position `from_pos` on, in chain order, at most `limit` (capped at
    /// 1000).
    async fn audit_chain(&self, from_pos: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// Events after `after_seq` that are in the log but not in the chain, leaving out those
    /// written before the chain began; at most `limit` (capped at 1000).
    async fn audit_outside_chain(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// Every key that has signed or signs digests, oldest first (public halves only).
    async fn audit_keys(&self) -> Result<Vec<AuditKey>>;
    /// The key digests are signed with now and its PKCS#8 document; made on first use.
    async fn audit_signing_key(&self) -> Result<(AuditKey, Vec<u8>)>;
    /// Digests whose range starts at or after `from_pos`, in order, at most `limit` (capped at
    /// 1000).
    async fn audit_digests(&self, from_pos: i64, limit: u32) -> Result<Vec<AuditDigest>>;
    /// The newest digest, if any.
    async fn last_audit_digest(&self) -> Result<Option<AuditDigest>>;
    /// Adds a digest; `false` if one for its range's start exists already (another replica
    /// wrote it first).
    async fn add_audit_digest(&self, digest: &AuditDigest) -> Result<bool>;

    // ----- followers of the chain: SIEM sinks, unusual-read alerts (docs/design/AUDIT.md) -----

    /// Every follower's cursor, by name.
    async fn audit_cursors(&self) -> Result<Vec<AuditCursor>>;
    /// The cursor of `name`, made at position 0 if it has none.
    async fn audit_cursor(&self, name: &str) -> Result<AuditCursor>;
    /// Moves `name`'s cursor from `from` to `to` (done up to `to`); `false` if it was not at
    /// `from` (a replay moved it, or another replica got there first).
    async fn advance_audit_cursor(&self, name: &str, from: i64, to: i64) -> Result<bool>;
    /// Records a failed attempt of `name`.
    async fn audit_cursor_failed(&self, name: &str, error: &str) -> Result<()>;
    /// Sets `name`'s cursor so that its follower starts again at position `from`, with its
    /// audit event.
    async fn replay_audit_cursor(&self, name: &str, from: i64, audit: NewAuditEvent) -> Result<()>;
}
