//! [`ScimStore`] for [`SqlStore`]: the attributes SCIM clients set on principals, and SCIM
//! writes, each one transaction (docs/design/SIGN_IN.md §SCIM).
//!
//! A write is a compare-and-set on the record's version: the server computes a write from
//! what it read, and a write made from an older read changes nothing (`Conflict`), so the
//! server re-reads and computes it again; two PATCHes of one user never lose each other's
//! changes. Group memberships are changed as operations (add, remove, set) on the rows as they
//! are in the transaction, never as a list read earlier.

use async_trait::async_trait;
use meshgate_core::model::{MembershipSource, NewAuditEvent};
use meshgate_core::{Error, Result};
use sqlx::any::AnyRow;

use super::identity::{apply_member_ops, revoke_all, revoked_detail, set_detail};
use super::{Args, bump_policy_version, exec, fetch_optional_by_id, insert_audit, locking};
use crate::codec::{self, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::{ScimRecord, ScimStore, ScimWrite, ScimWritten};

const COLS: &str =
    "principal_id, attributes, version, updated_at, deleted_at, deleted_login FROM scim_resources";

fn record(row: &AnyRow) -> Result<ScimRecord> {
    Ok(ScimRecord {
        principal_id: codec::uuid(row, "principal_id")?,
        attributes: codec::json(row, "attributes")?,
        version: codec::int(row, "version")?,
        updated_at: codec::time(row, "updated_at")?,
        deleted_at: codec::opt_time(row, "deleted_at")?,
        deleted_login: codec::opt_text(row, "deleted_login")?,
    })
}

#[async_trait]
impl ScimStore for SqlStore {
    async fn scim_record(&self, principal: uuid::Uuid) -> Result<Option<ScimRecord>> {
        let sql = format!("SELECT {COLS} WHERE principal_id = $1");
        self.row("read a SCIM record", &sql, &[&principal])
            .await?
            .map(|r| record(&r))
            .transpose()
    }

    async fn scim_records(&self) -> Result<Vec<ScimRecord>> {
        let mut conn = self.read().await?;
        let sql = format!("SELECT {COLS} ORDER BY principal_id");
        super::fetch_all(&mut conn, "read SCIM records", &sql, &Args::default())
            .await?
            .iter()
            .map(record)
            .collect()
    }

    async fn write_scim(&self, w: &ScimWrite) -> Result<ScimWritten> {
        let attributes = to_json("SCIM attributes", &w.attributes)?;
        let lock_principal = locking(
            self.backend,
            "SELECT active, login FROM principals WHERE id = $1",
            "FOR UPDATE",
        );
        self.write(async |conn| {
            let p = &w.principal;
            let id = p.id;
            let at = ts(w.at);
            let taken = |e| {
                write_error(
                    &subject("principal", p.login.as_deref().unwrap_or(p.name.as_str())),
                    e,
                )
            };
            let mut was_active = false;
            if w.create {
                sqlx::query(
                    "INSERT INTO principals (id, name, kind, display_name, is_admin, created_at, \
                     login, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id.to_string())
                .bind(p.name.as_str())
                .bind(p.kind.as_str())
                .bind(p.display_name.as_str())
                .bind(p.is_admin)
                .bind(ts(p.created_at))
                .bind(p.login.as_deref())
                .bind(p.active)
                .execute(&mut *conn)
                .await
                .map_err(taken)?;
                exec(
                    conn,
                    "write a SCIM record",
                    "INSERT INTO scim_resources (principal_id, attributes, version, updated_at) \
                     VALUES ($1, $2, 1, $3)",
                    &Args::of(&[&id, &attributes, &at]),
                )
                .await?;
            } else {
                let Some(row) =
                    fetch_optional_by_id(conn, "read a principal", &lock_principal, id).await?
                else {
                    return Err(Error::not_found("principal", id.to_string()));
                };
                was_active = codec::boolean(&row, "active")?;
                let old_login = codec::opt_text(&row, "login")?;
                let moved = if w.expected_version == 0 {
                    exec(
                        conn,
                        "write a SCIM record",
                        "INSERT INTO scim_resources (principal_id, attributes, version, updated_at) \
                         VALUES ($1, $2, 1, $3) ON CONFLICT (principal_id) DO NOTHING",
                        &Args::of(&[&id, &attributes, &at]),
                    )
                    .await?
                } else {
                    exec(
                        conn,
                        "write a SCIM record",
                        "UPDATE scim_resources SET attributes = $2, version = version + 1, \
                         updated_at = $3 WHERE principal_id = $1 AND version = $4 \
                         AND deleted_at IS NULL",
                        &Args::of(&[&id, &attributes, &at, &w.expected_version]),
                    )
                    .await?
                };
                if moved == 0 {
                    return Err(Error::conflict(format!(
                        "principal `{}` was changed or deleted meanwhile",
                        p.name
                    )));
                }
                let (login, active) = if w.delete {
                    (None, false)
                } else {
                    (p.login.as_deref(), p.active)
                };
                sqlx::query(
                    "UPDATE principals SET login = $2, display_name = $3, active = $4 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(login)
                .bind(p.display_name.as_str())
                .bind(active)
                .execute(&mut *conn)
                .await
                .map_err(taken)?;
                if w.delete {
                    sqlx::query(
                        "UPDATE scim_resources SET deleted_at = $2, deleted_login = $3 \
                         WHERE principal_id = $1",
                    )
                    .bind(id.to_string())
                    .bind(at)
                    .bind(old_login.as_deref())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("delete a SCIM record", e))?;
                }
            }
            let mut audit: NewAuditEvent = w.audit.clone();
            let mut written = ScimWritten::default();
            if was_active && (w.delete || !p.active) {
                let revoked = revoke_all(conn, id, w.at).await?;
                set_detail(&mut audit, "revoked", revoked_detail(&revoked));
                written.revoked = Some(revoked);
            }
            if w.delete {
                let removed = exec(
                    conn,
                    "remove group memberships",
                    "DELETE FROM group_members WHERE group_id = $1 OR member_id = $1",
                    &Args::of(&[&id]),
                )
                .await?;
                if removed > 0 {
                    bump_policy_version(conn).await?;
                }
                set_detail(&mut audit, "memberships_removed", serde_json::json!(removed));
            }
            if !w.members.is_empty() {
                let (added, removed) =
                    apply_member_ops(conn, id, MembershipSource::Scim, &w.members).await?;
                if !added.is_empty() || !removed.is_empty() {
                    bump_policy_version(conn).await?;
                    let mut sync = w.members_audit.clone();
                    set_detail(&mut sync, "added", serde_json::json!(added));
                    set_detail(&mut sync, "removed", serde_json::json!(removed));
                    insert_audit(conn, &sync).await?;
                }
                written.added = added;
                written.removed = removed;
            }
            insert_audit(conn, &audit).await?;
            Ok(written)
        })
        .await
    }
}
