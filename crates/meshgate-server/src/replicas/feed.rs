//! The change feed: how a process learns of every committed change that concerns its own
//! state, whichever replica (or CLI) made it.
//!
//! Every change commits an audit event with it (`meshgate_store`), so the audit log is the
//! change sequence. One loop per process ([`run`]) reads the events past its cursor, of the
//! kinds of object its followers care about, and hands each event once to each follower:
//!
//! - the catalog's search index (`catalog::index::apply`);
//! - the credential revocation list and the suspended principals (refreshed when a
//!   credential or a principal changed; a suspension is an event on its principal).
//!
//! Access snapshots need no follower: each is valid for the policy version it was resolved at,
//! which every read checks against the store. Sessions, tokens and recipient tokens are read
//! from the store on use; the sign-in cache re-reads the principal on every hit.
//!
//! The loop wakes on the store's change signal (PostgreSQL `NOTIFY` from any replica, and
//! this process's commits) and every `replicas.poll_ms` whatever happens, for changes that
//! signal nothing. Write requests also catch up before they answer (`lib.rs`), so a search
//! right after a write sees it.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::catalog::index::CATALOG_OBJECTS;
use crate::error::ApiResult;
use crate::state::AppState;

/// The kinds of object whose events can revoke a credential: the credential itself, and a
/// principal deactivated or deleted (its credentials go with it).
const CREDENTIAL_OBJECTS: &[&str] = &["credential", "principal"];

/// The least time between two passes: a burst of commits costs one read, not one each.
const COALESCE: Duration = Duration::from_millis(20);

/// The kinds of object the feed reads: those of every follower.
fn followed() -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = CATALOG_OBJECTS.to_vec();
    kinds.extend(CREDENTIAL_OBJECTS);
    kinds
}

/// One pass: reads the events past the cursor and gives the new ones to every follower. Run
/// by [`run`], and by write requests before they answer. Passes are serialised by the
/// cursor's lock; an error is logged and the events are read again next time.
pub async fn catch_up(state: &AppState) {
    if let Err(e) = pass(state).await {
        tracing::error!(error = %e.message, "the change feed cannot follow the audit log");
    }
}

async fn pass(state: &AppState) -> ApiResult<()> {
    let pass = state.feed.next(state.store.as_ref(), &followed()).await?;
    let fresh = pass.fresh();
    if !fresh.is_empty() {
        crate::catalog::index::apply(state.store.as_ref(), &state.catalog, &fresh).await?;
        if fresh
            .iter()
            .any(|e| CREDENTIAL_OBJECTS.contains(&e.object_type.as_str()))
        {
            refresh_revocations(state).await?;
            crate::audit::alerts::refresh_suspended(state).await?;
        }
    }
    // Only once every follower has taken them are the events marked seen.
    pass.done();
    Ok(())
}

/// Replaces the credential revocation list with the store's.
pub async fn refresh_revocations(state: &AppState) -> ApiResult<()> {
    let ids = state.store.revoked_credentials(chrono::Utc::now()).await?;
    state.credentials.replace_revoked(ids);
    Ok(())
}

/// Runs the feed until `stop`: a pass whenever the store signals a change, and every
/// `replicas.poll_ms` in any case.
pub async fn run(state: AppState, stop: CancellationToken) {
    let poll = Duration::from_millis(state.config.replicas.poll_ms.max(10));
    let mut changes = state.store.changes();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = changes.changed() => {}
            () = tokio::time::sleep(poll) => {}
        }
        changes.borrow_and_update();
        catch_up(&state).await;
        tokio::time::sleep(COALESCE).await;
    }
}

/// Waits until no job on `subject` is running or due (they finished, on whichever replica
/// leased them, or wait to be retried later), or `within` has passed; true when they
/// finished. Looks again when this process's worker is done with a job of `subject`
/// (`worker::Finished`), on PostgreSQL also on every change signal (a job finishing on
/// another replica signals through PostgreSQL), and every `replicas.poll_ms`. On SQLite one
/// process serves the store, so its own worker is the only one: a commit elsewhere in the
/// process is no reason to look again.
pub async fn wait_for_jobs(state: &AppState, subject: Uuid, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let poll = Duration::from_millis(state.config.replicas.poll_ms.max(10));
    let others = state.store.backend() != meshgate_store::Backend::Sqlite.as_str();
    let mut changes = state.store.changes();
    // Subscribed before the first look, so that a job finishing after it is heard of.
    let mut finished = state.finished_jobs.subscribe();
    loop {
        // Marked seen before looking, so that a change committed after the look wakes us.
        changes.borrow_and_update();
        match state.store.open_jobs(subject).await {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(subject = %subject, error = %e, "cannot look at a share's jobs")
            }
        }
        let next = (tokio::time::Instant::now() + poll).min(deadline);
        let ours = async {
            loop {
                match finished.recv().await {
                    Ok(s) if s == subject => return,
                    Ok(_) => {}
                    // Missed some: one of them may be ours.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // No worker in this process any more: the poll and the signal remain.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        };
        let signalled = async {
            if others {
                let _ = changes.changed().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = ours => {}
            () = signalled => {}
            () = tokio::time::sleep_until(next) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}
