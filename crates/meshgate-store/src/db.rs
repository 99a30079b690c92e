//! Connecting to a store URL, running its backend's migrations, write transactions and the
//! mapping of database errors to `meshgate_core::Error`.
//!
//! Both backends go through sqlx's `Any` driver, so one set of queries (in `store/`) serves
//! SQLite and PostgreSQL; see the crate docs for why. What differs per backend lives here:
//! the connection options, the migrations, and how a write transaction starts.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use meshgate_core::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::Store;

/// Which database a store URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How long a SQLite connection waits for a lock held by another process before giving up.
/// In-process writers never wait on SQLite's lock (they queue on the write mutex first), so
/// this only matters when a second process (e.g. `meshgate migrate`) shares the file.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// A store URL, understood: the backend, the URL to hand sqlx, and whether it is an in-memory
/// SQLite database (which lives only as long as its one connection).
struct Target {
    backend: Backend,
    url: String,
    in_memory: bool,
    read_only: bool,
}

fn parse_url(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            url: url.to_string(),
            in_memory: false,
            read_only: false,
        });
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(Error::invalid(format!(
            "unsupported store URL `{}`: expected `sqlite://PATH` or `postgres://…`",
            redact(url)
        )));
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(Error::invalid(format!(
            "store URL `{url}` names no database file: use `sqlite://PATH` or `sqlite::memory:`"
        )));
    }
    let in_memory = path == ":memory:" || query.is_some_and(|q| q.contains("mode=memory"));
    let read_only = query.is_some_and(|q| q.contains("mode=ro"));
    // Create the file if it is missing, unless the caller chose a mode.
    let url = match query {
        _ if in_memory => url.to_string(),
        Some(q) if q.contains("mode=") => url.to_string(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    };
    if !in_memory
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            tracing::error!(error = %e, dir = %parent.display(), "cannot create store directory");
            Error::internal(format!(
                "cannot create the directory `{}` for the store",
                parent.display()
            ))
        })?;
    }
    Ok(Target {
        backend: Backend::Sqlite,
        url,
        in_memory,
        read_only,
    })
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The control-plane store on SQLite or PostgreSQL.
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// SQLite allows one writer at a time; pooled connections writing at once would get
    /// `SQLITE_BUSY`. Every write transaction on SQLite holds this lock, so writers queue here
    /// instead (readers are not blocked, thanks to WAL). `None` on PostgreSQL, which has row
    /// locks.
    write_lock: Option<Mutex<()>>,
    /// The change signal ([`crate::ReplicaStore::changes`]): moved by every commit of this
    /// process and, on PostgreSQL, by the listener of the schema's channel.
    pub(crate) signal: Arc<tokio::sync::watch::Sender<u64>>,
    /// On PostgreSQL, the URL the change listener connects with; it is started by the first
    /// call of `changes`.
    pub(crate) listen: Option<(String, std::sync::Once)>,
    /// Whether writes link their audit events into the chain: always, except in the audit
    /// overhead benchmark ([`SqlStore::unchained`]).
    chained: bool,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`) and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<SqlStore> {
        let store = Self::connect_without_migrating(url).await?;
        store.run_migrations().await?;
        Ok(store)
    }

    /// This store with writes that leave their audit events out of the chain: only for the
    /// benchmark that measures what the chain costs (`examples/audit_overhead.rs`). Nothing
    /// else calls it, and `meshgate audit verify` names every event such a store writes as
    /// outside the chain.
    #[doc(hidden)]
    pub fn unchained(mut self) -> SqlStore {
        self.chained = false;
        self
    }

    async fn connect_without_migrating(url: &str) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let target = parse_url(url)?;
        let options: AnyConnectOptions = target.url.parse().map_err(|e| {
            tracing::error!(error = %e, url = %redact(url), "invalid store URL");
            Error::invalid(format!("invalid store URL `{}`", redact(url)))
        })?;
        let pool = match target.backend {
            Backend::Sqlite => {
                let pool_options = AnyPoolOptions::new()
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // sqlx already enables foreign keys and a busy timeout by default;
                            // set both explicitly because correctness depends on them.
                            // `synchronous = NORMAL` in WAL mode: a commit survives the process
                            // being killed (the WAL is written before the commit returns) and
                            // the database is never corrupted; only an OS crash or power loss
                            // may drop the last commits. It saves an fsync per commit.
                            conn.execute(sqlx::raw_sql(&format!(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 PRAGMA synchronous = NORMAL;"
                            )))
                            .await?;
                            Ok(())
                        })
                    });
                if target.in_memory {
                    // Each connection to `:memory:` is a separate, empty database: keep exactly
                    // one, forever.
                    pool_options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    pool_options.max_connections(4)
                }
                .connect_with(options)
                .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    // While PostgreSQL is down a request waits this long for a connection,
                    // then is answered 503.
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(|e| {
            tracing::error!(error = %e, url = %redact(url), "cannot connect to the store");
            Error::internal(format!(
                "cannot connect to the {} store at `{}`",
                target.backend.as_str(),
                redact(url)
            ))
        })?;
        if target.backend == Backend::Sqlite && !target.in_memory && !target.read_only {
            // WAL lets readers run while the single writer writes. The journal mode is stored in
            // the file, so setting it once per open is enough.
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(|e| internal("set the SQLite journal mode", e))?;
        }
        Ok(SqlStore {
            pool,
            backend: target.backend,
            write_lock: (target.backend == Backend::Sqlite).then(|| Mutex::new(())),
            signal: Arc::new(tokio::sync::watch::Sender::new(0)),
            listen: (target.backend == Backend::Postgres)
                .then(|| (target.url.clone(), std::sync::Once::new())),
            chained: true,
        })
    }

    /// Applies the backend's pending migrations; a no-op when the schema is current.
    pub async fn run_migrations(&self) -> Result<()> {
        let mut migrator = migrator(self.backend);
        // A rolling upgrade runs this binary against a store a newer one has already
        // migrated: its migrations are unknown here, and not an error. Migrations only add
        // (tables, columns with defaults, indexes), so the older binary's statements still
        // work (docs/design/REPLICAS.md §Rolling upgrades).
        migrator.set_ignore_missing(true);
        let _guard = self.lock_writes().await;
        migrator.run(&self.pool).await.map_err(|e| {
            tracing::error!(error = %e, backend = self.backend.as_str(), "migration failed");
            Error::internal(format!(
                "cannot bring the {} store schema up to date",
                self.backend.as_str()
            ))
        })
    }

    async fn lock_writes(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Runs `body` in one write transaction: commits what it wrote if it returns `Ok`, rolls
    /// all of it back if it returns `Err`, and returns what it returned. A change, its audit
    /// event(s) and its jobs are written by one `body`, so they commit or vanish together; the
    /// events are linked into the audit chain just before the commit (`chain.rs`).
    pub(crate) async fn write<T>(
        &self,
        body: impl AsyncFnOnce(&mut AnyConnection) -> Result<T>,
    ) -> Result<T> {
        let mut w = self.begin_write().await?;
        let (result, events) = crate::chain::collecting(body(w.conn())).await;
        // The audit events it wrote join the chain last, just before the commit.
        let result = match result {
            Ok(value) if self.chained => {
                crate::chain::seal(w.conn(), &events).await.map(|()| value)
            }
            other => other,
        };
        let committed = w.finish(result).await?;
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
        Ok(committed)
    }

    /// Starts a write transaction: on SQLite it takes the in-process write lock first and
    /// begins `IMMEDIATE`, so the transaction owns SQLite's write lock from its first statement
    /// and can never fail half-way with `SQLITE_BUSY` on upgrading from a read.
    async fn begin_write(&self) -> Result<WriteTx<'_>> {
        let guard = self.lock_writes().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(|e| internal("begin a transaction", e))?;
        Ok(WriteTx { tx, _guard: guard })
    }

    /// A pooled connection, for reads that take several statements.
    pub(crate) async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.pool
            .acquire()
            .await
            .map_err(|e| internal("acquire a connection", e))
    }
}

/// A write transaction and, on SQLite, the write lock it holds. Field order matters: the
/// transaction is dropped (rolled back) before the lock is released.
struct WriteTx<'a> {
    tx: Transaction<'static, sqlx::Any>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commits on `Ok`, rolls back on `Err`, and returns `result`. Rolling back explicitly (not
    /// on drop) means the write lock is only released once SQLite's lock is.
    async fn finish<T>(self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => {
                self.tx
                    .commit()
                    .await
                    .map_err(|e| internal("commit a transaction", e))?;
                Ok(value)
            }
            Err(err) => {
                if let Err(e) = self.tx.rollback().await {
                    tracing::error!(error = %e, "rollback failed");
                }
                Err(err)
            }
        }
    }
}

/// Connects to the store at `url` and brings its schema up to date.
///
/// `url` is `sqlite://PATH` (the file and its directory are created if missing),
/// `sqlite::memory:` (for tests; gone when the store is dropped) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}

