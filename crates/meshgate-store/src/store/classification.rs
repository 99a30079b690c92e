//! [`ClassificationStore`] for [`SqlStore`] (docs/design/CLASSIFICATION.md): the suggested
//! tags of columns. A change is planned outside the store from what it read (a pure function
//! of `meshgate_core::classification`) and committed only if the table's suggestions and
//! column tags are still what it was planned from, so a detection racing a person's decision
//! (or another append's detection) is planned again instead of undoing it.

use async_trait::async_trait;
use meshgate_core::access::ColumnTags;
use meshgate_core::classification::{Change, Suggestion, TableState};
use meshgate_core::model::NewAuditEvent;
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{
    Args, bump_policy_version, catalog, fetch_list, fetch_optional_by_id, insert_audit, locking,
};
use crate::ClassificationStore;
use crate::codec::{to_json, to_thousandths, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

/// A table's suggestions and column tags on `conn`, in a stable order (byte order of the
/// names, sorted here as `column_tags` does: the backends' collations differ).
async fn state_on(conn: &mut AnyConnection, table_id: Uuid) -> Result<TableState> {
    let args = Args::of(&[&table_id]);
    let sql = Suggestion::select("WHERE table_id = $1");
    let mut suggestions: Vec<Suggestion> =
        fetch_list(conn, "read classification suggestions", &sql, &args).await?;
    suggestions.sort_by(|a, b| (&a.column, &a.kind).cmp(&(&b.column, &b.kind)));
    let sql = ColumnTags::select("WHERE table_id = $1");
    let mut tags: Vec<ColumnTags> = fetch_list(conn, "read column tags", &sql, &args).await?;
    tags.sort_by(|a, b| a.column.cmp(&b.column));
    Ok(TableState {
        table_id,
        suggestions,
        tags,
    })
}

async fn table_exists(conn: &mut AnyConnection, sql: &str, table_id: Uuid) -> Result<()> {
    match fetch_optional_by_id(conn, "read a table", sql, table_id).await? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("table", table_id.to_string())),
    }
}

async fn put_suggestion(conn: &mut AnyConnection, s: &Suggestion) -> Result<()> {
    sqlx::query(
        "INSERT INTO classification_suggestions (table_id, column_name, kind, confidence, \
         evidence, tags, added_tags, status, decided_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (table_id, column_name, kind) DO UPDATE SET \
         confidence = excluded.confidence, evidence = excluded.evidence, tags = excluded.tags, \
         added_tags = excluded.added_tags, status = excluded.status, \
         decided_by = excluded.decided_by, updated_at = excluded.updated_at",
    )
    .bind(s.table_id.to_string())
    .bind(s.column.as_str())
    .bind(s.kind.as_str())
    .bind(to_thousandths(s.confidence))
    .bind(s.evidence.as_str())
    .bind(to_json("suggested tags", &s.tags)?)
    .bind(to_json("added tags", &s.added_tags)?)
    .bind(s.status.as_str())
    .bind(s.decided_by.map(|id| id.to_string()))
    .bind(ts(s.created_at))
    .bind(ts(s.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(&subject("classification suggestion", s.kind.as_str()), e))?;
    Ok(())
}

async fn put_column_tags(conn: &mut AnyConnection, c: &ColumnTags) -> Result<()> {
    if c.tags.is_empty() {
        sqlx::query("DELETE FROM column_tags WHERE table_id = $1 AND column_name = $2")
            .bind(c.table_id.to_string())
            .bind(c.column.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("clear column tags", e))?;
    } else {
        sqlx::query(
            "INSERT INTO column_tags (table_id, column_name, tags) VALUES ($1, $2, $3) \
             ON CONFLICT (table_id, column_name) DO UPDATE SET tags = excluded.tags",
        )
        .bind(c.table_id.to_string())
        .bind(c.column.as_str())
        .bind(to_json("column tags", &c.tags)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("column tags", c.column.as_str()), e))?;
    }
    Ok(())
}

#[async_trait]
impl ClassificationStore for SqlStore {
    async fn classification_state(&self, table_id: Uuid) -> Result<TableState> {
        let mut conn = self.read().await?;
        table_exists(
            &mut conn,
            "SELECT id FROM product_tables WHERE id = $1",
            table_id,
        )
        .await?;
        state_on(&mut conn, table_id).await
    }

    async fn product_suggestions(&self, product_id: Uuid) -> Result<Vec<Suggestion>> {
        let sql = Suggestion::select(
            "WHERE table_id IN (SELECT id FROM product_tables WHERE product_id = $1)",
        );
        let mut out: Vec<Suggestion> = self
            .list("read classification suggestions", &sql, &[&product_id])
            .await?;
        out.sort_by(|a, b| (a.table_id, &a.column, &a.kind).cmp(&(b.table_id, &b.column, &b.kind)));
        Ok(out)
    }

    async fn change_classification(
        &self,
        change: &Change,
        audit: Vec<NewAuditEvent>,
    ) -> Result<()> {
        let table_id = change.before.table_id;
        self.write(async |conn| {
            // On PostgreSQL the table's row lock queues the changes of one table, so each
            // compares against what the one before it committed. SQLite's writes are serialised.
            let sql = locking(
                self.backend,
                "SELECT id FROM product_tables WHERE id = $1",
                "FOR UPDATE",
            );
            table_exists(conn, &sql, table_id).await?;
            if state_on(conn, table_id).await? != change.before {
                return Err(Error::conflict(
                    "the table's classification changed meanwhile; try again",
                ));
            }
            for s in &change.suggestions {
                if s.table_id != table_id {
                    return Err(Error::invalid("a suggestion of another table"));
                }
                put_suggestion(conn, s).await?;
            }
            for c in &change.column_tags {
                if c.table_id != table_id {
                    return Err(Error::invalid("column tags of another table"));
                }
                put_column_tags(conn, c).await?;
            }
            if !change.column_tags.is_empty() {
                bump_policy_version(conn).await?;
                catalog::bump_revision_of_table(conn, table_id).await?;
            }
            for event in &audit {
                insert_audit(conn, event).await?;
            }
            Ok(())
        })
        .await
    }
}
