//! The tasks only one replica of a mesh may run at a time — the scheduler (expiry, reminders,
//! verification), the notification dispatcher, the snapshot collector and the audit digest
//! signer — and the leases
//! that say which replica that is (docs/design/REPLICAS.md §Singletons).
//!
//! One loop per process ([`run`]) claims or renews every task's lease in the store each
//! `replicas.lease_renew_ms` for `replicas.lease_secs`. A task runs a round only while
//! [`Leases::holds`] says this process holds its lease, which it does until shortly before
//! the lease it last renewed runs out: when the holder dies, another replica's next claim
//! after that takes the task over, within `lease_secs` plus one renewal. At shutdown the
//! leases are given up, and another replica takes over at once.
//!
//! A lease alone cannot rule out a round on two replicas (a holder stalled longer than its
//! lease acts on after it ran out), so each task's writes also refuse to apply twice: the
//! scheduler's acts are versioned share changes, the dispatcher moves a cursor with
//! compare-and-set, the collector deletes only what is unused, and a digest's range start is
//! its key.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use super::leases::{Leases, Singleton};
use crate::state::AppState;

/// Claims and renews the leases until `stop`, then gives them up.
pub async fn run(state: AppState, stop: CancellationToken) {
    let settings = &state.config.replicas;
    let ttl = Duration::from_secs(settings.lease_secs.max(1));
    let every = Duration::from_millis(settings.lease_renew_ms.max(10)).min(ttl / 2);
    let lease = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(10));
    let leases = &state.leases;
    loop {
        for task in Singleton::ALL {
            let asked = Instant::now();
            match state
                .store
                .claim_singleton(task.name(), leases.holder(), lease)
                .await
            {
                Ok(true) => {
                    if !leases.holds(task) {
                        tracing::info!(
                            task = task.name(),
                            holder = leases.holder(),
                            "this replica runs the task now"
                        );
                    }
                    // Held until the lease runs out, counted from before the claim was sent
                    // and less a margin for clocks: never past the store's idea of it.
                    leases.set_held(task, Some(asked + ttl.mul_f64(0.8)));
                }
                Ok(false) => {
                    if leases.holds(task) {
                        tracing::warn!(
                            task = task.name(),
                            "another replica has taken over the task"
                        );
                    }
                    leases.set_held(task, None);
                }
                // Not renewed: held only until the earlier renewal runs out.
                Err(e) => {
                    tracing::warn!(task = task.name(), error = %e, "cannot renew a task lease")
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
    for task in Singleton::ALL {
        leases.set_held(task, None);
        if let Err(e) = state
            .store
            .release_singleton(task.name(), leases.holder())
            .await
        {
            tracing::warn!(task = task.name(), error = %e, "cannot give up a task lease");
        }
    }
}
