//! [`OutboxStore`] for [`SqlStore`]: the jobs that follow from committed changes, and their
//! leases. Jobs are enqueued by the change that calls for them ([`super::insert_job`], in its
//! transaction); workers lease them here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::{Job, NewAuditEvent};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{Args, changed, exec, fetch_list, insert_audit, insert_job};
use crate::codec::{self, ts};
use crate::db::{Backend, SqlStore, internal};
use crate::record::Record;
use crate::{NewJob, OutboxStore};

#[async_trait]
impl OutboxStore for SqlStore {
    async fn enqueue_jobs(&self, jobs: &[NewJob], audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let now = ts(Utc::now());
            for job in jobs {
                insert_job(conn, job, now).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn lease_jobs(
        &self,
        worker: &str,
        limit: u32,
        lease_for: chrono::Duration,
    ) -> Result<Vec<Job>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let until = now
            .checked_add_signed(lease_for)
            .ok_or_else(|| Error::invalid("lease duration is out of range"))?;
        // Leasing is serialised (SQLite: its single writer; PostgreSQL: a transaction-scoped
        // advisory lock), so the lock check below sees every lease taken before it.
        let mut jobs: Vec<Job> = self
            .write(async |conn| {
                if self.backend == Backend::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(7305813)")
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| internal("lock the job queue", e))?;
                }
                // Due, unleased jobs none of whose locks (product, grantee) is held by another
                // worker's lease. One worker runs its jobs one after another, so jobs with the
                // same lock may share a batch: the lock keeps two workers apart.
                let sql = "SELECT id FROM jobs j WHERE run_at <= $1 \
                     AND (lease_until IS NULL OR lease_until <= $1) \
                     AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.lease_until > $1 \
                     AND k.leased_by <> $3 AND \
                     ((j.lock_product IS NOT NULL AND k.lock_product = j.lock_product) OR \
                     (j.lock_grantee IS NOT NULL AND k.lock_grantee = j.lock_grantee))) \
                     ORDER BY created_at, id LIMIT $2";
                let candidates = sqlx::query(sql)
                    .bind(ts(now))
                    .bind(i64::from(limit))
                    .bind(worker)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| internal("lease jobs", e))?;
                let ids = candidates
                    .iter()
                    .map(|r| codec::uuid(r, "id"))
                    .collect::<Result<Vec<_>>>()?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut args = Args::default();
                let sql = format!(
                    "UPDATE jobs SET leased_by = {}, lease_until = {}, attempts = attempts + 1 \
                     WHERE id IN ({}) RETURNING {}",
                    args.text(worker),
                    args.int(ts(until)),
                    args.ids(&ids),
                    Job::COLS
                );
                fetch_list(conn, "lease jobs", &sql, &args).await
            })
            .await?;
        // RETURNING does not keep the candidates' order.
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs)
    }

    async fn renew_job_leases(&self, worker: &str, lease_for: chrono::Duration) -> Result<u64> {
        let until = Utc::now()
            .checked_add_signed(lease_for)
            .ok_or_else(|| Error::invalid("lease duration is out of range"))?;
        let sql =
            "UPDATE jobs SET lease_until = $2 WHERE leased_by = $1 AND lease_until IS NOT NULL";
        let args = Args::of(&[&worker, &ts(until)]);
        self.write(async |conn| exec(conn, "renew job leases", sql, &args).await)
            .await
    }

    async fn complete_job(&self, id: Uuid) -> Result<()> {
        let sql = "DELETE FROM jobs WHERE id = $1";
        self.write(async |conn| {
            let done = exec(conn, "complete a job", sql, &Args::of(&[&id])).await?;
            changed(done, || Error::not_found("job", id.to_string()))
        })
        .await
    }

    async fn fail_job(&self, id: Uuid, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE jobs SET last_error = $2, run_at = $3, leased_by = NULL, \
                   lease_until = NULL WHERE id = $1";
        let args = Args::of(&[&id, &error, &ts(retry_at)]);
        self.write(async |conn| {
            let done = exec(conn, "record a job failure", sql, &args).await?;
            changed(done, || Error::not_found("job", id.to_string()))
        })
        .await
    }

    async fn release_leases(&self) -> Result<u64> {
        let sql = "UPDATE jobs SET leased_by = NULL, lease_until = NULL \
                   WHERE lease_until IS NOT NULL";
        self.write(async |conn| exec(conn, "release job leases", sql, &Args::default()).await)
            .await
    }

    async fn open_jobs(&self, subject: Uuid) -> Result<u64> {
        let sql = "SELECT COUNT(*) AS n FROM jobs WHERE subject_id = $1 AND run_at <= $2";
        let row = Args::of(&[&subject, &ts(Utc::now())])
            .bind(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("count a subject's jobs", e))?;
        Ok(u64::try_from(codec::int(&row, "n")?).unwrap_or(0))
    }

    async fn pending_jobs(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("count jobs", e))?;
        Ok(u64::try_from(codec::int(&row, "n")?).unwrap_or(0))
    }
}
