//! The audit log: every change's events are written by the change itself; this appends
//! events on their own and reads the log.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{AuditEvent, NewAuditEvent};
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
}
