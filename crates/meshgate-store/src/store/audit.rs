//! [`AuditStore`] for [`SqlStore`]: events appended on their own, and reads of the log. The
//! events of a change are written by the change itself ([`super::insert_audit`]).

use crate::codec;
use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{AuditEvent, NewAuditEvent};

use super::{Args, fetch_list, insert_audit};
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
}
