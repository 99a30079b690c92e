//! [`Store`] for [`SqlStore`]: the queries, written once for both backends. Each area trait is
//! implemented in its own file under `store/`, next to its SQL; this file holds what they
//! share.
//!
//! - Writes: every mutating method runs its statements in one write transaction
//!   ([`SqlStore::write`]), so that `?` anywhere in the body rolls the whole change back, its
//!   audit event ([`insert_audit`]), jobs ([`insert_job`]) and policy-version bump
//!   ([`bump_policy_version`]) included. [`SqlStore::write_one`] is that for a single
//!   statement.
//! - Reads of whole records go through [`Record`]: [`SqlStore::get`] and [`SqlStore::list`] on
//!   the pool, [`fetch_one`] and [`fetch_list`] on a connection (inside a write, or a read of
//!   several statements).
//! - Queries whose shape depends on their input number their placeholders with [`Args`].
//!
//! Where the backends need different SQL (job leasing, row locks) the code branches on
//! [`Backend`].

use async_trait::async_trait;
use meshgate_core::model::{NewAuditEvent, new_id};
use meshgate_core::{Error, Result};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor};
use uuid::Uuid;

mod access;
mod alerts;
mod audit;
mod catalog;
mod classification;
mod credentials;
mod glossary;
mod grants;
mod identity;
mod locations;
mod names;
mod notify;
mod org;
mod outbox;
mod policy;
mod products;
mod recipients;
mod replicas;
mod scim;
mod sessions;
mod shares;

use crate::codec::{self, opt_id, to_json, ts};
use crate::db::{Backend, SqlStore, internal};
use crate::record::Record;
use crate::{NewJob, Store};

/// How many values go into one `IN (…)` list; well under both backends' parameter limits.
const IN_CHUNK: usize = 500;

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend.as_str()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| internal("answer a ping", e))?;
        Ok(())
    }
}

// ----- arguments -----

/// Values for a query, bound in order. Built from a list ([`Args::of`]) for fixed SQL, or
/// value by value for a query whose shape depends on its filters: then each value added
/// returns its placeholder, numbered as it comes.
#[derive(Default)]
struct Args(Vec<Arg>);

/// One value to bind: ids and names as text, numbers and timestamps as integers.
enum Arg {
    Text(String),
    Int(i64),
}

/// What can be bound as an [`Arg`].
trait ToArg: Sync {
    fn to_arg(&self) -> Arg;
}

impl ToArg for Uuid {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_string())
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_string())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.clone())
    }
}

impl ToArg for i64 {
    fn to_arg(&self) -> Arg {
        Arg::Int(*self)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg {
        (**self).to_arg()
    }
}

impl Args {
    /// The values of a query with fixed placeholders (`$1`, `$2`, … in this order).
    fn of(values: &[&dyn ToArg]) -> Args {
        Args(values.iter().map(|v| v.to_arg()).collect())
    }