/// Brings the schema of the store at `url` up to date (`meshgate migrate`). Idempotent.
pub async fn migrate(url: &str) -> Result<()> {
    let store = SqlStore::connect_without_migrating(url).await?;
    store.run_migrations().await?;
    store.pool.close().await;
    Ok(())
}

/// An unexpected database error: logged with its cause, returned without it. A database that
/// cannot be reached for now (no connection, a connection lost, the server shutting down or
/// starting) is `Unavailable` rather than internal: the same call may succeed in a moment, and
/// the server answers 503 with `Retry-After` (docs/design/REPLICAS.md §Store outages).
pub(crate) fn internal(doing: &str, err: sqlx::Error) -> Error {
    if is_outage(&err) {
        tracing::warn!(error = %err, "store unavailable: cannot {doing}");
        return Error::unavailable(format!("the store is unavailable: cannot {doing}"));
    }
    tracing::error!(error = %err, "store failed to {doing}");
    Error::internal(format!("the store failed to {doing}"))
}

/// Whether `err` says the database is out of reach rather than that a statement is wrong: the
/// pool could not get a connection, the connection broke, or PostgreSQL refused work for a
/// reason that passes (class 08 connection exception, class 57P operator intervention:
/// shutting down, starting up, cannot connect now).
pub(crate) fn is_outage(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// What a statement writes, for turning database errors into ones a caller can act on.
pub(crate) struct Subject<'a> {
    pub what: &'static str,
    pub name: Cow<'a, str>,
}

