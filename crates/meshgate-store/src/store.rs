//! [`Store`] for [`SqlStore`]: the queries, written once for both backends.
//!
//! Each mutating method runs its statements in one write transaction (see
//! [`SqlStore::begin_write`]) through a free function taking the connection, so that `?` inside
//! the body rolls the whole change back, audit event included. Where the backends need
//! different SQL (job leasing, row locks) the code branches on [`Backend`].

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::access::{ColumnTags, DataFilter, RowRule, TagMask};
use meshgate_core::catalog::{
    FormTargetKind, FormType, FormTypeRevision, Glossary, GlossaryTerm, ListingState, MetadataForm,
    Rule, TableTags, TermLink, TermRelation,
};
use meshgate_core::credential::{Credential, TableTenancy};
use meshgate_core::lifecycle::ItemStatus;
use meshgate_core::model::{
    ApiToken, AuditEvent, DataProduct, Domain, ExternalLocation, FileGrant, Grant, Job,
    NewAuditEvent, Principal, PrincipalKind, ProductTable, RecipientSettings, Share, ShareDetail,
    ShareItem, ShareLog, ShareSettings, SharingToken, Team, TeamMember, new_id,
};
use meshgate_core::notify::{Contact, DeliveryStatus, Notification, Webhook, WebhookDelivery};
use meshgate_core::{Error, Result};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};
use uuid::Uuid;

mod access;
mod catalog;
mod locations;
mod notify;
mod sharing;

use crate::codec::{self, opt_id, opt_ts, to_json, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};
use crate::{
    AuditFilter, CatalogRows, Due, ItemHealth, NewJob, NotificationBatch, ProductFilter,
    ShareChange, ShareFilter, Store,
};

/// How many values go into one `IN (…)` list; well under both backends' parameter limits.
const IN_CHUNK: usize = 500;
const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 1000;

/// Values for a query whose shape depends on its filters; placeholders are numbered as they
/// are added.
#[derive(Default)]
struct Args(Vec<Arg>);

enum Arg {
    Text(String),
    Int(i64),
}

impl Args {
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

async fn fetch_all(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    args: &Args,
) -> Result<Vec<AnyRow>> {
    args.bind(sql)
        .fetch_all(conn)
        .await
        .map_err(|e| internal(doing, e))
}

async fn insert_audit(conn: &mut AnyConnection, event: &NewAuditEvent) -> Result<i64> {
    let detail = to_json("audit detail", &event.detail)?;
    let row = sqlx::query(
        "INSERT INTO audit_events \
         (at, actor_id, action, object_type, object_id, outcome, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
    )
    .bind(ts(Utc::now()))
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
    codec::int(&row, "seq")
}

async fn bump_policy_version(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE policy_version SET version = version + 1 WHERE id = 1")
        .execute(conn)
        .await
        .map_err(|e| internal("bump the policy version", e))?;
    Ok(())
}

async fn fetch_optional_by_id(
    conn: &mut AnyConnection,
    doing: &str,
    sql: &str,
    id: Uuid,
) -> Result<Option<AnyRow>> {
    sqlx::query(sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(|e| internal(doing, e))
}

async fn count(conn: &mut AnyConnection, doing: &str, sql: &str, args: &Args) -> Result<i64> {
    let row = args
        .bind(sql)
        .fetch_one(conn)
        .await
        .map_err(|e| internal(doing, e))?;
    codec::int(&row, "n")
}

async fn load_items(
    conn: &mut AnyConnection,
    share_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ShareItem>>> {
    let mut by_share: HashMap<Uuid, Vec<ShareItem>> = HashMap::new();
    for chunk in share_ids.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = format!(
            "SELECT {} FROM share_items WHERE share_id IN ({}) ORDER BY created_at, id",
            codec::ITEM_COLS,
            args.ids(chunk)
        );
        for row in fetch_all(conn, "read share items", &sql, &args).await? {
            let item = codec::item(&row)?;
            by_share.entry(item.share_id).or_default().push(item);
        }
    }
    Ok(by_share)
}

async fn load_share(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ShareDetail>> {
    let sql = format!("SELECT {} FROM shares WHERE id = $1", codec::SHARE_COLS);
    let Some(row) = fetch_optional_by_id(conn, "read a share", &sql, id).await? else {
        return Ok(None);
    };
    let share = codec::share(&row)?;
    let items = load_items(conn, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(Some(ShareDetail::new(share, items)))
}

fn check_item_belongs(item: &ShareItem, share_id: Uuid) -> Result<()> {
    if item.share_id == share_id {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "share item `{}` belongs to share `{}`, not `{share_id}`",
            item.id, item.share_id
        )))
    }
}

async fn insert_item(conn: &mut AnyConnection, item: &ShareItem) -> Result<()> {
    sqlx::query(
        "INSERT INTO share_items (id, share_id, kind, table_id, path, permission, scope, \
         status, health, health_message, last_verified_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $13, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(item.id.to_string())
    .bind(item.share_id.to_string())
    .bind(item.kind.as_str())
    .bind(opt_id(item.table_id))
    .bind(item.permission.as_str())
    .bind(codec::scope_col(&item.scope)?)
    .bind(item.status.as_str())
    .bind(item.health.map(|h| h.as_str()))
    .bind(item.health_message.as_deref())
    .bind(opt_ts(item.last_verified_at))
    .bind(ts(item.created_at))
    .bind(ts(item.updated_at))
    .bind(item.path.as_deref())
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("share item", item.id.to_string()), e))?;
    Ok(())
}

async fn insert_table(conn: &mut AnyConnection, table: &ProductTable) -> Result<()> {
    let columns = to_json("table columns", &table.columns)?;
    sqlx::query(
        "INSERT INTO product_tables (id, product_id, name, description, location, managed, \
         columns, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(table.id.to_string())
    .bind(table.product_id.to_string())
    .bind(table.name.as_str())
    .bind(table.description.as_str())
    .bind(table.location.as_str())
    .bind(table.managed)
    .bind(columns)
    .bind(ts(table.created_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("table", table.name.as_str()), e))?;
    Ok(())
}

/// Whether share item `item` exists and belongs to `share`.
async fn item_in_share(conn: &mut AnyConnection, item: Uuid, share: &str) -> Result<bool> {
    let mut args = Args::default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM share_items WHERE id = {} AND share_id = {}",
        args.text(item.to_string()),
        args.text(share)
    );
    Ok(count(conn, "read a share item", &sql, &args).await? > 0)
}

/// Deletes an item's table grants and file grants; returns how many went.
async fn delete_grants_of_item(conn: &mut AnyConnection, item: Uuid, share: &str) -> Result<u64> {
    let mut n = 0;
    for table in ["grants", "file_grants"] {
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE share_item_id = $1 \
             AND share_item_id IN (SELECT id FROM share_items WHERE share_id = $2)"
        ))
        .bind(item.to_string())
        .bind(share)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("delete grants", e))?;
        n += done.rows_affected();
    }
    Ok(n)
}

/// On PostgreSQL, share-locks the data filters that new grants use, so that a concurrent
/// [`Store::delete_data_filter`] (which locks the filter, then counts the grants using it)
/// either sees these grants or finishes first. SQLite needs nothing: its writes are serialised.
async fn lock_filters_of(
    conn: &mut AnyConnection,
    backend: Backend,
    grants: &[Grant],
) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    let mut ids: Vec<Uuid> = grants
        .iter()
        .flat_map(|g| g.scope.data_filters.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = format!(
            "SELECT id FROM data_filters WHERE id IN ({}) ORDER BY id FOR SHARE",
            args.ids(chunk)
        );
        fetch_all(conn, "lock data filters", &sql, &args).await?;
    }
    Ok(())
}

