//! Delta Sharing housekeeping: unused snapshots and expired OAuth access tokens are removed
//! on a timer (one of the server's background loops), by the replica holding the collector's
//! lease (`replicas::singletons`).

use chrono::{Duration, Utc};

use crate::replicas::leases::Singleton;
use crate::state::AppState;

/// Every `[sharing] gc_interval_secs`: removes snapshots nobody read for
/// `snapshot_idle_secs` and the expired access tokens of OAuth clients.
pub async fn collect_garbage(state: AppState, stop: tokio_util::sync::CancellationToken) {
    let every = std::time::Duration::from_secs(state.config.sharing.gc_interval_secs);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if !state.leases.holds(Singleton::SnapshotCollector) {
            continue;
        }
        let idle = Duration::seconds(
            i64::try_from(state.config.sharing.snapshot_idle_secs).unwrap_or(i64::MAX / 2),
        );
        match state.snapshots.collect_garbage(idle).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(snapshots = n, "removed unused Delta Sharing snapshots"),
            Err(e) => tracing::warn!(error = %e, "could not collect Delta Sharing snapshots"),
        }
        match state
            .store
            .delete_expired_access_tokens(Utc::now() - Duration::hours(1))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(tokens = n, "removed expired OAuth access tokens"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired access tokens"),
        }
    }
}
