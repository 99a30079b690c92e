//! [`IdentityStore`] for [`SqlStore`]: principals, group membership and API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::{ApiToken, NewAuditEvent, Principal, PrincipalKind};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{bump_policy_version, fetch_optional_by_id, insert_audit};
use crate::IdentityStore;
use crate::codec::{self, opt_ts, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

#[async_trait]
impl IdentityStore for SqlStore {
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
        let sql = Principal::select("WHERE id = $1");
        self.get("read a principal", &sql, &[&id]).await
    }

    async fn get_principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        let sql = Principal::select("WHERE name = $1");
        self.get("read a principal", &sql, &[&name]).await
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
