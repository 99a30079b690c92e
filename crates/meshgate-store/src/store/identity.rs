//! [`IdentityStore`] for [`SqlStore`]: principals, group membership and API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::{ApiToken, MembershipSource, NewAuditEvent, Principal, PrincipalKind};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use std::collections::BTreeSet;

use super::{
    Args, bump_policy_version, exec, fetch_all, fetch_optional_by_id, insert_audit, rows_in,
};
use crate::codec::{self, opt_ts, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;
use crate::{IdentityStore, MemberOp, Revoked};
use sqlx::AnyConnection;

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_principal(&self, principal: &Principal, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO principals (id, name, kind, display_name, is_admin, created_at, login, \
             active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(principal.id.to_string())
        .bind(principal.name.as_str())
        .bind(principal.kind.as_str())
        .bind(principal.display_name.as_str())
        .bind(principal.is_admin)
        .bind(ts(principal.created_at))
        .bind(principal.login.as_deref())
        .bind(principal.active);
        let on_error = |e| write_error(&subject("principal", principal.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_principal(&self, id: Uuid) -> Result<Option<Principal>> {
        let sql = Principal::select("WHERE id = $1");
        self.get("read a principal", &sql, &[&id]).await
    }

    async fn get_principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        let sql = Principal::select("WHERE name = $1");
        self.get("read a principal", &sql, &[&name]).await
    }

    async fn get_principal_by_login(&self, login: &str) -> Result<Option<Principal>> {
        let sql = Principal::select("WHERE lower(login) = lower($1)");
        self.get("read a principal", &sql, &[&login]).await
    }

    async fn set_principal_admin(
        &self,
        principal: Uuid,
        is_admin: bool,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        self.write(async |conn| {
            let done =
                sqlx::query("UPDATE principals SET is_admin = $2 WHERE id = $1 AND is_admin <> $2")
                    .bind(principal.to_string())
                    .bind(is_admin)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("change a principal's admin role", e))?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(true)
        })
        .await
    }

    async fn list_principals(&self) -> Result<Vec<Principal>> {
        let sql = Principal::select("ORDER BY name");
        self.list("list principals", &sql, &[]).await
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
        self.write(async |conn| {
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
        })
        .await
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

    async fn sync_group_memberships(
        &self,
        member: Uuid,
        source: MembershipSource,
        groups: &[Uuid],
        mut audit: NewAuditEvent,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
        self.write(async |conn| {
            let doing = "read group memberships";
            let rows = fetch_all(
                conn,
                doing,
                "SELECT group_id, source FROM group_members WHERE member_id = $1",
                &Args::of(&[&member]),
            )
            .await?;
            let mut any_source = BTreeSet::new();
            let mut this_source = BTreeSet::new();
            for row in &rows {
                let group = codec::uuid(row, "group_id")?;
                any_source.insert(group);
                if codec::text(row, "source")? == source.as_str() {
                    this_source.insert(group);
                }
            }
            let wanted: BTreeSet<Uuid> = if groups.is_empty() {
                BTreeSet::new()
            } else {
                let template = "SELECT id FROM principals WHERE kind = 'group' AND id IN ({ids})";
                rows_in(conn, "read groups", template, groups.iter().copied())
                    .await?
                    .iter()
                    .map(|r| codec::uuid(r, "id"))
                    .collect::<Result<_>>()?
            };
            let added: Vec<Uuid> = wanted.difference(&any_source).copied().collect();
            let removed: Vec<Uuid> = this_source.difference(&wanted).copied().collect();
            if added.is_empty() && removed.is_empty() {
                return Ok((added, removed));
            }
            for group in &added {
                sqlx::query(
                    "INSERT INTO group_members (group_id, member_id, source) VALUES ($1, $2, $3)",
                )
                .bind(group.to_string())
                .bind(member.to_string())
                .bind(source.as_str())
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(&subject("group member", member.to_string()), e))?;
            }
            for group in &removed {
                exec(
                    conn,
                    "remove a group member",
                    "DELETE FROM group_members WHERE group_id = $1 AND member_id = $2 AND source = $3",
                    &Args::of(&[group, &member, &source.as_str()]),
                )
                .await?;
            }
            bump_policy_version(conn).await?;
            if let Some(detail) = audit.detail.as_object_mut() {
                detail.insert("added".into(), serde_json::json!(added));
                detail.insert("removed".into(), serde_json::json!(removed));
            }
            insert_audit(conn, &audit).await?;
            Ok((added, removed))
        })
        .await
    }

    async fn change_group_members(
        &self,
        group: Uuid,
        source: MembershipSource,
        ops: &[MemberOp],
        mut audit: NewAuditEvent,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
        self.write(async |conn| {
            let (added, removed) = apply_member_ops(conn, group, source, ops).await?;
            if added.is_empty() && removed.is_empty() {
                return Ok((added, removed));
            }
            bump_policy_version(conn).await?;
            set_detail(&mut audit, "added", serde_json::json!(added));
            set_detail(&mut audit, "removed", serde_json::json!(removed));
            insert_audit(conn, &audit).await?;
            Ok((added, removed))
        })
        .await
    }

    async fn all_group_members(&self) -> Result<Vec<(Uuid, Uuid, MembershipSource)>> {
        let mut conn = self.read().await?;
        let rows = fetch_all(
            &mut conn,
            "read group memberships",
            "SELECT group_id, member_id, source FROM group_members ORDER BY group_id, member_id",
            &Args::default(),
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    codec::uuid(r, "group_id")?,
                    codec::uuid(r, "member_id")?,
                    codec::enum_of::<MembershipSource>(r, "source")?,
                ))
            })
            .collect()
    }

    async fn deactivate_principal(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        mut audit: NewAuditEvent,
    ) -> Result<Revoked> {
        self.write(async |conn| {
            if fetch_optional_by_id(
                conn,
                "read a principal",
                "SELECT id FROM principals WHERE id = $1",
                id,
            )
            .await?
            .is_none()
            {
                return Err(Error::not_found("principal", id.to_string()));
            }
            let revoked = revoke_all(conn, id, at).await?;
            set_detail(&mut audit, "revoked", revoked_detail(&revoked));
            insert_audit(conn, &audit).await?;
            Ok(revoked)
        })
        .await
    }

    async fn groups_of(&self, member: Uuid) -> Result<Vec<Uuid>> {
        let sql = "SELECT group_id FROM group_members WHERE member_id = $1 ORDER BY group_id";
        self.ids("list groups", sql, &[&member], "group_id").await
    }

    async fn group_members(&self, group_id: Uuid) -> Result<Vec<Uuid>> {
        let sql = "SELECT member_id FROM group_members WHERE group_id = $1 ORDER BY member_id";
        self.ids("read group members", sql, &[&group_id], "member_id")
            .await
    }

    async fn create_token(&self, token: &ApiToken, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO api_tokens (id, principal_id, name, token_hash, created_at, expires_at, \
             revoked_at, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id.to_string())
        .bind(token.principal_id.to_string())
        .bind(token.name.as_str())
        .bind(token.token_hash.as_str())
        .bind(ts(token.created_at))
        .bind(opt_ts(token.expires_at))
        .bind(opt_ts(token.revoked_at))
        .bind(token.scope.as_str());
        let on_error = |e| write_error(&subject("token", token.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<(ApiToken, Principal)>> {
        let sql = ApiToken::select("WHERE token_hash = $1");
        let Some(token) = self
            .get::<ApiToken>("read a token", &sql, &[&token_hash])
            .await?
        else {
            return Ok(None);
        };
        let Some(principal) = self.get_principal(token.principal_id).await? else {
            return Ok(None);
        };
        Ok(Some((token, principal)))
    }

    async fn list_tokens(&self, principal_id: Uuid) -> Result<Vec<ApiToken>> {
        let sql = ApiToken::select("WHERE principal_id = $1 ORDER BY created_at, id");
        self.list("list tokens", &sql, &[&principal_id]).await
    }

    async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>> {
        let sql = ApiToken::select("WHERE id = $1");
        self.get("read a token", &sql, &[&id]).await
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
}

/// Sets `key` in an audit event's detail (made an object if it is not one yet).
pub(super) fn set_detail(audit: &mut NewAuditEvent, key: &str, value: serde_json::Value) {
    if !audit.detail.is_object() {
        audit.detail = serde_json::json!({});
    }
    if let Some(detail) = audit.detail.as_object_mut() {
        detail.insert(key.into(), value);
    }
}

/// What an audit event says of a deactivation's revocations.
pub(super) fn revoked_detail(revoked: &Revoked) -> serde_json::Value {
    serde_json::json!({
        "api_tokens": revoked.api_tokens,
        "recipient_tokens": revoked.recipient_tokens,
        "sessions": revoked.sessions,
        "credentials": revoked.credentials.len(),
    })
}

/// Deactivates principal `id` and revokes everything it authenticates with, at `at`, and
/// bumps the policy version (inside the caller's transaction).
pub(super) async fn revoke_all(
    conn: &mut AnyConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Revoked> {
    let at = ts(at);
    sqlx::query("UPDATE principals SET active = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(false)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("deactivate a principal", e))?;
    let api_tokens = exec(
        conn,
        "revoke API tokens",
        "UPDATE api_tokens SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL",
        &Args::of(&[&id, &at]),
    )
    .await?;
    let recipient_tokens = exec(
        conn,
        "revoke sharing tokens",
        "UPDATE sharing_tokens SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL",
        &Args::of(&[&id, &at]),
    )
    .await?;
    let sessions = exec(
        conn,
        "end sessions",
        "UPDATE sessions SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL",
        &Args::of(&[&id, &at]),
    )
    .await?;
    let credentials = fetch_all(
        conn,
        "read credentials",
        "SELECT id FROM credentials WHERE principal_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2",
        &Args::of(&[&id, &at]),
    )
    .await?
    .iter()
    .map(|r| codec::uuid(r, "id"))
    .collect::<Result<Vec<_>>>()?;
    exec(
        conn,
        "revoke credentials",
        "UPDATE credentials SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL",
        &Args::of(&[&id, &at]),
    )
    .await?;
    bump_policy_version(conn).await?;
    Ok(Revoked {
        api_tokens,
        recipient_tokens,
        sessions,
        credentials,
    })
}

/// Applies `ops` to `group`'s memberships from `source` (inside the caller's transaction);
/// returns the members added and removed, net.
pub(super) async fn apply_member_ops(
    conn: &mut AnyConnection,
    group: Uuid,
    source: MembershipSource,
    ops: &[MemberOp],
) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
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
    let rows = fetch_all(
        conn,
        "read group members",
        "SELECT member_id, source FROM group_members WHERE group_id = $1",
        &Args::of(&[&group]),
    )
    .await?;
    let mut any_source = BTreeSet::new();
    let mut this_source = BTreeSet::new();
    for row in &rows {
        let member = codec::uuid(row, "member_id")?;
        any_source.insert(member);
        if codec::text(row, "source")? == source.as_str() {
            this_source.insert(member);
        }
    }
    let before = this_source.clone();
    for op in ops {
        match op {
            MemberOp::Set(ids) => {
                let wanted: BTreeSet<Uuid> = ids.iter().copied().collect();
                for gone in this_source.difference(&wanted).copied().collect::<Vec<_>>() {
                    this_source.remove(&gone);
                    any_source.remove(&gone);
                }
                for id in wanted {
                    if any_source.insert(id) {
                        this_source.insert(id);
                    }
                }
            }
            MemberOp::Add(ids) => {
                for id in ids {
                    if any_source.insert(*id) {
                        this_source.insert(*id);
                    }
                }
            }
            MemberOp::Remove(ids) => {
                for id in ids {
                    if this_source.remove(id) {
                        any_source.remove(id);
                    }
                }
            }
        }
    }
    let added: Vec<Uuid> = this_source.difference(&before).copied().collect();
    let removed: Vec<Uuid> = before.difference(&this_source).copied().collect();
    if !added.is_empty() {
        let template = "SELECT id FROM principals WHERE id IN ({ids})";
        let found: BTreeSet<Uuid> =
            rows_in(conn, "read principals", template, added.iter().copied())
                .await?
                .iter()
                .map(|r| codec::uuid(r, "id"))
                .collect::<Result<_>>()?;
        if let Some(missing) = added.iter().find(|id| !found.contains(id)) {
            return Err(Error::invalid(format!(
                "member `{missing}` is not a principal"
            )));
        }
    }
    for member in &removed {
        exec(
            conn,
            "remove a group member",
            "DELETE FROM group_members WHERE group_id = $1 AND member_id = $2 AND source = $3",
            &Args::of(&[&group, member, &source.as_str()]),
        )
        .await?;
    }
    for member in &added {
        sqlx::query("INSERT INTO group_members (group_id, member_id, source) VALUES ($1, $2, $3)")
            .bind(group.to_string())
            .bind(member.to_string())
            .bind(source.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("group member", member.to_string()), e))?;
    }
    Ok((added, removed))
}
