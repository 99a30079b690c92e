//! What several replicas on one store coordinate through it: the change signal that wakes
//! them when anything committed, and the leases of the tasks only one replica may run
//! (docs/design/REPLICAS.md).

use async_trait::async_trait;
use meshgate_core::Result;

/// Replica coordination (`store/replicas.rs`).
#[async_trait]
pub trait ReplicaStore: Send + Sync + 'static {
    /// A counter that moves whenever a write may have committed: every commit of this
    /// process, and on PostgreSQL every audit event or job change committed by any process
    /// on the same schema (`LISTEN`/`NOTIFY`; the counter also moves when the listening
    /// connection is re-established, since notifications may have been lost meanwhile). It
    /// says only "look again": the changes themselves are read from the store, and a
    /// follower must still poll, for changes made by processes that signal nothing (another
    /// process on a SQLite file).
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Takes or renews the lease on the singleton task `name` for `holder` until `ttl` from
    /// now: true when `holder` holds it afterwards (it was free, had run out, or was already
    /// its own), false when another holder's lease is still running.
    async fn claim_singleton(
        &self,
        name: &str,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool>;

    /// Gives up `holder`'s lease on `name` (at shutdown), so that another replica takes the
    /// task over at once rather than when the lease runs out.
    async fn release_singleton(&self, name: &str, holder: &str) -> Result<()>;
}
