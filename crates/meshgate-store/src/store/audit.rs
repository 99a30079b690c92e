//! [`AuditStore`] for [`SqlStore`]: events appended on their own, and reads of the log. The
//! events of a change are written by the change itself ([`super::insert_audit`]).

use crate::codec;
use async_trait::async_trait;
use base64::Engine as _;
use meshgate_core::audit_chain::{self, AuditDigest, AuditKey, ChainHead};
use meshgate_core::model::{AuditCursor, AuditEvent, NewAuditEvent};
use meshgate_core::{Error, Result};

use super::{Args, ToArg, fetch_list, insert_audit};
use crate::db::SqlStore;
use crate::record::Record;
use crate::{AuditFilter, AuditStore};

const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 1000;

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<i64> {
        self.write(async |conn| insert_audit(conn, &event).await)
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut args = Args::default();
        let mut sql = AuditEvent::select("WHERE 1 = 1");
        if let Some(after) = filter.after_seq {
            sql += &format!(" AND seq > {}", args.int(after));
        }
        if let Some(actor) = filter.actor_id {
            sql += &format!(" AND actor_id = {}", args.text(actor.to_string()));
        }
        if let Some(prefix) = &filter.action_prefix {
            // Not LIKE: SQLite's LIKE ignores case, and the prefix would need escaping. The
            // length is a number we computed, so it can go into the SQL text (PostgreSQL has no
            // `substr` taking the BIGINT a bound integer would be).
            sql += &format!(
                " AND substr(action, 1, {}) = {}",
                prefix.chars().count(),
                args.text(prefix.as_str())
            );
        }
        if let Some(object) = &filter.object_id {
            sql += &format!(" AND object_id = {}", args.text(object.as_str()));
        }
        if let Some(from) = filter.from {
            sql += &format!(" AND at >= {}", args.int(codec::ts(from)));
        }
        if let Some(to) = filter.to {
            sql += &format!(" AND at < {}", args.int(codec::ts(to)));
        }
        let limit = filter
            .limit
            .unwrap_or(AUDIT_DEFAULT_LIMIT)
            .min(AUDIT_MAX_LIMIT);
        sql += &format!(" ORDER BY seq LIMIT {}", args.int(i64::from(limit)));
        let mut conn = self.read().await?;
        fetch_list(&mut conn, "read the audit log", &sql, &args).await
    }

    async fn audit_of_types(
        &self,
        after_seq: i64,
        object_types: &[&str],
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        if object_types.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Args::default();
        let mut sql = AuditEvent::select(&format!("WHERE seq > {}", args.int(after_seq)));
        let types: Vec<String> = object_types.iter().map(|t| args.text(*t)).collect();
        sql += &format!(
            " AND object_type IN ({}) ORDER BY seq LIMIT {}",
            types.join(", "),
            args.int(i64::from(limit.min(AUDIT_MAX_LIMIT)))
        );
        let mut conn = self.read().await?;
        fetch_list(&mut conn, "read the audit log", &sql, &args).await
    }

    async fn last_audit_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_events")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| crate::db::internal("read the audit log", e))?;
        crate::codec::int(&row, "seq")
    }

    async fn audit_head(&self) -> Result<ChainHead> {
        let row = self
            .row(
                "read the audit chain",
                "SELECT pos, hash, since_seq FROM audit_chain_head WHERE id = 1",
                &[],
            )
            .await?
            .ok_or_else(|| Error::internal("the audit chain has no head"))?;
        Ok(ChainHead {
            pos: codec::int(&row, "pos")?,
            hash: codec::text(&row, "hash")?,
            since_seq: codec::int(&row, "since_seq")?,
        })
    }

    async fn audit_chain(&self, from_pos: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let sql = AuditEvent::select("WHERE chain_pos >= $1 ORDER BY chain_pos LIMIT $2");
        let limit = i64::from(limit.min(AUDIT_MAX_LIMIT));
        self.list("read the audit chain", &sql, &[&from_pos, &limit])
            .await
    }

    async fn audit_outside_chain(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let sql = AuditEvent::select(
            "WHERE chain_pos IS NULL AND seq > $1 \
             AND seq > (SELECT since_seq FROM audit_chain_head WHERE id = 1) \
             ORDER BY seq LIMIT $2",
        );
        let limit = i64::from(limit.min(AUDIT_MAX_LIMIT));
        self.list("read the audit log", &sql, &[&after_seq, &limit])
            .await
    }

    async fn audit_keys(&self) -> Result<Vec<AuditKey>> {
        let sql = AuditKey::select("ORDER BY created_at, id");
        self.list("read the audit keys", &sql, &[]).await
    }

    async fn audit_signing_key(&self) -> Result<(AuditKey, Vec<u8>)> {
        let sql = "SELECT id, public_key, created_at, private_key FROM audit_keys \
                   ORDER BY created_at DESC, id DESC LIMIT 1";
        let row = match self.row("read the audit signing key", sql, &[]).await? {
            Some(row) => row,
            None => {
                // The first caller makes it; a replica racing it may add a second, and either
                // signs (every key stays trusted).
                let (key, pkcs8) = audit_chain::new_signing_key(chrono::Utc::now())?;
                let private = base64::engine::general_purpose::STANDARD.encode(pkcs8);
                let args: [&dyn ToArg; 4] = [
                    &key.id,
                    &key.public_key,
                    &private,
                    &codec::ts(key.created_at),
                ];
                self.write(async |conn| {
                    super::exec(
                        conn,
                        "store the audit signing key",
                        "INSERT INTO audit_keys (id, public_key, private_key, created_at) \
                         SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM audit_keys)",
                        &Args::of(&args),
                    )
                    .await
                })
                .await?;
                self.row("read the audit signing key", sql, &[])
                    .await?
                    .ok_or_else(|| Error::internal("the audit signing key is missing"))?
            }
        };
        let key = <AuditKey as Record>::from_row(&row)?;
        let pkcs8 = base64::engine::general_purpose::STANDARD
            .decode(codec::text(&row, "private_key")?)
            .map_err(|_| Error::internal("the audit signing key is unreadable"))?;
        Ok((key, pkcs8))
    }

    async fn audit_digests(&self, from_pos: i64, limit: u32) -> Result<Vec<AuditDigest>> {
        let sql = AuditDigest::select("WHERE from_pos >= $1 ORDER BY from_pos LIMIT $2");
        let limit = i64::from(limit.min(AUDIT_MAX_LIMIT));
        self.list("read the audit digests", &sql, &[&from_pos, &limit])
            .await
    }

    async fn last_audit_digest(&self) -> Result<Option<AuditDigest>> {
        let sql = AuditDigest::select("ORDER BY from_pos DESC LIMIT 1");
        Ok(self
            .list("read the audit digests", &sql, &[])
            .await?
            .into_iter()
            .next())
    }

    async fn add_audit_digest(&self, d: &AuditDigest) -> Result<bool> {
        let args: [&dyn ToArg; 7] = [
            &d.from_pos,
            &d.to_pos,
            &d.last_hash,
            &d.prev_digest,
            &codec::ts(d.at),
            &d.key_id,
            &d.signature,
        ];
        let added = self
            .write(async |conn| {
                super::exec(
                    conn,
                    "store an audit digest",
                    "INSERT INTO audit_digests \
                     (from_pos, to_pos, last_hash, prev_digest, at, key_id, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    &Args::of(&args),
                )
                .await
            })
            .await?;
        Ok(added == 1)
    }

    async fn audit_cursors(&self) -> Result<Vec<AuditCursor>> {
        let sql = AuditCursor::select("ORDER BY name");
        self.list("read the audit sinks", &sql, &[]).await
    }

    async fn audit_cursor(&self, name: &str) -> Result<AuditCursor> {
        let sql = AuditCursor::select("WHERE name = $1");
        if let Some(c) = self
            .list::<AuditCursor>("read an audit sink", &sql, &[&name])
            .await?
            .into_iter()
            .next()
        {
            return Ok(c);
        }
        let now = codec::ts(chrono::Utc::now());
        let args = Args::of(&[&name, &now]);
        self.write(async |conn| {
            super::exec(
                conn,
                "make an audit sink cursor",
                "INSERT INTO audit_cursors (name, pos, failures, updated_at) \
                 VALUES ($1, 0, 0, $2) ON CONFLICT (name) DO NOTHING",
                &args,
            )
            .await
        })
        .await?;
        self.list::<AuditCursor>("read an audit sink", &sql, &[&name])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("the audit sink cursor is missing"))
    }

    async fn advance_audit_cursor(&self, name: &str, from: i64, to: i64) -> Result<bool> {
        let now = codec::ts(chrono::Utc::now());
        let args = Args::of(&[&to, &now, &name, &from]);
        let moved = self
            .write(async |conn| {
                super::exec(
                    conn,
                    "move an audit sink cursor",
                    "UPDATE audit_cursors SET pos = $1, delivered_at = $2, failures = 0, \
                     last_error = NULL, updated_at = $2 WHERE name = $3 AND pos = $4",
                    &args,
                )
                .await
            })
            .await?;
        Ok(moved == 1)
    }

    async fn audit_cursor_failed(&self, name: &str, error: &str) -> Result<()> {
        let now = codec::ts(chrono::Utc::now());
        let args = Args::of(&[&error, &now, &name]);
        self.write(async |conn| {
            super::exec(
                conn,
                "record an audit sink failure",
                "UPDATE audit_cursors SET failures = failures + 1, last_error = $1, \
                 updated_at = $2 WHERE name = $3",
                &args,
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn replay_audit_cursor(&self, name: &str, from: i64, audit: NewAuditEvent) -> Result<()> {
        self.audit_cursor(name).await?;
        let now = codec::ts(chrono::Utc::now());
        let pos = from.max(1) - 1;
        let args = Args::of(&[&pos, &now, &name]);
        self.write(async |conn| {
            super::exec(
                conn,
                "replay an audit sink",
                "UPDATE audit_cursors SET pos = $1, failures = 0, last_error = NULL, \
                 updated_at = $2 WHERE name = $3",
                &args,
            )
            .await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }
}
