//! [`ReplicaStore`] for [`SqlStore`]: the change signal (local commits, and PostgreSQL's
//! `LISTEN`/`NOTIFY` on the schema's channel, raised by the triggers of migration 0012) and
//! the singleton leases.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use meshgate_core::Result;
use tokio::sync::watch;

use super::{Args, exec};
use crate::ReplicaStore;
use crate::codec::ts;
use crate::db::{Backend, SqlStore};

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

#[async_trait]
impl ReplicaStore for SqlStore {
    fn changes(&self) -> watch::Receiver<u64> {
        if let Some((url, started)) = &self.listen {
            started.call_once(|| {
                let url = url.clone();
                let signal = Arc::downgrade(&self.signal);
                tokio::spawn(listen(url, signal));
            });
        }
        self.signal.subscribe()
    }

    async fn claim_singleton(
        &self,
        name: &str,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool> {
        // Lease times are the database's clock on PostgreSQL, so that replicas whose clocks
        // disagree still agree on when a lease ran out; SQLite has one process.
        let now = match self.backend {
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
            Backend::Sqlite => "$4",
        };
        // One statement: taken when absent, run out or already ours; otherwise untouched.
        let sql = format!(
            "INSERT INTO singleton_leases (name, holder, until) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE singleton_leases.holder = excluded.holder OR singleton_leases.until <= {now}"
        );
        let ttl_us = ttl.num_microseconds().unwrap_or(i64::MAX / 4);
        let mut args = Args::of(&[&name, &holder, &ttl_us]);
        if self.backend == Backend::Sqlite {
            args = Args::of(&[&name, &holder, &ttl_us, &ts(Utc::now())]);
        }
        let sql = sql.as_str();
        let claimed = self
            .write(async |conn| exec(conn, "claim a singleton lease", sql, &args).await)
            .await?;
        Ok(claimed == 1)
    }

    async fn release_singleton(&self, name: &str, holder: &str) -> Result<()> {
        let sql = "DELETE FROM singleton_leases WHERE name = $1 AND holder = $2";
        let args = Args::of(&[&name, &holder]);
        self.write(async |conn| exec(conn, "release a singleton lease", sql, &args).await)
            .await?;
        Ok(())
    }
}

/// Listens on the schema's change channel until the store is dropped, moving `signal` on
/// every notification, and connecting again whenever the connection is lost. After each
/// (re)connection it moves the signal once: what was committed while it was away is read by
/// the followers it wakes.
async fn listen(url: String, signal: Weak<watch::Sender<u64>>) {
    let bump = |signal: &Weak<watch::Sender<u64>>| match signal.upgrade() {
        Some(s) => {
            s.send_modify(|n| *n = n.wrapping_add(1));
            true
        }
        None => false,
    };
    loop {
        match subscribe(&url).await {
            Ok(mut listener) => {
                if !bump(&signal) {
                    return;
                }
                loop {
                    // Wake now and then to notice that the store is gone.
                    match tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await {
                        Ok(Ok(Some(_))) => {
                            if !bump(&signal) {
                                return;
                            }
                        }
                        // The connection was lost (and notifications with it): reconnect.
                        Ok(Ok(None)) => break,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "the store's change listener failed; reconnecting");
                            break;
                        }
                        Err(_) if signal.strong_count() == 0 => return,
                        Err(_) => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the store's changes; retrying");
            }
        }
        if signal.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// A connection listening on `meshgate:<schema>`, the channel the triggers notify.
async fn subscribe(url: &str) -> std::result::Result<sqlx::postgres::PgListener, sqlx::Error> {
    // A lost connection makes `try_recv` answer `None` (after reconnecting), so that `listen`
    // moves the signal for what may have been missed.
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut listener)
        .await?;
    listener.listen(&format!("meshgate:{schema}")).await?;
    Ok(listener)
}
