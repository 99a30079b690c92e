//! [`ShareStore`] for [`SqlStore`]: shares and their items, the changes the lifecycle
//! computes (applied with a version check, their grants, audit events and jobs in one
//! transaction), terms, settings, processor logs and schedules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::lifecycle::ShareStatus;
use meshgate_core::model::{
    Grant, NewAuditEvent, Share, ShareDetail, ShareItem, ShareLog, ShareSettings,
};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{
    Args, IN_CHUNK, bump_policy_version_of, count, fetch_all, fetch_list, fetch_list_in, fetch_one,
    fetch_optional_by_id, insert_audit, insert_job, rows_in,
};
use crate::codec::{self, opt_id, opt_ts, to_json, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};
use crate::record::Record;
use crate::{Due, ItemHealth, PolicyScope, ShareChange, ShareFilter, ShareStore};

async fn load_items(
    conn: &mut AnyConnection,
    share_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ShareItem>>> {
    let sql = ShareItem::select("WHERE share_id IN ({ids}) ORDER BY created_at, id");
    let mut by_share: HashMap<Uuid, Vec<ShareItem>> = HashMap::new();
    for item in
        fetch_list_in::<ShareItem>(conn, "read share items", &sql, share_ids.iter().copied())
            .await?
    {
        by_share.entry(item.share_id).or_default().push(item);
    }
    Ok(by_share)
}

async fn load_share(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ShareDetail>> {
    let sql = Share::select("WHERE id = $1");
    let Some(share) = fetch_one(conn, "read a share", &sql, &Args::of(&[&id])).await? else {
        return Ok(None);
    };
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
/// Deletes the table and file grants of one item, adding the grantees of those deleted to
/// `scopes` (the grantees whose access changed).
async fn delete_grants_of_item(
    conn: &mut AnyConnection,
    item: Uuid,
    share: &str,
    scopes: &mut BTreeSet<PolicyScope>,
) -> Result<()> {
    for table in ["grants", "file_grants"] {
        let deleted = sqlx::query(&format!(
            "DELETE FROM {table} WHERE share_item_id = $1 \
             AND share_item_id IN (SELECT id FROM share_items WHERE share_id = $2) \
             RETURNING grantee_type, grantee_id"
        ))
        .bind(item.to_string())
        .bind(share)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| internal("delete grants", e))?;
        for row in &deleted {
            scopes.insert(crate::record::grantee(row)?.into());
        }
    }
    Ok(())
}

/// On PostgreSQL, share-locks the data filters that new grants use, so that a concurrent
/// [`crate::PolicyStore::delete_data_filter`] (which locks the filter, then counts the grants
/// using it) either sees these grants or finishes first. SQLite needs nothing: its writes are
/// serialised.
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
    let sql = "SELECT id FROM data_filters WHERE id IN ({ids}) ORDER BY id FOR SHARE";
    rows_in(conn, "lock data filters", sql, ids).await?;
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

    // The grantees whose grants this change makes or removes: the policy version moves for
    // them only (a scoped change, `bump_policy_version_of`).
    let mut scopes = BTreeSet::new();
    for item_id in &change.grants_to_remove {
        delete_grants_of_item(conn, *item_id, &share_id, &mut scopes).await?;
    }
    for item_id in &change.removed_items {
        // Grants go with their item; deleted explicitly (not only by cascade) so that the
        // policy version moves when they do.
        delete_grants_of_item(conn, *item_id, &share_id, &mut scopes).await?;
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
        scopes.insert(grant.grantee.into());
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
        scopes.insert(grant.grantee.into());
    }
    if !scopes.is_empty() {
        bump_policy_version_of(conn, &scopes).await?;
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

/// Creates a share with its first items and its audit event (one transaction's statements).
pub(super) async fn create_share_tx(
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

#[async_trait]
impl ShareStore for SqlStore {
    async fn create_share(
        &self,
        share: &Share,
        items: &[ShareItem],
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| create_share_tx(conn, share, items, &audit).await)
            .await
    }

    async fn get_share(&self, id: Uuid) -> Result<Option<ShareDetail>> {
        let mut conn = self.read().await?;
        load_share(&mut conn, id).await
    }

    async fn list_shares(&self, filter: &ShareFilter) -> Result<Vec<ShareDetail>> {
        let mut args = Args::default();
        let mut sql = Share::select("WHERE 1 = 1");
        if let Some(status) = filter.status {
            sql += &format!(" AND status = {}", args.text(status.as_str()));
        }
        let asks_for_deleted = filter.status == Some(ShareStatus::Deleted);
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
        let shares: Vec<Share> = fetch_list(&mut conn, "list shares", &sql, &args).await?;
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
        self.write(async |conn| apply_change(conn, self.backend, &change).await)
            .await
    }

    // ----- items -----

    async fn set_item_health(
        &self,
        updates: &[ItemHealth],
        audit: Vec<NewAuditEvent>,
    ) -> Result<()> {
        self.write(async |conn| {
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
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| internal("record item health", e))?;
                }
            }
            for event in &audit {
                insert_audit(conn, event).await?;
            }
            Ok(())
        })
        .await
    }

    async fn local_names(&self, item_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        let sql = "SELECT i.id AS id, s.local_name AS local_name FROM share_items i \
                   JOIN shares s ON s.id = i.share_id \
                   WHERE i.id IN ({ids}) AND s.local_name IS NOT NULL";
        let mut conn = self.read().await?;
        rows_in(&mut conn, "read local names", sql, item_ids.iter().copied())
            .await?
            .iter()
            .map(|r| Ok((codec::uuid(r, "id")?, codec::text(r, "local_name")?)))
            .collect()
    }

    async fn share_settings(&self, product_id: Uuid) -> Result<ShareSettings> {
        let sql = "SELECT settings FROM share_settings WHERE product_id = $1";
        let found = self.row("read share settings", sql, &[&product_id]).await?;
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
        self.write(async |conn| {
            let exists = fetch_optional_by_id(
                conn,
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
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("write share settings", e))?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn append_share_logs(&self, lines: &[ShareLog]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.write(async |conn| {
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
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("write share logs", e))?;
            }
            Ok(())
        })
        .await
    }

    async fn share_logs(
        &self,
        share_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ShareLog>> {
        let mut conn = self.read().await?;
        let mut args = Args::default();
        let sql = ShareLog::select(&format!(
            "WHERE share_id = {} AND seq > {} ORDER BY seq LIMIT {}",
            args.text(share_id.to_string()),
            args.int(after_seq),
            args.int(i64::from(limit.clamp(1, 5000)))
        ));
        fetch_list(&mut conn, "read share logs", &sql, &args).await
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
}