pub(crate) fn subject<'a>(what: &'static str, name: impl Into<Cow<'a, str>>) -> Subject<'a> {
    Subject {
        what,
        name: name.into(),
    }
}

/// Maps the error of a statement writing `subject`: a unique violation is `AlreadyExists`, a
/// foreign-key violation names what was referenced, anything else is internal.
pub(crate) fn write_error(subject: &Subject<'_>, err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return Error::AlreadyExists {
                what: subject.what,
                name: subject.name.to_string(),
            };
        }
        if db.is_foreign_key_violation() {
            return Error::invalid(format!(
                "{} `{}` refers to something that does not exist",
                subject.what, subject.name
            ));
        }
    }
    internal(&format!("write a {}", subject.what), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded migrations are the ones sqlx reads from the directories (the same
    /// resolution `sqlx::migrate!` uses), checksum for checksum: a store migrated by a build
    /// that used the macro checks out, and nothing in a directory is left out.
    #[tokio::test]
    async fn the_embedded_migrations_are_sqlx_s_own() -> std::result::Result<(), String> {
        for (backend, dir) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let read = sqlx::migrate::Migrator::new(path)
                .await
                .map_err(|e| e.to_string())?;
            let shape = |m: &sqlx::migrate::Migrator| {
                m.iter()
                    .map(|m| {
                        (
                            m.version,
                            m.description.to_string(),
                            m.checksum.to_vec(),
                            m.no_tx,
                            m.migration_type.suffix(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            let embedded = migrator(backend);
            assert!(embedded.iter().count() >= 15, "{dir}: migrations missing");
            assert_eq!(shape(&embedded), shape(&read), "{dir}");
        }
        Ok(())
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/mesh"),
            "postgres://app:***@db:5432/mesh"
        );
        assert_eq!(redact("postgres://app@db/mesh"), "postgres://app@db/mesh");
        assert_eq!(redact("sqlite:///var/lib/m.db"), "sqlite:///var/lib/m.db");
    }

    #[test]
    fn sqlite_urls_create_the_file_unless_told_otherwise() -> Result<()> {
        let dir = std::env::temp_dir();
        let base = format!("sqlite://{}/m.db", dir.display());
        assert_eq!(parse_url(&base)?.url, format!("{base}?mode=rwc"));
        assert_eq!(
            parse_url(&format!("{base}?mode=ro"))?.url,
            format!("{base}?mode=ro")
        );
        let memory = parse_url("sqlite::memory:")?;
        assert!(memory.in_memory);
        assert_eq!(memory.url, "sqlite::memory:");
        assert_eq!(parse_url("postgresql://h/db")?.backend, Backend::Postgres);
        Ok(())
    }
}

/// The migrations `build.rs` embeds, per backend: `(version, file name, SQL)` sorted by version.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// The backend's migrations as sqlx's migrator takes them, made exactly as `sqlx::migrate!`
/// makes them from the same files (version and description from the file name, the checksum
/// of the SQL, `-- no-transaction` honoured), so stores migrated by earlier builds check out.
pub(crate) fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let files = match backend {
        Backend::Sqlite => embedded::SQLITE,
        Backend::Postgres => embedded::POSTGRES,
    };
    let migrations = files
        .iter()
        .map(|&(version, name, sql)| {
            let rest = name.split_once('_').map_or(name, |(_, rest)| rest);
            let kind = MigrationType::from_filename(rest);
            let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
            Migration::new(
                version,
                description.into(),
                kind,
                sql.into(),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    // The fields are sqlx's (public for its macro); the rest as the macro leaves them.
    Migrator {
        migrations: migrations.into(),
        ..Migrator::DEFAULT
    }
}
