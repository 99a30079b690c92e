//! Linking audit events into the tamper-evident chain (docs/design/AUDIT.md §The chain).
//!
//! [`crate::store`]'s `insert_audit` writes an event and hands it to [`push`]; `SqlStore::write`
//! collects what its transaction pushed ([`collecting`]) and, once the body has succeeded and
//! just before the commit, [`seal`]s it: one statement takes the chain's head row (its row
//! lock on PostgreSQL; SQLite's writer is alone anyway) and reserves the positions, then each
//! event gets its link and the head its new hash. Linking last keeps the head's lock to the
//! commit itself, so a transaction holding it never waits on another row: no deadlock, and
//! the chain's order is the order writers commit in, across replicas.

use std::cell::RefCell;

use meshgate_core::audit_chain::link_hash;
use meshgate_core::model::AuditEvent;
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;

use crate::codec;
use crate::db::internal;

tokio::task_local! {
    /// The events the running write transaction has written, in order.
    static PENDING: RefCell<Vec<AuditEvent>>;
}

/// Runs `body` (a write transaction's body) and returns what it returned with the audit
/// events it wrote.
pub(crate) async fn collecting<T>(body: impl Future<Output = T>) -> (T, Vec<AuditEvent>) {
    PENDING
        .scope(RefCell::new(Vec::new()), async move {
            let out = body.await;
            (out, PENDING.with(RefCell::take))
        })
        .await
}

/// Records an event written by the running transaction; fails outside one (an event that
/// would never be linked).
pub(crate) fn push(event: AuditEvent) -> Result<()> {
    PENDING
        .try_with(|p| p.borrow_mut().push(event))
        .map_err(|_| Error::internal("an audit event was written outside a write transaction"))
}

/// Links `events` (written by this transaction, in order) to the end of the chain.
pub(crate) async fn seal(conn: &mut AnyConnection, events: &[AuditEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let row =
        sqlx::query("UPDATE audit_chain_head SET pos = pos + $1 WHERE id = 1 RETURNING pos, hash")
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| internal("extend the audit chain", e))?;
    let mut pos = codec::int(&row, "pos")? - n;
    let mut prev = codec::text(&row, "hash")?;
    for event in events {
        pos += 1;
        let hash = link_hash(&prev, pos, event);
        sqlx::query(
            "UPDATE audit_events SET chain_pos = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
        )
        .bind(pos)
        .bind(prev.as_str())
        .bind(hash.as_str())
        .bind(event.seq)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("link an audit event", e))?;
        prev = hash;
    }
    sqlx::query("UPDATE audit_chain_head SET hash = $1 WHERE id = 1")
        .bind(prev.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("extend the audit chain", e))?;
    Ok(())
}
