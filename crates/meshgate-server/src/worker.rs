//! The worker: leases jobs from the outbox and runs them — the share processors, and the
//! delivery of notification email and webhooks (`notify`). It is woken right after a job is
//! enqueued (so an approval is fulfilled at once) and also polls, so jobs left by a crashed
//! process or another replica are picked up when their lease runs out (on SQLite, where one
//! process serves the data dir, `serve_on` ends every lease at start instead).
//!
//! Share jobs run one after another in the worker's loop. Deliveries talk to servers outside
//! the mesh that may take their whole timeout to answer, so they run in their own tasks (a
//! bounded number at once) and a slow webhook never holds up an approval.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use meshgate_core::model::{Job, JobKind};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::state::AppState;
use crate::{notify, shares};

/// How many notification deliveries run at once.
const DELIVERIES: usize = 16;

/// Announces the subject of each job this process's worker is done with for now (finished,
/// given up, or due again later), so that a request waiting for a share's jobs
/// (`replicas::feed::wait_for_jobs`) looks at the store when one of that share's jobs has
/// moved, not after every commit in the process.
#[derive(Debug)]
pub struct Finished(broadcast::Sender<Uuid>);

impl Default for Finished {
    fn default() -> Self {
        // A waiter that falls this far behind is told it lagged, and looks anyway.
        Finished(broadcast::channel(1024).0)
    }
}

impl Finished {
    /// The subjects announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.0.subscribe()
    }

    fn announce(&self, subject: Uuid) {
        // No receiver is no waiter: nothing to tell.
        let _ = self.0.send(subject);
    }
}

/// Runs until `stop` is cancelled.
pub async fn run(state: AppState, stop: CancellationToken) {
    let worker = format!("worker-{}", uuid::Uuid::now_v7());
    let poll = Duration::from_millis(state.config.worker_poll_ms.max(10));
    let lease_secs = i64::try_from(state.config.worker_lease_secs.max(1)).unwrap_or(i64::MAX);
    let lease = chrono::Duration::try_seconds(lease_secs).unwrap_or(chrono::Duration::seconds(60));
    let deliveries = Arc::new(Semaphore::new(DELIVERIES));
    // Jobs leased and not yet finished: while there are any, the heartbeat keeps their leases.
    let held = Arc::new(AtomicUsize::new(0));
    let heartbeat = tokio::spawn(keep_leases(
        state.clone(),
        worker.clone(),
        lease,
        held.clone(),
        stop.clone(),
    ));
    loop {
        let jobs = match state.store.lease_jobs(&worker, 32, lease).await {
            Ok(jobs) => {
                held.fetch_add(jobs.len(), Ordering::SeqCst);
                jobs
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot lease jobs");
                Vec::new()
            }
        };
        let idle = jobs.is_empty();
        if !idle {
            state.config.step_delay().await;
        }
        for job in jobs {
            match job.kind {
                JobKind::ProcessShare
                | JobKind::RevokeShare
                | JobKind::VerifyShare
                | JobKind::ReapplyShare
                | JobKind::CleanupShare => {
                    run_job(&state, job).await;
                    held.fetch_sub(1, Ordering::SeqCst);
                }
                JobKind::SendEmail | JobKind::DeliverWebhook => {
                    // Waiting for a free slot is the backpressure: at most `DELIVERIES` run.
                    let Ok(permit) = deliveries.clone().acquire_owned().await else {
                        heartbeat.abort();
                        return;
                    };
                    let state = state.clone();
                    let held = held.clone();
                    tokio::spawn(async move {
                        run_job(&state, job).await;
                        held.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    });
                }
            }
        }
        if idle {
            tokio::select! {
                () = stop.cancelled() => {
                    heartbeat.abort();
                    return;
                }
                () = state.wake_worker.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        } else if stop.is_cancelled() {
            heartbeat.abort();
            return;
        }
    }
}

/// The worker's heartbeat: every third of a lease, while it holds jobs, extends their leases
/// by a lease. A lease can so be short (`worker_lease_secs`): the jobs of a worker that died
/// are taken over by another replica's worker once it runs out, while a job that takes
/// longer than a lease keeps it as long as its worker lives (docs/design/REPLICAS.md §Jobs).
async fn keep_leases(
    state: AppState,
    worker: String,
    lease: chrono::Duration,
    held: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    let every = (lease / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if held.load(Ordering::SeqCst) > 0
            && let Err(e) = state.store.renew_job_leases(&worker, lease).await
        {
            tracing::warn!(error = %e, "cannot renew the worker's job leases");
        }
    }
}

/// Runs one job and records how it went: done, to be retried later, or (a delivery out of
/// attempts) given up.
async fn run_job(state: &AppState, job: Job) {
    let result = match job.kind {
        JobKind::ProcessShare => shares::process_share(state, job.subject_id)
            .await
            .map_err(|e| e.to_string()),
        JobKind::RevokeShare => shares::revoke_share(state, job.subject_id)
            .await
            .map_err(|e| e.to_string()),
        JobKind::VerifyShare => shares::verify_share(state, job.subject_id, false)
            .await
            .map_err(|e| e.to_string()),
        JobKind::ReapplyShare => shares::verify_share(state, job.subject_id, true)
            .await
            .map_err(|e| e.to_string()),
        JobKind::CleanupShare => shares::cleanup_share(state, job.subject_id)
            .await
            .map_err(|e| e.to_string()),
        JobKind::SendEmail => notify::send_email(state, &job).await,
        JobKind::DeliverWebhook => notify::deliver_webhook(state, &job).await,
    };
    match result {
        Ok(()) => {
            state.config.step_delay().await;
            if let Err(e) = state.store.complete_job(job.id).await {
                tracing::error!(job = %job.id, error = %e, "cannot complete job");
            }
        }
        Err(e) if notify::is_last_attempt(&state.config, &job) => {
            // A notification that cannot be delivered must not retry forever; a webhook
            // delivery has recorded that it failed.
            tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "giving up on a notification delivery");
            if let Err(e) = state.store.complete_job(job.id).await {
                tracing::error!(job = %job.id, error = %e, "cannot complete job");
            }
        }
        Err(e) => {
            let delay = match job.kind {
                JobKind::SendEmail | JobKind::DeliverWebhook => {
                    notify::retry_delay(&state.config, job.attempts)
                }
                // Back off exponentially, capped at ten minutes.
                JobKind::ProcessShare
                | JobKind::RevokeShare
                | JobKind::VerifyShare
                | JobKind::ReapplyShare
                | JobKind::CleanupShare => chrono::Duration::seconds(
                    2i64.saturating_pow(job.attempts.clamp(0, 10) as u32)
                        .min(600),
                ),
            };
            tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed; will retry");
            let retry_at = Utc::now() + delay;
            if let Err(e) = state.store.fail_job(job.id, &e, retry_at).await {
                tracing::error!(job = %job.id, error = %e, "cannot record job failure");
            }
        }
    }
    state.finished_jobs.announce(job.subject_id);
}