async fn apply_change(
    conn: &mut AnyConnection,
    backend: Backend,
    change: &ShareChange,
) -> Result<ShareDetail> {
    let now = ts(Utc::now());
    let share_id = change.share_id.to_string();

    // The version check and the bump are one statement, so two racing changes cannot both pass
    // it: on PostgreSQL the second waits for the first's row lock and then sees the new version.
    let updated = sqlx::query(
        "UPDATE shares SET version = version + 1, updated_at = $3, \
         status = COALESCE($4, status), decision_notes = COALESCE($5, decision_notes), \
         decided_by = COALESCE($6, decided_by), deleted_reason = COALESCE($7, deleted_reason) \
         WHERE id = $1 AND version = $2",
    )
    .bind(share_id.as_str())
    .bind(change.expected_version)
    .bind(now)
    .bind(change.status.map(|s| s.as_str()))
    .bind(change.decision_notes.as_deref())
    .bind(opt_id(change.decided_by))
    .bind(change.deleted_reason.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("update a share", e))?;
    if updated.rows_affected() == 0 {
        let row = fetch_optional_by_id(
            conn,
            "read a share",
            "SELECT version FROM shares WHERE id = $1",
            change.share_id,
        )
        .await?;
        return Err(match row {
            None => Error::not_found("share", share_id),
            Some(row) => Error::conflict(format!(
                "share `{share_id}` was changed concurrently (now version {}, you had {}); \
                 reload it and retry",
                codec::int(&row, "version")?,
                change.expected_version
            )),
        });
    }

    if let Some(terms) = &change.terms {
        sqlx::query(
            "UPDATE shares SET expires_at = $2, extension_expiry = $3, extension_reason = $4, \
             local_name = $5, expiry_reminded_at = $6, pending_reminded_at = $7, \
             submitted_at = $8 WHERE id = $1",
        )
        .bind(share_id.as_str())
        .bind(opt_ts(terms.expires_at))
        .bind(opt_ts(terms.extension_expiry))
        .bind(terms.extension_reason.as_deref())
        .bind(terms.local_name.as_deref())
        .bind(opt_ts(terms.expiry_reminded_at))
        .bind(opt_ts(terms.pending_reminded_at))
        .bind(opt_ts(terms.submitted_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("update a share's terms", e))?;
    }
    for item in &change.new_items {
        check_item_belongs(item, change.share_id)?;
        insert_item(conn, item).await?;
    }
    for (item_id, status) in &change.item_status {
        // Health is an axis of shared items: an item that stops giving access loses it.
        let sql = if status.is_shared() {
            "UPDATE share_items SET status = $1, updated_at = $2 WHERE id = $3 AND share_id = $4"
        } else {
            "UPDATE share_items SET status = $1, updated_at = $2, health = NULL, \
             health_message = NULL WHERE id = $3 AND share_id = $4"
        };
        let done = sqlx::query(sql)
            .bind(status.as_str())
            .bind(now)
            .bind(item_id.to_string())
            .bind(share_id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("update a share item", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("share item", item_id.to_string()));
        }
    }
    for ItemHealth {
        item_id,
        health,
        message,
        verified_at,
    } in &change.item_health
    {
        let done = sqlx::query(
            "UPDATE share_items SET health = $1, health_message = $2, last_verified_at = $3, \
             updated_at = $4 WHERE id = $5 AND share_id = $6",
        )
        .bind(health.as_str())
        .bind(message.as_deref())
        .bind(ts(*verified_at))
        .bind(now)
        .bind(item_id.to_string())
        .bind(share_id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("update a share item", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("share item", item_id.to_string()));
        }
    }
    for (item_id, scope) in &change.item_scopes {
        let done = sqlx::query(
            "UPDATE share_items SET scope = $1, updated_at = $2 WHERE id = $3 AND share_id = $4",
        )
        .bind(codec::scope_col(scope)?)
        .bind(now)
        .bind(item_id.to_string())
        .bind(share_id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("update a share item", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("share item", item_id.to_string()));
        }
    }

    let mut grants_changed = false;
    for item_id in &change.grants_to_remove {
        grants_changed |= delete_grants_of_item(conn, *item_id, &share_id).await? > 0;
    }
    for item_id in &change.removed_items {
        // Grants go with their item; deleted explicitly (not only by cascade) so that the
        // policy version moves when they do.
        grants_changed |= delete_grants_of_item(conn, *item_id, &share_id).await? > 0;
        let done = sqlx::query("DELETE FROM share_items WHERE id = $1 AND share_id = $2")
            .bind(item_id.to_string())
            .bind(share_id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("delete a share item", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("share item", item_id.to_string()));
        }
    }
    lock_filters_of(conn, backend, &change.grants_to_add).await?;
    for grant in &change.grants_to_add {
        if !item_in_share(conn, grant.share_item_id, &share_id).await? {
            return Err(Error::not_found(
                "share item",
                grant.share_item_id.to_string(),
            ));
        }
        let (grantee_type, grantee_id) = codec::grantee_cols(grant.grantee);
        sqlx::query(
            "INSERT INTO grants (id, share_item_id, grantee_type, grantee_id, table_id, \
             permission, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(grant.id.to_string())
        .bind(grant.share_item_id.to_string())
        .bind(grantee_type)
        .bind(grantee_id)
        .bind(grant.table_id.to_string())
        .bind(grant.permission.as_str())
        .bind(codec::scope_col(&grant.scope)?)
        .bind(ts(grant.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("grant", grant.id.to_string()), e))?;
        grants_changed = true;
    }
    for grant in &change.file_grants_to_add {
        if !item_in_share(conn, grant.share_item_id, &share_id).await? {
            return Err(Error::not_found(
                "share item",
                grant.share_item_id.to_string(),
            ));
        }
        let (grantee_type, grantee_id) = codec::grantee_cols(grant.grantee);
        sqlx::query(
            "INSERT INTO file_grants (id, share_item_id, grantee_type, grantee_id, product_id, \
             prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(grant.id.to_string())
        .bind(grant.share_item_id.to_string())
        .bind(grantee_type)
        .bind(grantee_id)
        .bind(grant.product_id.to_string())
        .bind(grant.prefix.as_str())
        .bind(ts(grant.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("file grant", grant.id.to_string()), e))?;
        grants_changed = true;
    }
    if grants_changed {
        bump_policy_version(conn).await?;
    }

    for event in &change.audit {
        insert_audit(conn, event).await?;
    }
    for job in &change.jobs {
        insert_job(conn, job, now).await?;
    }

    load_share(conn, change.share_id)
        .await?
        .ok_or_else(|| Error::not_found("share", share_id))
}

/// Enqueues one job, due now.
pub(crate) async fn insert_job(conn: &mut AnyConnection, job: &NewJob, now: i64) -> Result<()> {
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

/// Creates a share with its first items and its audit event (one transaction's statements).
async fn create_share_tx(
    conn: &mut AnyConnection,
    share: &Share,
    items: &[ShareItem],
    audit: &NewAuditEvent,
) -> Result<()> {
    let sql = "SELECT team_id FROM products WHERE id = $1";
    let Some(product) =
        fetch_optional_by_id(conn, "read a data product", sql, share.product_id).await?
    else {
        return Err(Error::not_found(
            "data product",
            share.product_id.to_string(),
        ));
    };
    let owner_team = codec::text(&product, "team_id")?;
    sqlx::query(
        "INSERT INTO shares (id, product_id, owner_team_id, requester_team_id, \
             requester_principal_id, created_by, reason, status, requested_expiry, \
             decision_notes, decided_by, version, created_at, updated_at, deleted_reason, \
             expires_at, extension_expiry, extension_reason, local_name, expiry_reminded_at, \
             pending_reminded_at, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22)",
    )
    .bind(share.id.to_string())
    .bind(share.product_id.to_string())
    .bind(owner_team)
    .bind(opt_id(share.requester_team_id))
    .bind(opt_id(share.requester_principal_id))
    .bind(share.created_by.to_string())
    .bind(share.reason.as_str())
    .bind(share.status.as_str())
    .bind(opt_ts(share.requested_expiry))
    .bind(share.decision_notes.as_deref())
    .bind(opt_id(share.decided_by))
    .bind(share.version)
    .bind(ts(share.created_at))
    .bind(ts(share.updated_at))
    .bind(share.deleted_reason.as_deref())
    .bind(opt_ts(share.terms.expires_at))
    .bind(opt_ts(share.terms.extension_expiry))
    .bind(share.terms.extension_reason.as_deref())
    .bind(share.terms.local_name.as_deref())
    .bind(opt_ts(share.terms.expiry_reminded_at))
    .bind(opt_ts(share.terms.pending_reminded_at))
    .bind(opt_ts(share.terms.submitted_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(&subject("share", share.id.to_string()), e))?;
    for item in items {
        check_item_belongs(item, share.id)?;
        insert_item(conn, item).await?;
    }
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn delete_product_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    id: Uuid,
    audit: &NewAuditEvent,
) -> Result<()> {
    let product_sql = match backend {
        Backend::Postgres => "SELECT name FROM products WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT name FROM products WHERE id = $1",
    };
    let Some(row) = fetch_optional_by_id(conn, "read a data product", product_sql, id).await?
    else {
        return Err(Error::not_found("data product", id.to_string()));
    };
    let name = codec::text(&row, "name")?;
    if backend == Backend::Postgres {
        // Lock the product's shares: a concurrent share change holds (or waits for) the same
        // row locks, so the item check below sees its outcome rather than racing it. SQLite
        // needs nothing: its writes are serialised.
        sqlx::query("SELECT id FROM shares WHERE product_id = $1 FOR UPDATE")
            .bind(id.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| internal("lock shares", e))?;
    }
    let statuses = sqlx::query(
        "SELECT DISTINCT i.status FROM share_items i JOIN shares s ON s.id = i.share_id \
         WHERE s.product_id = $1",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| internal("read share items", e))?;
    for row in &statuses {
        if codec::enum_of::<ItemStatus>(row, "status")?.is_shared() {
            return Err(Error::conflict(format!(
                "cannot delete data product `{name}`: some of its shares still give access; \
                 revoke its shares first"
            )));
        }
    }
    // The product's fine-grained access goes with it. Explicit rather than left to the
    // cascades, like its tables, so that the statements say what a delete removes.
    for sql in [
        "DELETE FROM data_filters WHERE product_id = $1",
        "DELETE FROM row_rules WHERE product_id = $1",
        "DELETE FROM column_tags WHERE table_id IN \
         (SELECT id FROM product_tables WHERE product_id = $1)",
        "DELETE FROM tenant_tables WHERE table_id IN \
         (SELECT id FROM product_tables WHERE product_id = $1)",
        // Its catalog metadata (issue 7).
        "DELETE FROM table_tags WHERE table_id IN \
         (SELECT id FROM product_tables WHERE product_id = $1)",
        "DELETE FROM metadata_forms WHERE product_id = $1",
        "DELETE FROM glossary_term_links WHERE product_id = $1",
        "DELETE FROM product_tables WHERE product_id = $1",
        "DELETE FROM products WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("delete a data product", e))?;
    }
    bump_policy_version(conn).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn create_data_filter_tx(
    conn: &mut AnyConnection,
    filter: &DataFilter,
    audit: &NewAuditEvent,
) -> Result<()> {
    let sql = "SELECT name, product_id FROM product_tables WHERE id = $1";
    let Some(table) = fetch_optional_by_id(conn, "read a table", sql, filter.table_id).await?
    else {
        return Err(Error::not_found("table", filter.table_id.to_string()));
    };
    if codec::uuid(&table, "product_id")? != filter.product_id {
        return Err(Error::invalid(format!(
            "table `{}` does not belong to data product `{}`",
            codec::text(&table, "name")?,
            filter.product_id
        )));
    }
    let columns = filter
        .columns
        .as_ref()
        .map(|c| to_json("data filter columns", c))
        .transpose()?;
    sqlx::query(
        "INSERT INTO data_filters (id, product_id, table_id, name, description, row_filter, \
         columns, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(filter.id.to_string())
    .bind(filter.product_id.to_string())
    .bind(filter.table_id.to_string())
    .bind(filter.name.as_str())
    .bind(filter.description.as_str())
    .bind(filter.row_filter.as_deref())
    .bind(columns)
    .bind(filter.created_by.to_string())
    .bind(ts(filter.created_at))
    .bind(ts(filter.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(&subject("data filter", filter.name.as_str()), e))?;
    bump_policy_version(conn).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn delete_data_filter_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    id: Uuid,
    audit: &NewAuditEvent,
) -> Result<()> {
    // On PostgreSQL the row lock orders this delete against share changes adding grants that
    // use the filter (they share-lock it first, see `lock_filters_of`), so the count below
    // cannot miss one. SQLite's writes are serialised.
    let filter_sql = match backend {
        Backend::Postgres => "SELECT name FROM data_filters WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT name FROM data_filters WHERE id = $1",
    };
    let Some(row) = fetch_optional_by_id(conn, "read a data filter", filter_sql, id).await? else {
        return Err(Error::not_found("data filter", id.to_string()));
    };
    let name = codec::text(&row, "name")?;
    // Scopes are JSON text: the LIKE narrows the candidates on both backends alike (a uuid has
    // no wildcard characters), the parsed scope decides.
    let mut args = Args::default();
    let sql = format!(
        "SELECT {} FROM grants WHERE scope LIKE {}",
        codec::GRANT_COLS,
        args.text(format!("%{id}%"))
    );
    let using = all(
        fetch_all(conn, "read grants", &sql, &args).await?,
        codec::grant,
    )?
    .into_iter()
    .filter(|g| g.scope.data_filters.contains(&id))
    .count();
    if using > 0 {
        let grants = if using == 1 {
            "1 grant uses it".to_string()
        } else {
            format!("{using} grants use it")
        };
        return Err(Error::conflict(format!(
            "cannot delete data filter `{name}`: {grants}; revoke the shares that use it first"
        )));
    }
    sqlx::query("DELETE FROM data_filters WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("delete a data filter", e))?;
    bump_policy_version(conn).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn replace_row_rules_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    product_id: Uuid,
    rules: &[RowRule],
    audit: &NewAuditEvent,
) -> Result<()> {
    // On PostgreSQL the product's row lock queues concurrent replacements (and a product
    // delete), so each one's delete sees the rules the previous one wrote.
    let product_sql = match backend {
        Backend::Postgres => "SELECT id FROM products WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT id FROM products WHERE id = $1",
    };
    if fetch_optional_by_id(conn, "read a data product", product_sql, product_id)
        .await?
        .is_none()
    {
        return Err(Error::not_found("data product", product_id.to_string()));
    }
    sqlx::query("DELETE FROM row_rules WHERE product_id = $1")
        .bind(product_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("delete row rules", e))?;
    for (ordinal, rule) in (0_i64..).zip(rules) {
        let values = to_json("row rule values", &rule.values)?;
        sqlx::query(
            "INSERT INTO row_rules (product_id, ordinal, user_name, group_name, field_values) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(product_id.to_string())
        .bind(ordinal)
        .bind(rule.user_name.as_deref())
        .bind(rule.group_name.as_deref())
        .bind(values)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("row rule", ordinal.to_string()), e))?;
    }
    bump_policy_version(conn).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn set_column_tags_tx(
    conn: &mut AnyConnection,
    tags: &ColumnTags,
    audit: &NewAuditEvent,
) -> Result<()> {
    let sql = "SELECT id FROM product_tables WHERE id = $1";
    if fetch_optional_by_id(conn, "read a table", sql, tags.table_id)
        .await?
        .is_none()
    {
        return Err(Error::not_found("table", tags.table_id.to_string()));
    }
    let done = if tags.tags.is_empty() {
        sqlx::query("DELETE FROM column_tags WHERE table_id = $1 AND column_name = $2")
            .bind(tags.table_id.to_string())
            .bind(tags.column.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("clear column tags", e))?
    } else {
        sqlx::query(
            "INSERT INTO column_tags (table_id, column_name, tags) VALUES ($1, $2, $3) \
             ON CONFLICT (table_id, column_name) DO UPDATE SET tags = excluded.tags",
        )
        .bind(tags.table_id.to_string())
        .bind(tags.column.as_str())
        .bind(to_json("column tags", &tags.tags)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("column tags", tags.column.as_str()), e))?
    };
    if done.rows_affected() > 0 {
        bump_policy_version(conn).await?;
        catalog::bump_revision_of_table(conn, tags.table_id).await?;
    }
    insert_audit(conn, audit).await?;
    Ok(())
}

/// Reads rows with a query taking one text argument (or none, if `arg` is `None`).
async fn rows(
    pool: &sqlx::AnyPool,
    doing: &str,
    sql: &str,
    arg: Option<String>,
) -> Result<Vec<AnyRow>> {
    let mut q = sqlx::query(sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    q.fetch_all(pool).await.map_err(|e| internal(doing, e))
}

async fn row(
    pool: &sqlx::AnyPool,
    doing: &str,
    sql: &str,
    args: Vec<String>,
) -> Result<Option<AnyRow>> {
    args.into_iter()
        .fold(sqlx::query(sql), |q, a| q.bind(a))
        .fetch_optional(pool)
        .await
        .map_err(|e| internal(doing, e))
}

fn all<T>(rows: Vec<AnyRow>, f: impl Fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

/// Names of the rows of `mesh_secrets`.
const SIGNING_KEY: &str = "credential_signing_key";
const MASK_KEY: &str = "mask_key";

impl SqlStore {
    /// A random 32-byte secret of the mesh, created on first use: the first caller wins, and
    /// every replica then reads the same value.
    async fn mesh_secret(&self, name: &str, what: &str) -> Result<Vec<u8>> {
        let read = || async {
            row(
                &self.pool,
                &format!("read the {what}"),
                "SELECT value FROM mesh_secrets WHERE name = $1",
                vec![name.to_string()],
            )
            .await
        };
        // Read first: the key exists after the first call, and reading takes no write lock.
        let found = match read().await? {
            Some(found) => found,
            None => {
                self.create_mesh_secret(name, what).await?;
                read()
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

    /// Runs `query` and appends `audit` in one transaction. With `not_found`, a query that
    /// changes no row fails with it; with `bump_policy`, one that does bumps the policy version.
    async fn write_one<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
        on_error: impl FnOnce(sqlx::Error) -> Error,
        not_found: Option<Error>,
        audit: &NewAuditEvent,
        bump_policy: bool,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let done = query.execute(&mut *w.conn()).await.map_err(on_error)?;
            if done.rows_affected() == 0
                && let Some(err) = not_found
            {
                return Err(err);
            }
            if bump_policy && done.rows_affected() > 0 {
                bump_policy_version(w.conn()).await?;
            }
            insert_audit(w.conn(), audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }
}

impl SqlStore {
    /// Rows of a grant table (`grants` or `file_grants`) for a principal directly or for any
    /// of `teams`, oldest first within each.
    async fn grantee_rows(
        &self,
        table: &str,
        cols: &str,
        principal_id: Uuid,
        teams: &[Uuid],
    ) -> Result<Vec<AnyRow>> {
        let mut conn = self.read().await?;
        grantee_rows(&mut conn, table, cols, principal_id, teams).await
    }
}

/// Rows of a grant table (`grants` or `file_grants`) for a principal directly or for any of
/// `teams`, each part oldest first.
async fn grantee_rows(
    conn: &mut AnyConnection,
    table: &str,
    cols: &str,
    principal_id: Uuid,
    teams: &[Uuid],
) -> Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    let mut args = Args::default();
    let sql = format!(
        "SELECT {cols} FROM {table} WHERE grantee_type = {} AND grantee_id = {} \
         ORDER BY created_at, id",
        args.text(codec::GRANTEE_PRINCIPAL),
        args.text(principal_id.to_string())
    );
    out.extend(fetch_all(conn, "read grants", &sql, &args).await?);
    for chunk in teams.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE grantee_type = {} AND grantee_id IN ({}) \
             ORDER BY created_at, id",
            args.text(codec::GRANTEE_TEAM),
            args.ids(chunk)
        );
        out.extend(fetch_all(conn, "read grants", &sql, &args).await?);
    }
    Ok(out)
}

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

    // ----- principals, groups, tokens -----

    async fn create_principal(&self, principal: &Principal, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO principals (id, name, kind, display_name, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(principal.id.to_string())
        .bind(principal.name.as_str())
        .bind(principal.kind.as_str())
        .bind(principal.display_name.as_str())
        .bind(principal.is_admin)
        .bind(ts(principal.created_at));
        let on_error = |e| write_error(&subject("principal", principal.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_principal(&self, id: Uuid) -> Result<Option<Principal>> {
        let sql = format!(
            "SELECT {} FROM principals WHERE id = $1",
            codec::PRINCIPAL_COLS
        );
        row(&self.pool, "read a principal", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::principal(&r))
            .transpose()
    }

    async fn get_principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        let sql = format!(
            "SELECT {} FROM principals WHERE name = $1",
            codec::PRINCIPAL_COLS
        );
        row(&self.pool, "read a principal", &sql, vec![name.to_string()])
            .await?
            .map(|r| codec::principal(&r))
            .transpose()
    }

    async fn list_principals(&self) -> Result<Vec<Principal>> {
        let sql = format!(
            "SELECT {} FROM principals ORDER BY name",
            codec::PRINCIPAL_COLS
        );
        all(
            rows(&self.pool, "list principals", &sql, None).await?,
            codec::principal,
        )
    }

    async fn has_admin(&self) -> Result<bool> {
        let n = sqlx::query("SELECT COUNT(*) AS n FROM principals WHERE is_admin")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("count admins", e))?;
        Ok(codec::int(&n, "n")? > 0)
    }

    async fn add_group_member(
        &self,
        group: Uuid,
        member: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
            let sql = "SELECT kind, name FROM principals WHERE id = $1";
            let Some(g) = fetch_optional_by_id(conn, "read a principal", sql, group).await? else {
                return Err(Error::not_found("group", group.to_string()));
            };
            if codec::enum_of::<PrincipalKind>(&g, "kind")? != PrincipalKind::Group {
                return Err(Error::invalid(format!(
                    "principal `{}` is not a group",
                    codec::text(&g, "name")?
                )));
            }
            if fetch_optional_by_id(conn, "read a principal", sql, member)
                .await?
                .is_none()
            {
                return Err(Error::not_found("principal", member.to_string()));
            }
            let done = sqlx::query(
                "INSERT INTO group_members (group_id, member_id) VALUES ($1, $2) \
                 ON CONFLICT (group_id, member_id) DO NOTHING",
            )
            .bind(group.to_string())
            .bind(member.to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("group member", member.to_string()), e))?;
            if done.rows_affected() > 0 {
                bump_policy_version(conn).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn remove_group_member(
        &self,
        group: Uuid,
        member: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND member_id = $2")
            .bind(group.to_string())
            .bind(member.to_string());
        let not_found = Error::not_found("group member", member.to_string());
        self.write_one(
            query,
            |e| internal("remove a group member", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn groups_of(&self, member: Uuid) -> Result<Vec<Uuid>> {
        let sql = "SELECT group_id FROM group_members WHERE member_id = $1 ORDER BY group_id";
        all(
            rows(&self.pool, "list groups", sql, Some(member.to_string())).await?,
            |r| codec::uuid(r, "group_id"),
        )
    }

    async fn create_token(&self, token: &ApiToken, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO api_tokens (id, principal_id, name, token_hash, created_at, expires_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.to_string())
        .bind(token.principal_id.to_string())
        .bind(token.name.as_str())
        .bind(token.token_hash.as_str())
        .bind(ts(token.created_at))
        .bind(opt_ts(token.expires_at))
        .bind(opt_ts(token.revoked_at));
        let on_error = |e| write_error(&subject("token", token.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<(ApiToken, Principal)>> {
        let Some(t) = row(
            &self.pool,
            "read a token",
            &format!(
                "SELECT {} FROM api_tokens WHERE token_hash = $1",
                codec::TOKEN_COLS
            ),
            vec![token_hash.to_string()],
        )
        .await?
        else {
            return Ok(None);
        };
        let token = codec::token(&t)?;
        let Some(principal) = self.get_principal(token.principal_id).await? else {
            return Ok(None);
        };
        Ok(Some((token, principal)))
    }

    async fn list_tokens(&self, principal_id: Uuid) -> Result<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {} FROM api_tokens WHERE principal_id = $1 ORDER BY created_at, id",
            codec::TOKEN_COLS
        );
        all(
            rows(
                &self.pool,
                "list tokens",
                &sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::token,
        )
    }

    async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {} FROM api_tokens WHERE id = $1", codec::TOKEN_COLS);
        row(&self.pool, "read a token", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::token(&r))
            .transpose()
    }

    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(ts(at));
        let not_found = Error::not_found("token", id.to_string());
        self.write_one(
            query,
            |e| internal("revoke a token", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    // ----- domains and teams -----

    async fn create_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO domains (id, name, description, producer, consumer, created_at, \
             parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(domain.id.to_string())
        .bind(domain.name.as_str())
        .bind(domain.description.as_str())
        .bind(domain.producer)
        .bind(domain.consumer)
        .bind(ts(domain.created_at))
        .bind(opt_id(domain.parent_id));
        let on_error = |e| write_error(&subject("domain", domain.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_domain(&self, id: Uuid) -> Result<Option<Domain>> {
        let sql = format!("SELECT {} FROM domains WHERE id = $1", codec::DOMAIN_COLS);
        row(&self.pool, "read a domain", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::domain(&r))
            .transpose()
    }

    async fn get_domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        let sql = format!("SELECT {} FROM domains WHERE name = $1", codec::DOMAIN_COLS);
        row(&self.pool, "read a domain", &sql, vec![name.to_string()])
            .await?
            .map(|r| codec::domain(&r))
            .transpose()
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let sql = format!("SELECT {} FROM domains ORDER BY name", codec::DOMAIN_COLS);
        all(
            rows(&self.pool, "list domains", &sql, None).await?,
            codec::domain,
        )
    }

    async fn update_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "UPDATE domains SET description = $2, producer = $3, consumer = $4 WHERE id = $1",
        )
        .bind(domain.id.to_string())
        .bind(domain.description.as_str())
        .bind(domain.producer)
        .bind(domain.consumer);
        let not_found = Error::not_found("domain", domain.name.as_str());
        self.write_one(
            query,
            |e| internal("update a domain", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn create_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO teams (id, domain_id, name, description, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(team.id.to_string())
        .bind(team.domain_id.to_string())
        .bind(team.name.as_str())
        .bind(team.description.as_str())
        .bind(ts(team.created_at));
        let on_error = |e| write_error(&subject("team", team.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_team(&self, id: Uuid) -> Result<Option<Team>> {
        let sql = format!("SELECT {} FROM teams WHERE id = $1", codec::TEAM_COLS);
        row(&self.pool, "read a team", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::team(&r))
            .transpose()
    }

    async fn get_team_by_name(&self, domain_id: Uuid, name: &str) -> Result<Option<Team>> {
        let sql = format!(
            "SELECT {} FROM teams WHERE domain_id = $1 AND name = $2",
            codec::TEAM_COLS
        );
        row(
            &self.pool,
            "read a team",
            &sql,
            vec![domain_id.to_string(), name.to_string()],
        )
        .await?
        .map(|r| codec::team(&r))
        .transpose()
    }

    async fn list_teams(&self, domain_id: Option<Uuid>) -> Result<Vec<Team>> {
        let (sql, arg) = match domain_id {
            Some(d) => (
                format!(
                    "SELECT {} FROM teams WHERE domain_id = $1 ORDER BY name, id",
                    codec::TEAM_COLS
                ),
                Some(d.to_string()),
            ),
            None => (
                format!("SELECT {} FROM teams ORDER BY name, id", codec::TEAM_COLS),
                None,
            ),
        };
        all(
            rows(&self.pool, "list teams", &sql, arg).await?,
            codec::team,
        )
    }

    async fn put_team_member(&self, member: &TeamMember, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO team_members (team_id, principal_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (team_id, principal_id) DO UPDATE SET role = excluded.role",
        )
        .bind(member.team_id.to_string())
        .bind(member.principal_id.to_string())
        .bind(member.role.as_str());
        let on_error = |e| write_error(&subject("team member", member.principal_id.to_string()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn remove_team_member(
        &self,
        team_id: Uuid,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query =
            sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND principal_id = $2")
                .bind(team_id.to_string())
                .bind(principal_id.to_string());
        let not_found = Error::not_found("team member", principal_id.to_string());
        self.write_one(
            query,
            |e| internal("remove a team member", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn list_team_members(&self, team_id: Uuid) -> Result<Vec<TeamMember>> {
        let sql = "SELECT team_id, principal_id, role FROM team_members WHERE team_id = $1 \
                   ORDER BY principal_id";
        all(
            rows(
                &self.pool,
                "list team members",
                sql,
                Some(team_id.to_string()),
            )
            .await?,
            codec::team_member,
        )
    }

    async fn memberships_of(&self, principal_id: Uuid) -> Result<Vec<TeamMember>> {
        let sql = "SELECT team_id, principal_id, role FROM team_members WHERE principal_id = $1 \
                   ORDER BY team_id";
        all(
            rows(
                &self.pool,
                "list memberships",
                sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::team_member,
        )
    }

    // ----- data products and tables -----

    async fn create_product(
        &self,
        product: &DataProduct,
        tables: &[ProductTable],
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
            sqlx::query(
                "INSERT INTO products (id, domain_id, team_id, name, description, created_at, \
                 updated_at, listing, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(product.id.to_string())
            .bind(product.domain_id.to_string())
            .bind(product.team_id.to_string())
            .bind(product.name.as_str())
            .bind(product.description.as_str())
            .bind(ts(product.created_at))
            .bind(ts(product.updated_at))
            .bind(product.listing.as_str())
            .bind(product.revision)
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("data product", product.name.as_str()), e))?;
            for table in tables {
                if table.product_id != product.id {
                    return Err(Error::invalid(format!(
                        "table `{}` belongs to another data product",
                        table.name
                    )));
                }
                insert_table(conn, table).await?;
            }
            // Owners read their own products' tables: a new product changes what they see.
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn get_product(&self, id: Uuid) -> Result<Option<DataProduct>> {
        let sql = format!("SELECT {} FROM products WHERE id = $1", codec::PRODUCT_COLS);
        row(
            &self.pool,
            "read a data product",
            &sql,
            vec![id.to_string()],
        )
        .await?
        .map(|r| codec::product(&r))
        .transpose()
    }

    async fn get_product_by_name(
        &self,
        domain_id: Uuid,
        name: &str,
    ) -> Result<Option<DataProduct>> {
        let sql = format!(
            "SELECT {} FROM products WHERE domain_id = $1 AND name = $2",
            codec::PRODUCT_COLS
        );
        row(
            &self.pool,
            "read a data product",
            &sql,
            vec![domain_id.to_string(), name.to_string()],
        )
        .await?
        .map(|r| codec::product(&r))
        .transpose()
    }

    async fn list_products(&self, filter: &ProductFilter) -> Result<Vec<DataProduct>> {
        let mut args = Args::default();
        let mut sql = format!("SELECT {} FROM products WHERE 1 = 1", codec::PRODUCT_COLS);
        if let Some(d) = filter.domain_id {
            sql += &format!(" AND domain_id = {}", args.text(d.to_string()));
        }
        if let Some(t) = filter.team_id {
            sql += &format!(" AND team_id = {}", args.text(t.to_string()));
        }
        sql += " ORDER BY name, id";
        let mut conn = self.read().await?;
        all(
            fetch_all(&mut conn, "list data products", &sql, &args).await?,
            codec::product,
        )
    }

    async fn delete_product(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_product_tx(w.conn(), self.backend, id, &audit).await;
        w.finish(result).await
    }

    async fn add_table(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
            let touched = sqlx::query("UPDATE products SET updated_at = $2 WHERE id = $1")
                .bind(table.product_id.to_string())
                .bind(ts(Utc::now()))
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("update a data product", e))?;
            if touched.rows_affected() == 0 {
                return Err(Error::not_found(
                    "data product",
                    table.product_id.to_string(),
                ));
            }
            insert_table(conn, table).await?;
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn update_table_columns(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()> {
        let columns = to_json("table columns", &table.columns)?;
        let query = sqlx::query("UPDATE product_tables SET columns = $2 WHERE id = $1")
            .bind(table.id.to_string())
            .bind(columns);
        let not_found = Error::not_found("table", table.name.as_str());
        self.write_one(
            query,
            |e| internal("update a table", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn get_table(&self, id: Uuid) -> Result<Option<ProductTable>> {
        let sql = format!(
            "SELECT {} FROM product_tables WHERE id = $1",
            codec::TABLE_COLS
        );
        row(&self.pool, "read a table", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::table(&r))
            .transpose()
    }

    async fn list_tables(&self, product_id: Uuid) -> Result<Vec<ProductTable>> {
        let sql = format!(
            "SELECT {} FROM product_tables WHERE product_id = $1 ORDER BY name, id",
            codec::TABLE_COLS
        );
        all(
            rows(
                &self.pool,
                "list tables",
                &sql,
                Some(product_id.to_string()),
            )
            .await?,
            codec::table,
        )
    }

    // ----- shares -----

    async fn create_share(
        &self,
        share: &Share,
        items: &[ShareItem],
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = create_share_tx(w.conn(), share, items, &audit).await;
        w.finish(result).await
    }

    async fn get_share(&self, id: Uuid) -> Result<Option<ShareDetail>> {
        let mut conn = self.read().await?;
        load_share(&mut conn, id).await
    }

    async fn list_shares(&self, filter: &ShareFilter) -> Result<Vec<ShareDetail>> {
        let mut args = Args::default();
        let mut sql = format!("SELECT {} FROM shares WHERE 1 = 1", codec::SHARE_COLS);
        if let Some(status) = filter.status {
            sql += &format!(" AND status = {}", args.text(status.as_str()));
        }
        let asks_for_deleted =
            filter.status == Some(meshgate_core::lifecycle::ShareStatus::Deleted);
        if !filter.include_deleted && !asks_for_deleted {
            sql += &format!(" AND status <> {}", args.text("deleted"));
        }
        if let Some(p) = filter.product_id {
            sql += &format!(" AND product_id = {}", args.text(p.to_string()));
        }
        if let Some(t) = filter.requester_team_id {
            sql += &format!(" AND requester_team_id = {}", args.text(t.to_string()));
        }
        if let Some(p) = filter.requester_principal_id {
            sql += &format!(" AND requester_principal_id = {}", args.text(p.to_string()));
        }
        let teams = filter.visible_to_teams.as_deref();
        if teams.is_some() || filter.visible_to_principal.is_some() {
            let mut visible = Vec::new();
            if let Some(teams) = teams.filter(|t| !t.is_empty()) {
                let owner = args.ids(teams);
                let requester = args.ids(teams);
                visible.push(format!("owner_team_id IN ({owner})"));
                visible.push(format!("requester_team_id IN ({requester})"));
            }
            if let Some(p) = filter.visible_to_principal {
                visible.push(format!(
                    "requester_principal_id = {}",
                    args.text(p.to_string())
                ));
            }
            if visible.is_empty() {
                // Restricted to an empty set of teams and no principal: nothing is visible.
                visible.push("1 = 0".to_string());
            }
            sql += &format!(" AND ({})", visible.join(" OR "));
        }
        sql += " ORDER BY created_at DESC, id DESC";
        if let Some(limit) = filter.limit {
            sql += &format!(" LIMIT {}", args.int(i64::from(limit)));
        }
        let mut conn = self.read().await?;
        let shares = all(
            fetch_all(&mut conn, "list shares", &sql, &args).await?,
            codec::share,
        )?;
        let ids: Vec<Uuid> = shares.iter().map(|s| s.id).collect();
        let mut items = load_items(&mut conn, &ids).await?;
        Ok(shares
            .into_iter()
            .map(|s| {
                let its = items.remove(&s.id).unwrap_or_default();
                ShareDetail::new(s, its)
            })
            .collect())
    }

    async fn apply_share_change(&self, change: ShareChange) -> Result<ShareDetail> {
        let mut w = self.begin_write().await?;
        let result = apply_change(w.conn(), self.backend, &change).await;
        w.finish(result).await
    }

    // ----- grants and policy version -----

    async fn grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<Grant>> {
        let rows = self
            .grantee_rows("grants", codec::GRANT_COLS, principal_id, teams)
            .await?;
        all(rows, codec::grant)
    }

    async fn grants_of_share(&self, share_id: Uuid) -> Result<Vec<Grant>> {
        let sql = format!(
            "SELECT {} FROM grants WHERE share_item_id IN \
             (SELECT id FROM share_items WHERE share_id = $1) ORDER BY created_at, id",
            codec::GRANT_COLS
        );
        all(
            rows(&self.pool, "read grants", &sql, Some(share_id.to_string())).await?,
            codec::grant,
        )
    }

    async fn file_grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<FileGrant>> {
        let rows = self
            .grantee_rows("file_grants", codec::FILE_GRANT_COLS, principal_id, teams)
            .await?;
        all(rows, codec::file_grant)
    }

    async fn file_grants_of_share(&self, share_id: Uuid) -> Result<Vec<FileGrant>> {
        let sql = format!(
            "SELECT {} FROM file_grants WHERE share_item_id IN \
             (SELECT id FROM share_items WHERE share_id = $1) ORDER BY created_at, id",
            codec::FILE_GRANT_COLS
        );
        all(
            rows(&self.pool, "read grants", &sql, Some(share_id.to_string())).await?,
            codec::file_grant,
        )
    }

    async fn grants_of_product(&self, product_id: Uuid) -> Result<(Vec<Grant>, Vec<FileGrant>)> {
        let of_product = "SELECT i.id FROM share_items i JOIN shares s ON s.id = i.share_id \
             WHERE s.product_id = $1";
        let sql = format!(
            "SELECT {} FROM grants WHERE share_item_id IN ({of_product})",
            codec::GRANT_COLS
        );
        let grants = all(
            rows(
                &self.pool,
                "read grants",
                &sql,
                Some(product_id.to_string()),
            )
            .await?,
            codec::grant,
        )?;
        let sql = format!(
            "SELECT {} FROM file_grants WHERE share_item_id IN ({of_product})",
            codec::FILE_GRANT_COLS
        );
        let files = all(
            rows(
                &self.pool,
                "read file grants",
                &sql,
                Some(product_id.to_string()),
            )
            .await?,
            codec::file_grant,
        )?;
        Ok((grants, files))
    }

    async fn set_item_health(
        &self,
        updates: &[ItemHealth],
        audit: Vec<NewAuditEvent>,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let now = ts(Utc::now());
            // Items with the same outcome are written together, a chunk of ids per
            // statement (a bulk verify is mostly one outcome: 100,000 items in ~200
            // statements rather than 100,000 round trips).
            let mut groups: BTreeMap<(&str, Option<&str>, i64), Vec<Uuid>> = BTreeMap::new();
            for u in updates {
                groups
                    .entry((u.health.as_str(), u.message.as_deref(), ts(u.verified_at)))
                    .or_default()
                    .push(u.item_id);
            }
            for ((health, message, verified_at), ids) in &groups {
                for chunk in ids.chunks(IN_CHUNK) {
                    let mut args = Args::default();
                    let health = args.text(*health);
                    let message = match message {
                        Some(m) => args.text(*m),
                        None => "NULL".to_string(),
                    };
                    let verified = args.int(*verified_at);
                    let updated = args.int(now);
                    let sql = format!(
                        "UPDATE share_items SET health = {health}, health_message = {message}, \
                         last_verified_at = {verified}, updated_at = {updated} WHERE id IN ({})",
                        args.ids(chunk)
                    );
                    args.bind(&sql)
                        .execute(&mut *w.conn())
                        .await
                        .map_err(|e| internal("record item health", e))?;
                }
            }
            for event in &audit {
                insert_audit(w.conn(), event).await?;
            }
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn local_names(&self, item_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        let mut out = Vec::new();
        let mut conn = self.read().await?;
        for chunk in item_ids.chunks(IN_CHUNK) {
            let mut args = Args::default();
            let sql = format!(
                "SELECT i.id AS id, s.local_name AS local_name FROM share_items i \
                 JOIN shares s ON s.id = i.share_id \
                 WHERE i.id IN ({}) AND s.local_name IS NOT NULL",
                args.ids(chunk)
            );
            for r in fetch_all(&mut conn, "read local names", &sql, &args).await? {
                out.push((codec::uuid(&r, "id")?, codec::text(&r, "local_name")?));
            }
        }
        Ok(out)
    }

    async fn share_settings(&self, product_id: Uuid) -> Result<ShareSettings> {
        let found = row(
            &self.pool,
            "read share settings",
            "SELECT settings FROM share_settings WHERE product_id = $1",
            vec![product_id.to_string()],
        )
        .await?;
        match found {
            Some(r) => codec::json::<ShareSettings>(&r, "settings"),
            None => Ok(ShareSettings::default()),
        }
    }

    async fn put_share_settings(
        &self,
        product_id: Uuid,
        settings: &ShareSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let json = to_json("share settings", settings)?;
        let mut w = self.begin_write().await?;
        let result = async {
            let exists = fetch_optional_by_id(
                w.conn(),
                "read a data product",
                "SELECT id FROM products WHERE id = $1",
                product_id,
            )
            .await?;
            if exists.is_none() {
                return Err(Error::not_found("data product", product_id.to_string()));
            }
            sqlx::query(
                "INSERT INTO share_settings (product_id, settings, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (product_id) DO UPDATE SET settings = $2, updated_at = $3",
            )
            .bind(product_id.to_string())
            .bind(json.as_str())
            .bind(ts(Utc::now()))
            .execute(&mut *w.conn())
            .await
            .map_err(|e| internal("write share settings", e))?;
            insert_audit(w.conn(), &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn append_share_logs(&self, lines: &[ShareLog]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        let result = async {
            for l in lines {
                sqlx::query(
                    "INSERT INTO share_logs (share_id, run_id, job, at, level, message) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(l.share_id.to_string())
                .bind(l.run_id.to_string())
                .bind(l.job.as_str())
                .bind(ts(l.at))
                .bind(l.level.as_str())
                .bind(l.message.as_str())
                .execute(&mut *w.conn())
                .await
                .map_err(|e| internal("write share logs", e))?;
            }
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn share_logs(
        &self,
        share_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ShareLog>> {
        let mut conn = self.read().await?;
        let mut args = Args::default();
        let sql = format!(
            "SELECT {} FROM share_logs WHERE share_id = {} AND seq > {} ORDER BY seq LIMIT {}",
            codec::SHARE_LOG_COLS,
            args.text(share_id.to_string()),
            args.int(after_seq),
            args.int(i64::from(limit.clamp(1, 5000)))
        );
        all(
            fetch_all(&mut conn, "read share logs", &sql, &args).await?,
            codec::share_log,
        )
    }

    async fn due_shares(&self, due: Due, at: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>> {
        // States whose items may give access.
        const GIVING: &str = "('processed', 'draft', 'submitted', 'rejected', \
             'extension_rejected', 'submitted_for_extension')";
        const SHARED_ITEMS: &str = "('share_succeeded', 'revoke_failed', 'pending_extension')";
        let mut conn = self.read().await?;
        let mut args = Args::default();
        let when = args.int(ts(at));
        let cond = match due {
            Due::Expired => format!(
                "s.expires_at IS NOT NULL AND s.expires_at <= {when} AND s.status IN {GIVING} \
                 AND EXISTS (SELECT 1 FROM share_items i WHERE i.share_id = s.id \
                 AND i.status IN {SHARED_ITEMS})"
            ),
            Due::ExpiringBefore => format!(
                "s.expires_at IS NOT NULL AND s.expires_at <= {when} \
                 AND s.expiry_reminded_at IS NULL AND s.status IN {GIVING} \
                 AND EXISTS (SELECT 1 FROM share_items i WHERE i.share_id = s.id \
                 AND i.status IN {SHARED_ITEMS})"
            ),
            Due::PendingSince => format!(
                "s.status = 'submitted' AND s.submitted_at IS NOT NULL \
                 AND s.submitted_at <= {when} \
                 AND (s.pending_reminded_at IS NULL OR s.pending_reminded_at <= {when})"
            ),
            Due::UnverifiedSince => format!(
                "s.status <> 'deleted' AND EXISTS (SELECT 1 FROM share_items i \
                 WHERE i.share_id = s.id AND i.status IN {SHARED_ITEMS} \
                 AND (i.last_verified_at IS NULL OR i.last_verified_at <= {when}))"
            ),
        };
        let sql = format!(
            "SELECT s.id AS id FROM shares s WHERE {cond} ORDER BY s.created_at, s.id LIMIT {}",
            args.int(i64::from(limit.max(1)))
        );
        fetch_all(&mut conn, "find due shares", &sql, &args)
            .await?
            .iter()
            .map(|r| codec::uuid(r, "id"))
            .collect()
    }

    async fn enqueue_jobs(&self, jobs: &[NewJob], audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let now = ts(Utc::now());
            for job in jobs {
                insert_job(w.conn(), job, now).await?;
            }
            insert_audit(w.conn(), &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    async fn policy_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT version FROM policy_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("read the policy version", e))?;
        codec::int(&row, "version")
    }

    // ----- fine-grained access (docs/design/ACCESS.md) -----

    async fn create_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = create_data_filter_tx(w.conn(), filter, &audit).await;
        w.finish(result).await
    }

    async fn update_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()> {
        let columns = filter
            .columns
            .as_ref()
            .map(|c| to_json("data filter columns", c))
            .transpose()?;
        let query = sqlx::query(
            "UPDATE data_filters SET description = $2, row_filter = $3, columns = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(filter.id.to_string())
        .bind(filter.description.as_str())
        .bind(filter.row_filter.as_deref())
        .bind(columns)
        .bind(ts(filter.updated_at));
        let not_found = Error::not_found("data filter", filter.name.as_str());
        self.write_one(
            query,
            |e| internal("update a data filter", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn delete_data_filter(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_data_filter_tx(w.conn(), self.backend, id, &audit).await;
        w.finish(result).await
    }

    async fn get_data_filter(&self, id: Uuid) -> Result<Option<DataFilter>> {
        let sql = format!(
            "SELECT {} FROM data_filters WHERE id = $1",
            codec::DATA_FILTER_COLS
        );
        row(&self.pool, "read a data filter", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::data_filter(&r))
            .transpose()
    }

    async fn get_data_filter_by_name(
        &self,
        table_id: Uuid,
        name: &str,
    ) -> Result<Option<DataFilter>> {
        let sql = format!(
            "SELECT {} FROM data_filters WHERE table_id = $1 AND name = $2",
            codec::DATA_FILTER_COLS
        );
        row(
            &self.pool,
            "read a data filter",
            &sql,
            vec![table_id.to_string(), name.to_string()],
        )
        .await?
        .map(|r| codec::data_filter(&r))
        .transpose()
    }

    async fn list_data_filters(&self, table_id: Uuid) -> Result<Vec<DataFilter>> {
        let sql = format!(
            "SELECT {} FROM data_filters WHERE table_id = $1",
            codec::DATA_FILTER_COLS
        );
        let mut filters = all(
            rows(
                &self.pool,
                "list data filters",
                &sql,
                Some(table_id.to_string()),
            )
            .await?,
            codec::data_filter,
        )?;
        // Sorted here rather than by ORDER BY: text order follows the database's collation on
        // PostgreSQL, and byte order on SQLite.
        filters.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(filters)
    }

    async fn data_filters_by_ids(&self, ids: &[Uuid]) -> Result<Vec<DataFilter>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut filters = Vec::new();
        let mut conn = self.read().await?;
        for chunk in ids.chunks(IN_CHUNK) {
            let mut args = Args::default();
            let sql = format!(
                "SELECT {} FROM data_filters WHERE id IN ({})",
                codec::DATA_FILTER_COLS,
                args.ids(chunk)
            );
            filters.extend(all(
                fetch_all(&mut conn, "read data filters", &sql, &args).await?,
                codec::data_filter,
            )?);
        }
        filters.sort_by(|a, b| (a.table_id, &a.name, a.id).cmp(&(b.table_id, &b.name, b.id)));
        Ok(filters)
    }

    async fn replace_row_rules(
        &self,
        product_id: Uuid,
        rules: &[RowRule],
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = replace_row_rules_tx(w.conn(), self.backend, product_id, rules, &audit).await;
        w.finish(result).await
    }

    async fn row_rules(&self, product_id: Uuid) -> Result<Vec<RowRule>> {
        let sql = format!(
            "SELECT {} FROM row_rules WHERE product_id = $1 ORDER BY ordinal",
            codec::ROW_RULE_COLS
        );
        all(
            rows(
                &self.pool,
                "read row rules",
                &sql,
                Some(product_id.to_string()),
            )
            .await?,
            codec::row_rule,
        )
    }

    async fn set_column_tags(&self, tags: &ColumnTags, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = set_column_tags_tx(w.conn(), tags, &audit).await;
        w.finish(result).await
    }

    async fn column_tags(&self, table_id: Uuid) -> Result<Vec<ColumnTags>> {
        let sql = format!(
            "SELECT {} FROM column_tags WHERE table_id = $1",
            codec::COLUMN_TAGS_COLS
        );
        let mut tags = all(
            rows(
                &self.pool,
                "read column tags",
                &sql,
                Some(table_id.to_string()),
            )
            .await?,
            codec::column_tags,
        )?;
        // Byte order on both backends (see `list_data_filters`).
        tags.sort_by(|a, b| a.column.cmp(&b.column));
        Ok(tags)
    }

    async fn put_tag_mask(&self, mask: &TagMask, audit: NewAuditEvent) -> Result<()> {
        // The conflict target is the expression of the unique index (NULL domain as ''), so a
        // mesh-wide mask is unique per tag on both backends.
        let query = sqlx::query(
            "INSERT INTO tag_masks (id, domain_id, tag, mask, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT ((COALESCE(domain_id, '')), tag) DO UPDATE SET mask = excluded.mask",
        )
        .bind(mask.id.to_string())
        .bind(opt_id(mask.domain_id))
        .bind(mask.tag.as_str())
        .bind(mask.mask.to_string())
        .bind(ts(mask.created_at));
        let on_error = |e| write_error(&subject("tag mask", mask.tag.as_str()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn delete_tag_mask(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query("DELETE FROM tag_masks WHERE id = $1").bind(id.to_string());
        let not_found = Error::not_found("tag mask", id.to_string());
        self.write_one(
            query,
            |e| internal("delete a tag mask", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn list_tag_masks(&self) -> Result<Vec<TagMask>> {
        let sql = format!("SELECT {} FROM tag_masks", codec::TAG_MASK_COLS);
        let mut masks = all(
            rows(&self.pool, "list tag masks", &sql, None).await?,
            codec::tag_mask,
        )?;
        // Sorted here: the backends also disagree on where NULLs (mesh-wide) sort.
        masks.sort_by(|a, b| (&a.tag, a.domain_id, a.id).cmp(&(&b.tag, b.domain_id, b.id)));
        Ok(masks)
    }

    // ----- credentials and tenancy (docs/design/ACCESS.md §Tenant isolation) -----

    async fn signing_key(&self) -> Result<Vec<u8>> {
        self.mesh_secret(SIGNING_KEY, "signing key").await
    }

    async fn mask_key(&self) -> Result<Vec<u8>> {
        self.mesh_secret(MASK_KEY, "mask key").await
    }

    async fn rotate_mask_key(&self, audit: NewAuditEvent) -> Result<()> {
        let fresh = hex::encode(meshgate_core::credential::generate_key());
        let query = sqlx::query(
            "INSERT INTO mesh_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(MASK_KEY)
        .bind(fresh);
        self.write_one(
            query,
            |e| internal("rotate the mask key", e),
            None,
            &audit,
            true,
        )
        .await
    }

    async fn create_credential(&self, c: &Credential, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO credentials (id, principal_id, policy, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id.to_string())
        .bind(c.principal_id.to_string())
        .bind(codec::to_json("credential policy", &c.policy)?)
        .bind(ts(c.created_at))
        .bind(ts(c.expires_at))
        .bind(codec::opt_ts(c.revoked_at));
        let on_error = |e| write_error(&subject("credential", c.id.to_string()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_credential(&self, id: Uuid) -> Result<Option<Credential>> {
        let sql = format!(
            "SELECT {} FROM credentials WHERE id = $1",
            codec::CREDENTIAL_COLS
        );
        row(&self.pool, "read a credential", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::credential(&r))
            .transpose()
    }

    async fn list_credentials(&self, principal_id: Uuid) -> Result<Vec<Credential>> {
        let sql = format!(
            "SELECT {} FROM credentials WHERE principal_id = $1 ORDER BY created_at DESC, id",
            codec::CREDENTIAL_COLS
        );
        all(
            rows(
                &self.pool,
                "list credentials",
                &sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::credential,
        )
    }

    async fn revoke_credential(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(ts(at))
        .bind(id.to_string());
        let not_found = Error::not_found("credential", id.to_string());
        self.write_one(
            query,
            |e| internal("revoke a credential", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn revoked_credentials(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
        let sql = "SELECT id FROM credentials WHERE revoked_at IS NOT NULL AND expires_at > $1";
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| internal("read revoked credentials", e))?;
        let found = sqlx::query(sql)
            .bind(ts(now))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| internal("read revoked credentials", e))?;
        all(found, |r| codec::uuid(r, "id"))
    }

    async fn set_tenancy(&self, tenancy: &TableTenancy, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO tenant_tables (table_id, key_column, separator) VALUES ($1, $2, $3) \
             ON CONFLICT (table_id) DO UPDATE SET key_column = excluded.key_column, \
             separator = excluded.separator",
        )
        .bind(tenancy.table_id.to_string())
        .bind(tenancy.key_column.as_str())
        .bind(tenancy.separator.clone());
        let on_error = |e| write_error(&subject("table", tenancy.table_id.to_string()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn tenancy(&self, table_id: Uuid) -> Result<Option<TableTenancy>> {
        row(
            &self.pool,
            "read a table's tenancy",
            "SELECT table_id, key_column, separator FROM tenant_tables WHERE table_id = $1",
            vec![table_id.to_string()],
        )
        .await?
        .map(|r| codec::tenancy(&r))
        .transpose()
    }

    // ----- catalog (issue 7): see `store/catalog.rs` -----

    async fn set_domain_parent(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.cat_set_domain_parent(id, parent, audit).await
    }

    async fn set_listing(
        &self,
        product_id: Uuid,
        from: ListingState,
        to: ListingState,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        self.cat_set_listing(product_id, from, to, audit).await
    }

    async fn update_product_description(
        &self,
        product_id: Uuid,
        description: &str,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        self.cat_update_product_description(product_id, description, audit)
            .await
    }

    async fn set_table_tags(&self, tags: &TableTags, audit: NewAuditEvent) -> Result<()> {
        self.cat_set_table_tags(tags, audit).await
    }

    async fn table_tags(&self, product_id: Uuid) -> Result<Vec<TableTags>> {
        self.cat_table_tags(product_id).await
    }

    async fn create_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()> {
        self.cat_create_form_type(form_type, audit).await
    }

    async fn revise_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()> {
        self.cat_revise_form_type(form_type, audit).await
    }

    async fn get_form_type(&self, id: Uuid) -> Result<Option<FormType>> {
        self.cat_get_form_type(id).await
    }

    async fn get_form_type_by_name(&self, name: &str) -> Result<Option<FormType>> {
        self.cat_get_form_type_by_name(name).await
    }

    async fn list_form_types(&self) -> Result<Vec<FormType>> {
        self.cat_list_form_types().await
    }

    async fn form_type_revision(
        &self,
        id: Uuid,
        revision: i64,
    ) -> Result<Option<FormTypeRevision>> {
        self.cat_form_type_revision(id, revision).await
    }

    async fn delete_form_type(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.cat_delete_form_type(id, audit).await
    }

    async fn put_form(&self, form: &MetadataForm, audit: NewAuditEvent) -> Result<()> {
        self.cat_put_form(form, audit).await
    }

    async fn delete_form(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
        form_type_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.cat_delete_form(kind, target_id, form_type_id, audit)
            .await
    }

    async fn forms_of(&self, kind: FormTargetKind, target_id: Uuid) -> Result<Vec<MetadataForm>> {
        self.cat_forms_of(kind, target_id).await
    }

    async fn create_share_with_forms(
        &self,
        share: &Share,
        items: &[ShareItem],
        forms: &[MetadataForm],
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.cat_create_share_with_forms(share, items, forms, audit)
            .await
    }

    async fn create_rule(&self, rule: &Rule, audit: NewAuditEvent) -> Result<()> {
        self.cat_create_rule(rule, audit).await
    }

    async fn delete_rule(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.cat_delete_rule(id, audit).await
    }

    async fn list_rules(&self) -> Result<Vec<Rule>> {
        self.cat_list_rules().await
    }

    async fn create_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()> {
        self.cat_create_glossary(glossary, audit).await
    }

    async fn update_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()> {
        self.cat_update_glossary(glossary, audit).await
    }

    async fn delete_glossary(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.cat_delete_glossary(id, audit).await
    }

    async fn get_glossary_by_name(&self, name: &str) -> Result<Option<Glossary>> {
        self.cat_get_glossary_by_name(name).await
    }

    async fn list_glossaries(&self) -> Result<Vec<Glossary>> {
        self.cat_list_glossaries().await
    }

    async fn create_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()> {
        self.cat_create_term(term, audit).await
    }

    async fn update_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()> {
        self.cat_update_term(term, audit).await
    }

    async fn delete_term(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.cat_delete_term(id, audit).await
    }

    async fn list_terms(&self, glossary_id: Option<Uuid>) -> Result<Vec<GlossaryTerm>> {
        self.cat_list_terms(glossary_id).await
    }

    async fn add_term_relation(&self, relation: &TermRelation, audit: NewAuditEvent) -> Result<()> {
        self.cat_add_term_relation(relation, audit).await
    }

    async fn remove_term_relation(
        &self,
        relation: &TermRelation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.cat_remove_term_relation(relation, audit).await
    }

    async fn term_relations(&self) -> Result<Vec<TermRelation>> {
        self.cat_term_relations().await
    }

    async fn link_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()> {
        self.cat_link_term(link, audit).await
    }

    async fn unlink_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()> {
        self.cat_unlink_term(link, audit).await
    }

    async fn term_links(&self, product_id: Option<Uuid>) -> Result<Vec<TermLink>> {
        self.cat_term_links(product_id).await
    }

    async fn catalog_rows(&self, product_id: Option<Uuid>) -> Result<CatalogRows> {
        self.cat_catalog_rows(product_id).await
    }

    // ----- notifications -----

    async fn notify_cursor(&self) -> Result<i64> {
        self.nt_notify_cursor().await
    }

    async fn record_notifications(&self, batch: NotificationBatch) -> Result<bool> {
        self.nt_record_notifications(batch).await
    }

    async fn list_notifications(
        &self,
        principal_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        self.nt_list_notifications(principal_id, unread_only, limit)
            .await
    }

    async fn get_notification(&self, id: Uuid) -> Result<Option<Notification>> {
        self.nt_get_notification(id).await
    }

    async fn mark_notification_read(
        &self,
        principal_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification> {
        self.nt_mark_notification_read(principal_id, id, at).await
    }

    async fn mark_all_notifications_read(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.nt_mark_all_notifications_read(principal_id, at).await
    }

    async fn mark_notification_emailed(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.nt_mark_notification_emailed(id, at).await
    }

    async fn put_contact(&self, contact: &Contact, audit: NewAuditEvent) -> Result<()> {
        self.nt_put_contact(contact, audit).await
    }

    async fn get_contact(&self, principal_id: Uuid) -> Result<Option<Contact>> {
        self.nt_get_contact(principal_id).await
    }

    async fn delete_contact(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.nt_delete_contact(principal_id, audit).await
    }

    async fn create_webhook(&self, webhook: &Webhook, audit: NewAuditEvent) -> Result<()> {
        self.nt_create_webhook(webhook, audit).await
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>> {
        self.nt_get_webhook(id).await
    }

    async fn list_webhooks(&self, principal_id: Uuid) -> Result<Vec<Webhook>> {
        self.nt_list_webhooks(principal_id).await
    }

    async fn disable_webhook(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Webhook> {
        self.nt_disable_webhook(id, at, audit).await
    }

    async fn get_webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>> {
        self.nt_get_webhook_delivery(id).await
    }

    async fn record_webhook_attempt(
        &self,
        id: Uuid,
        status: DeliveryStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.nt_record_webhook_attempt(id, status, error, at).await
    }

    async fn list_webhook_deliveries(&self, webhook_id: Uuid) -> Result<Vec<WebhookDelivery>> {
        self.nt_list_webhook_deliveries(webhook_id).await
    }

    async fn group_members(&self, group_id: Uuid) -> Result<Vec<Uuid>> {
        self.nt_group_members(group_id).await
    }

    // ----- Delta Sharing recipients: see `store/sharing.rs` -----

    async fn create_sharing_token(&self, token: &SharingToken, audit: NewAuditEvent) -> Result<()> {
        self.sh_create_sharing_token(token, audit).await
    }

    async fn activate_sharing_token(
        &self,
        activation_hash: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Option<SharingToken>> {
        self.sh_activate_sharing_token(activation_hash, secret_hash, now, audit)
            .await
    }

    async fn insert_access_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<SharingToken> {
        self.sh_insert_access_token(token, audit).await
    }

    async fn find_sharing_token(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(SharingToken, Principal)>> {
        self.sh_find_sharing_token(secret_hash).await
    }

    async fn get_sharing_token(&self, id: Uuid) -> Result<Option<SharingToken>> {
        self.sh_get_sharing_token(id).await
    }

    async fn list_sharing_tokens(&self, principal_id: Uuid) -> Result<Vec<SharingToken>> {
        self.sh_list_sharing_tokens(principal_id).await
    }

    async fn revoke_sharing_token(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        self.sh_revoke_sharing_token(id, at, audit).await
    }

    async fn expire_sharing_tokens(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
        except: Uuid,
        audit: NewAuditEvent,
    ) -> Result<u64> {
        self.sh_expire_sharing_tokens(principal_id, at, except, audit)
            .await
    }

    async fn touch_sharing_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.sh_touch_sharing_token(id, at).await
    }

    async fn delete_expired_access_tokens(&self, before: DateTime<Utc>) -> Result<u64> {
        self.sh_delete_expired_access_tokens(before).await
    }

    async fn recipient_settings(&self, principal_id: Uuid) -> Result<Option<RecipientSettings>> {
        self.sh_recipient_settings(principal_id).await
    }

    async fn put_recipient_settings(
        &self,
        settings: &RecipientSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.sh_put_recipient_settings(settings, audit).await
    }

    // ----- external locations -----

    async fn create_external_location(
        &self,
        location: &ExternalLocation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.el_create(location, audit).await
    }

    async fn get_external_location_by_name(&self, name: &str) -> Result<Option<ExternalLocation>> {
        self.el_get_by_name(name).await
    }

    async fn list_external_locations(&self) -> Result<Vec<ExternalLocation>> {
        self.el_list().await
    }

    async fn delete_external_location(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.el_delete(id, audit).await
    }

    async fn list_all_tables(&self) -> Result<Vec<ProductTable>> {
        self.el_all_tables().await
    }

    // ----- outbox -----

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
        let mut w = self.begin_write().await?;
        let result = async {
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock(7305813)")
                    .execute(&mut *w.conn())
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
                .fetch_all(&mut *w.conn())
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
                codec::JOB_COLS
            );
            let rows = args
                .bind(&sql)
                .fetch_all(&mut *w.conn())
                .await
                .map_err(|e| internal("lease jobs", e))?;
            all(rows, codec::job)
        }
        .await;
        let mut jobs = w.finish(result).await?;
        // RETURNING does not keep the candidates' order.
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: Uuid) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *w.conn())
            .await
            .map_err(|e| internal("complete a job", e))
            .and_then(|done| match done.rows_affected() {
                0 => Err(Error::not_found("job", id.to_string())),
                _ => Ok(()),
            });
        w.finish(result).await
    }

    async fn fail_job(&self, id: Uuid, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE jobs SET last_error = $2, run_at = $3, leased_by = NULL, lease_until = NULL \
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(error)
        .bind(ts(retry_at))
        .execute(&mut *w.conn())
        .await
        .map_err(|e| internal("record a job failure", e))
        .and_then(|done| match done.rows_affected() {
            0 => Err(Error::not_found("job", id.to_string())),
            _ => Ok(()),
        });
        w.finish(result).await
    }

    async fn release_leases(&self) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE jobs SET leased_by = NULL, lease_until = NULL WHERE lease_until IS NOT NULL",
        )
        .execute(&mut *w.conn())
        .await
        .map_err(|e| internal("release job leases", e))
        .map(|done| done.rows_affected());
        w.finish(result).await
    }

    async fn pending_jobs(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("count jobs", e))?;
        Ok(u64::try_from(codec::int(&row, "n")?).unwrap_or(0))
    }

    // ----- audit -----

    async fn append_audit(&self, event: NewAuditEvent) -> Result<i64> {
        let mut w = self.begin_write().await?;
        let result = insert_audit(w.conn(), &event).await;
        w.finish(result).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut args = Args::default();
        let mut sql = format!("SELECT {} FROM audit_events WHERE 1 = 1", codec::AUDIT_COLS);
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
        let limit = filter
            .limit
            .unwrap_or(AUDIT_DEFAULT_LIMIT)
            .min(AUDIT_MAX_LIMIT);
        sql += &format!(" ORDER BY seq LIMIT {}", args.int(i64::from(limit)));
        let mut conn = self.read().await?;
        all(
            fetch_all(&mut conn, "read the audit log", &sql, &args).await?,
            codec::audit,
        )
    }
}
