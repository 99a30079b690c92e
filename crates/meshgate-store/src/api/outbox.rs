//! The outbox: follow-up work committed with the change that calls for it, leased by
//! workers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::{Job, JobKind, NewAuditEvent};
use uuid::Uuid;

/// A job to enqueue with a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub subject_id: Uuid,
    /// Processors lock per product and per grantee: the job is not leased while another job
    /// with the same product or grantee holds a lease.
    pub lock_product: Option<Uuid>,
    pub lock_grantee: Option<Uuid>,
}

/// Jobs and their leases (`store/outbox.rs`). Most jobs are enqueued by the change they
/// follow from ([`crate::ShareChange::jobs`], [`crate::NotificationBatch::jobs`]).
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Enqueues jobs on their own (bulk verification, scheduled work).
    async fn enqueue_jobs(&self, jobs: &[NewJob], audit: NewAuditEvent) -> Result<()>;
    /// Leases up to `limit` jobs that are due and not leased (or whose lease ran out) for
    /// `lease_for`. On PostgreSQL concurrent workers never get the same job: leasing is serialised
    /// by a transaction-scoped advisory lock (docs/design/ARCHITECTURE.md §Departures).
    async fn lease_jobs(
        &self,
        worker: &str,
        limit: u32,
        lease_for: chrono::Duration,
    ) -> Result<Vec<Job>>;
    /// Extends every lease `worker` holds to `lease_for` from now: the worker's heartbeat, so
    /// that a lease can be short (a dead worker's jobs are taken over soon) and a long job
    /// still keeps it. Returns how many leases were extended.
    async fn renew_job_leases(&self, worker: &str, lease_for: chrono::Duration) -> Result<u64>;
    /// Removes a finished job. `NotFound` if it is gone already.
    async fn complete_job(&self, id: Uuid) -> Result<()>;
    /// Records a failure, ends the lease and makes the job due again at `retry_at`. `NotFound`
    /// if the job is gone.
    async fn fail_job(&self, id: Uuid, error: &str, retry_at: DateTime<Utc>) -> Result<()>;
    /// How many jobs on `subject` are running or due now (not counting those waiting to be
    /// retried later): a call that enqueued work on a share waits until this is 0.
    async fn open_jobs(&self, subject: Uuid) -> Result<u64>;
    /// Jobs not yet completed (for tests and `/readyz`).
    async fn pending_jobs(&self) -> Result<u64>;
    /// Ends every lease, so that leased jobs are due again at once (their attempts and
    /// `run_at` stay); returns how many held one (running or run out). Only for a process that
    /// knows no other worker runs: a SQLite server at start, whose data dir no other process
    /// serves, so that the jobs a killed process held do not wait out their leases.
    async fn release_leases(&self) -> Result<u64>;
}
