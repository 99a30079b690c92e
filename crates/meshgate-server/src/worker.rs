//! The share worker: leases jobs from the outbox and runs their processors. It is woken right
//! after a job is enqueued (so an approval is fulfilled at once) and also polls, so jobs left
//! by a crashed process or another replica are picked up when their lease runs out (on SQLite,
//! where one process serves the data dir, `serve_on` ends every lease at start instead).

use std::time::Duration;

use chrono::Utc;
use meshgate_core::model::JobKind;
use tokio_util::sync::CancellationToken;

use crate::shares;
use crate::state::AppState;

/// Runs until `stop` is cancelled.
pub async fn run(state: AppState, stop: CancellationToken) {
    let worker = format!("worker-{}", uuid::Uuid::now_v7());
    let poll = Duration::from_millis(state.config.worker_poll_ms.max(10));
    let lease_secs = i64::try_from(state.config.worker_lease_secs.max(1)).unwrap_or(i64::MAX);
    let lease = chrono::Duration::try_seconds(lease_secs).unwrap_or(chrono::Duration::seconds(60));
    loop {
        let jobs = match state.store.lease_jobs(&worker, 32, lease).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease jobs");
                Vec::new()
            }
        };
        let idle = jobs.is_empty();
        if !idle {
            step_delay(&state).await;
        }
        for job in jobs {
            let result = match job.kind {
                JobKind::ProcessShare => shares::process_share(&state, job.subject_id).await,
                JobKind::RevokeShare => shares::revoke_share(&state, job.subject_id).await,
                JobKind::VerifyShare => shares::verify_share(&state, job.subject_id, false).await,
                JobKind::ReapplyShare => shares::verify_share(&state, job.subject_id, true).await,
                JobKind::CleanupShare => shares::cleanup_share(&state, job.subject_id).await,
            };
            match result {
                Ok(()) => {
                    step_delay(&state).await;
                    if let Err(e) = state.store.complete_job(job.id).await {
                        tracing::error!(job = %job.id, error = %e, "cannot complete job");
                    }
                }
                Err(e) => {
                    // Back off exponentially, capped at ten minutes.
                    let delay = 2i64
                        .saturating_pow(job.attempts.clamp(0, 10) as u32)
                        .min(600);
                    tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed; will retry");
                    let retry_at = Utc::now() + chrono::Duration::seconds(delay);
                    if let Err(e) = state.store.fail_job(job.id, &e.to_string(), retry_at).await {
                        tracing::error!(job = %job.id, error = %e, "cannot record job failure");
                    }
                }
            }
            let _ = state.processed.send(job.subject_id);
        }
        if idle {
            tokio::select! {
                () = stop.cancelled() => return,
                () = state.wake_worker.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        } else if stop.is_cancelled() {
            return;
        }
    }
}

/// The pause `worker_step_delay_ms` asks for between the worker's steps (a testing aid that
/// widens the windows a crash can hit; none by default).
pub(crate) async fn step_delay(state: &AppState) {
    let ms = state.config.worker_step_delay_ms;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