    fn text(&mut self, value: impl Into<String>) -> String {
        self.0.push(Arg::Text(value.into()));
        format!("${}", self.0.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.0.push(Arg::Int(value));
        format!("${}", self.0.len())
    }

    /// `$a, $b, …` for a non-empty list of ids.
    fn ids(&mut self, ids: &[Uuid]) -> String {
        ids.iter()
            .map(|id| self.text(id.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn bind<'q>(&'q self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        self.0.iter().fold(sqlx::query(sql), |q, arg| match arg {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
        })
    }
}

// ----- reads -----

async fn rows_on<'e>(
    db: impl Executor<'e, Database = Any>,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Vec<AnyRow>> {
    args.bind(sql)
        .fetch_all(db)
        .await
        .map_err(|e| internal(doing, e))
}

async fn row_on<'e>(
    db: impl Executor<'e, Database = Any>,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Option<AnyRow>> {
    args.bind(sql)
        .fetch_optional(db)
        .await
        .map_err(|e| internal(doing, e))
}

fn records<T: Record>(rows: Vec<AnyRow>) -> Result<Vec<T>> {
    rows.iter().map(T::from_row).collect()
}

async fn fetch_all(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Vec<AnyRow>> {
    rows_on(conn, doing, sql, args).await
}

/// The one row `sql` finds for `id` (its only argument), if any.
async fn fetch_optional_by_id(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    id: Uuid,
) -> Result<Option<AnyRow>> {
    row_on(conn, doing, sql, &Args::of(&[&id])).await
}

/// The record `sql` (usually `T::select(…)`) finds, if any.
async fn fetch_one<T: Record>(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Option<T>> {
    row_on(conn, doing, sql, args)
        .await?
        .map(|r| T::from_row(&r))
        .transpose()
}

/// The records `sql` (usually `T::select(…)`) finds.
async fn fetch_list<T: Record>(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Vec<T>> {
    records(rows_on(conn, doing, sql, args).await?)
}

/// The rows `template` finds for `ids`, with `{ids}` replaced by the placeholders of one
/// chunk of them at a time (one query per [`IN_CHUNK`] ids).
async fn rows_in(
    conn: &mut AnyConnection,
    doing: &str,
    template: &str,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<AnyRow>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = template.replace("{ids}", &args.ids(chunk));
        out.extend(fetch_all(conn, doing, &sql, &args).await?);
    }
    Ok(out)
}

/// The records `template` (usually `T::select("… IN ({ids}) …")`) finds for `ids`, as
/// [`rows_in`].
async fn fetch_list_in<T: Record>(
    conn: &mut AnyConnection,
    doing: &str,
    template: &str,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<T>> {
    records(rows_in(conn, doing, template, ids).await?)
}

async fn count(conn: &mut AnyConnection, doing: &str, sql: &str, args: &Args) -> Result<i64> {
    let row = args
        .bind(sql)
        .fetch_one(conn)
        .await
        .map_err(|e| internal(doing, e))?;
    codec::int(&row, "n")
}

/// Runs a statement; returns how many rows it changed.
async fn exec(conn: &mut AnyConnection, doing: &str, sql: &str, args: &Args) -> Result<u64> {
    args.bind(sql)
        .execute(conn)
        .await
        .map(|d| d.rows_affected())
        .map_err(|e| internal(doing, e))
}

impl SqlStore {
    /// The record `sql` (usually `T::select(…)`) finds, if any, on the pool.
    async fn get<T: Record>(
        &self,
        doing: &str,
        sql: &str,
        args: &[&dyn ToArg],
    ) -> Result<Option<T>> {
        row_on(&self.pool, doing, sql, &Args::of(args))
            .await?
            .map(|r| T::from_row(&r))
            .transpose()
    }

    /// The records `sql` (usually `T::select(…)`) finds, on the pool.
    async fn list<T: Record>(&self, doing: &str, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<T>> {
        records(rows_on(&self.pool, doing, sql, &Args::of(args)).await?)
    }

    /// The one row `sql` finds, if any, on the pool (for reads of single values).
    async fn row(&self, doing: &str, sql: &str, args: &[&dyn ToArg]) -> Result<Option<AnyRow>> {
        row_on(&self.pool, doing, sql, &Args::of(args)).await
    }

    /// The ids in `column` of the rows `sql` finds, on the pool.
    async fn ids(
        &self,
        doing: &str,
        sql: &str,
        args: &[&dyn ToArg],
        column: &str,
    ) -> Result<Vec<Uuid>> {
        rows_on(&self.pool, doing, sql, &Args::of(args))
            .await?
            .iter()
            .map(|r| codec::uuid(r, column))
            .collect()
    }
}

// ----- writes -----

/// Appends an audit event in the transaction of the change it describes; the transaction links
/// it into the chain when it commits (`chain.rs`).
async fn insert_audit(conn: &mut AnyConnection, event: &NewAuditEvent) -> Result<i64> {
    let detail = to_json("audit detail", &event.detail)?;
    // The time as stored (microseconds), so that the chain's hash is over what is read back.
    let at = ts(chrono::Utc::now());
    let row = sqlx::query(
        "INSERT INTO audit_events \
         (at, actor_id, action, object_type, object_id, outcome, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
    )
    .bind(at)
    .bind(opt_id(event.actor_id))
    .bind(event.action.as_str())
    .bind(event.object_type.as_str())
    .bind(event.object_id.as_deref())
    .bind(event.outcome.as_str())
    .bind(event.request_id.as_deref())
    .bind(detail)
    .fetch_one(conn)
    .await
    .map_err(|e| internal("append to the audit log", e))?;
    let seq = codec::int(&row, "seq")?;
    crate::chain::push(meshgate_core::model::AuditEvent {
        seq,
        at: codec::from_micros("at", at)?,
        actor_id: event.actor_id,
        action: event.action.clone(),
        object_type: event.object_type.clone(),
        object_id: event.object_id.clone(),
        outcome: event.outcome,
        request_id: event.request_id.clone(),
        detail: event.detail.clone(),
        chain: None,
    })?;
    Ok(seq)
}

/// Marks a change to what anyone may read (see [`crate::GrantStore::policy_version`]): a
/// broad one, which no cached access outlives.
async fn bump_policy_version(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query(
        "UPDATE policy_version SET version = version + 1, broad = version + 1 WHERE id = 1",
    )
    .execute(conn)
    .await
    .map_err(|e| internal("bump the policy version", e))?;
    Ok(())
}

/// Marks a change to the grants of `scopes` only (see [`crate::PolicyVersion`]): the version
/// moves and each scope records it; `broad` stays, so cached accesses that depend on none of
/// the scopes stay valid. With no scope it is a broad change.
async fn bump_policy_version_of(
    conn: &mut AnyConnection,
    scopes: &std::collections::BTreeSet<crate::PolicyScope>,
) -> Result<()> {
    if scopes.is_empty() {
        return bump_policy_version(conn).await;
    }
    let row = sqlx::query(
        "UPDATE policy_version SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| internal("bump the policy version", e))?;
    let version = codec::int(&row, "version")?;
    for scope in scopes {
        sqlx::query(
            "INSERT INTO policy_scopes (scope, version) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET version = excluded.version",
        )
        .bind(scope.key())
        .bind(version)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("record a scoped policy change", e))?;
    }
    Ok(())
}

/// Enqueues one job, due now, in the transaction of the change that calls for it.
async fn insert_job(conn: &mut AnyConnection, job: &NewJob, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, subject_id, attempts, run_at, created_at, lock_product, \
         lock_grantee) VALUES ($1, $2, $3, 0, $4, $4, $5, $6)",
    )
    .bind(new_id().to_string())
    .bind(job.kind.as_str())
    .bind(job.subject_id.to_string())
    .bind(now)
    .bind(opt_id(job.lock_product))
    .bind(opt_id(job.lock_grantee))
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("enqueue a job", e))?;
    Ok(())
}

/// `Ok` if a statement changed `rows` rows, some; else the error `missing` makes (which fails
/// the write it is returned from).
fn changed(rows: u64, missing: impl FnOnce() -> Error) -> Result<()> {
    if rows == 0 { Err(missing()) } else { Ok(()) }
}

/// `sql` with a row lock (`FOR UPDATE`, `FOR SHARE`) on PostgreSQL; as is on SQLite, whose
/// writes are serialised.
fn locking(backend: Backend, sql: &str, lock: &str) -> String {
    match backend {
        Backend::Postgres => format!("{sql} {lock}"),
        Backend::Sqlite => sql.to_string(),
    }
}

impl SqlStore {
    /// Runs `query` and appends `audit` in one transaction. With `not_found`, a query that
    /// changes no row fails with it; with `bump_policy`, one that does bumps the policy version.
    async fn write_one<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
        on_error: impl FnOnce(sqlx::Error) -> Error + Send,
        not_found: Option<Error>,
        audit: &NewAuditEvent,
        bump_policy: bool,
    ) -> Result<()> {
        self.write(async |conn| {
            let done = query.execute(&mut *conn).await.map_err(on_error)?;
            if done.rows_affected() == 0
                && let Some(err) = not_found
            {
                return Err(err);
            }
            if bump_policy && done.rows_affected() > 0 {
                bump_policy_version(conn).await?;
            }
            insert_audit(conn, audit).await?;
            Ok(())
        })
        .await
    }

    /// A random 32-byte secret of the mesh, created on first use: the first caller wins, and
    /// every replica then reads the same value.
    async fn mesh_secret(&self, name: &str, what: &str) -> Result<Vec<u8>> {
        let doing = format!("read the {what}");
        let sql = "SELECT value FROM mesh_secrets WHERE name = $1";
        // Read first: the key exists after the first call, and reading takes no write lock.
        let found = match self.row(&doing, sql, &[&name]).await? {
            Some(found) => found,
            None => {
                self.create_mesh_secret(name, what).await?;
                self.row(&doing, sql, &[&name])
                    .await?
                    .ok_or_else(|| Error::internal(format!("the {what} is missing")))?
            }
        };
        hex::decode(codec::text(&found, "value")?)
            .map_err(|e| Error::internal(format!("the {what} is unreadable: {e}")))
    }

    async fn create_mesh_secret(&self, name: &str, what: &str) -> Result<()> {
        let candidate = hex::encode(meshgate_core::credential::generate_key());
        sqlx::query(
            "INSERT INTO mesh_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.pool)
        .await
        .map_err(|e| internal(&format!("store the {what}"), e))?;
        Ok(())
    }
}
