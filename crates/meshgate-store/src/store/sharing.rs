//! The Delta Sharing recipients' part of [`Store`] for [`SqlStore`]: sharing tokens (bearer
//! tokens, OAuth clients and the access tokens issued to them) and recipient settings. The
//! trait methods in `store.rs` delegate here.
//!
//! Activation is one conditional `UPDATE … RETURNING`: of two replicas activating the same
//! code at once, the loser's statement matches no row (on PostgreSQL it waits for the winner's
//! row lock, then re-checks the condition against the activated row), so a code works once.
//!
//! An access token is written with its OAuth client share-locked on PostgreSQL (SQLite
//! serialises writes anyway), so a concurrent revocation or rotation of the client, which
//! updates the client row before its access tokens, either sees the new access token or
//! finishes first and makes the insert see the revoked or shortened client.

use chrono::{DateTime, Utc};
use meshgate_core::model::{
    NewAuditEvent, Principal, RecipientSettings, SharingToken, SharingTokenKind,
};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{all, fetch_optional_by_id, insert_audit, row, rows};
use crate::codec::{self, opt_id, opt_ts, to_json, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};

/// The kinds a recipient's token listing shows (issued access tokens are not listed).
const LISTED_KINDS: &str = "('bearer', 'oauth_client')";

async fn insert_token(conn: &mut AnyConnection, t: &SharingToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO sharing_tokens (id, principal_id, kind, name, secret_hash, activation_hash, \
         parent_id, created_by, created_at, expires_at, activated_at, revoked_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(t.id.to_string())
    .bind(t.principal_id.to_string())
    .bind(t.kind.as_str())
    .bind(t.name.as_str())
    .bind(t.secret_hash.as_deref())
    .bind(t.activation_hash.as_deref())
    .bind(opt_id(t.parent_id))
    .bind(t.created_by.to_string())
    .bind(ts(t.created_at))
    .bind(opt_ts(t.expires_at))
    .bind(opt_ts(t.activated_at))
    .bind(opt_ts(t.revoked_at))
    .bind(opt_ts(t.last_used_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("sharing token", t.name.as_str()), e))?;
    Ok(())
}

/// What an access token must look like when it is written: issued to an OAuth client,
/// activated, with a secret, an expiry and no activation code.
fn check_access_token(t: &SharingToken) -> Result<Uuid> {
    let problem = if t.kind != SharingTokenKind::Access {
        Some(format!("is a `{}` token, not an access token", t.kind))
    } else if t.secret_hash.is_none() || t.activated_at.is_none() {
        Some("is not activated (it needs a secret hash and an activation time)".to_string())
    } else if t.activation_hash.is_some() {
        Some("has an activation code".to_string())
    } else if t.expires_at.is_none() {
        Some("has no expiry".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(Error::invalid(format!(
            "access token `{}` {problem}",
            t.name
        )));
    }
    t.parent_id.ok_or_else(|| {
        Error::invalid(format!(
            "access token `{}` names no OAuth client it was issued to",
            t.name
        ))
    })
}

async fn insert_access_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    token: &SharingToken,
    audit: &NewAuditEvent,
) -> Result<SharingToken> {
    let parent_id = check_access_token(token)?;
    let sql = match backend {
        Backend::Postgres => format!(
            "SELECT {} FROM sharing_tokens WHERE id = $1 FOR SHARE",
            codec::SHARING_TOKEN_COLS
        ),
        Backend::Sqlite => format!(
            "SELECT {} FROM sharing_tokens WHERE id = $1",
            codec::SHARING_TOKEN_COLS
        ),
    };
    let client = fetch_optional_by_id(conn, "read a sharing token", &sql, parent_id)
        .await?
        .map(|r| codec::sharing_token(&r))
        .transpose()?
        .ok_or_else(|| Error::not_found("OAuth client", parent_id.to_string()))?;
    if client.kind != SharingTokenKind::OauthClient || client.principal_id != token.principal_id {
        return Err(Error::invalid(format!(
            "access token `{}` must be issued to an OAuth client of its own recipient",
            token.name
        )));
    }
    if !client.is_usable(token.created_at) {
        return Err(Error::conflict(format!(
            "OAuth client `{}` is revoked, expired or not activated",
            client.name
        )));
    }
    // An access token never outlives its client (a rotation may just have shortened it).
    let stored = SharingToken {
        expires_at: match (token.expires_at, client.expires_at) {
            (Some(own), Some(clients)) => Some(own.min(clients)),
            (own, clients) => own.or(clients),
        },
        ..token.clone()
    };
    insert_token(conn, &stored).await?;
    insert_audit(conn, audit).await?;
    Ok(stored)
}

async fn activate_tx(
    conn: &mut AnyConnection,
    activation_hash: &str,
    secret_hash: &str,
    now: DateTime<Utc>,
    audit: &NewAuditEvent,
) -> Result<Option<SharingToken>> {
    let sql = format!(
        "UPDATE sharing_tokens SET secret_hash = $2, activated_at = $3, activation_hash = NULL \
         WHERE activation_hash = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $3) RETURNING {}",
        codec::SHARING_TOKEN_COLS
    );
    let found = sqlx::query(&sql)
        .bind(activation_hash)
        .bind(secret_hash)
        .bind(ts(now))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("sharing token secret", "hash"), e))?;
    let Some(found) = found else {
        return Ok(None);
    };
    let token = codec::sharing_token(&found)?;
    insert_audit(conn, audit).await?;
    Ok(Some(token))
}

async fn revoke_tx(
    conn: &mut AnyConnection,
    id: Uuid,
    at: DateTime<Utc>,
    audit: &NewAuditEvent,
) -> Result<bool> {
    // The token first, then what was issued to it: the client row is locked before its access
    // tokens are read, as in `insert_access_tx`.
    let done = sqlx::query(
        "UPDATE sharing_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(ts(at))
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("revoke a sharing token", e))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE sharing_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE parent_id = $1",
    )
    .bind(id.to_string())
    .bind(ts(at))
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("revoke access tokens", e))?;
    insert_audit(conn, audit).await?;
    Ok(true)
}

async fn expire_tx(
    conn: &mut AnyConnection,
    principal_id: Uuid,
    at: DateTime<Utc>,
    except: Uuid,
    audit: &NewAuditEvent,
) -> Result<u64> {
    // Only ever shortens: a token expiring before `at` already keeps its expiry.
    let tokens = format!(
        "UPDATE sharing_tokens SET expires_at = $3 \
         WHERE principal_id = $1 AND id <> $2 AND kind IN {LISTED_KINDS} \
         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)"
    );
    let changed = sqlx::query(&tokens)
        .bind(principal_id.to_string())
        .bind(except.to_string())
        .bind(ts(at))
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("expire sharing tokens", e))?
        .rows_affected();
    sqlx::query(
        "UPDATE sharing_tokens SET expires_at = $3 \
         WHERE kind = 'access' AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $3) \
         AND parent_id IN (SELECT id FROM sharing_tokens \
         WHERE principal_id = $1 AND id <> $2 AND kind = 'oauth_client')",
    )
    .bind(principal_id.to_string())
    .bind(except.to_string())
    .bind(ts(at))
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("expire access tokens", e))?;
    insert_audit(conn, audit).await?;
    Ok(changed)
}

/// The Delta Sharing methods of [`SqlStore`], called by its [`crate::Store`] implementation.
impl SqlStore {
    pub(super) async fn sh_create_sharing_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<()> {
        if token.kind == SharingTokenKind::Access || token.parent_id.is_some() {
            return Err(Error::invalid(format!(
                "sharing token `{}`: access tokens are issued to OAuth clients, not created",
                token.name
            )));
        }
        let mut w = self.begin_write().await?;
        let result = async {
            insert_token(w.conn(), token).await?;
            insert_audit(w.conn(), &audit).await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    pub(super) async fn sh_activate_sharing_token(
        &self,
        activation_hash: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Option<SharingToken>> {
        let mut w = self.begin_write().await?;
        let result = activate_tx(w.conn(), activation_hash, secret_hash, now, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn sh_insert_access_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<SharingToken> {
        let mut w = self.begin_write().await?;
        let result = insert_access_tx(w.conn(), self.backend, token, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn sh_find_sharing_token(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(SharingToken, Principal)>> {
        let sql = format!(
            "SELECT {} FROM sharing_tokens WHERE secret_hash = $1",
            codec::SHARING_TOKEN_COLS
        );
        let mut conn = self.read().await?;
        let Some(found) = sqlx::query(&sql)
            .bind(secret_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| internal("read a sharing token", e))?
        else {
            return Ok(None);
        };
        let token = codec::sharing_token(&found)?;
        let sql = format!(
            "SELECT {} FROM principals WHERE id = $1",
            codec::PRINCIPAL_COLS
        );
        let Some(principal) =
            fetch_optional_by_id(&mut conn, "read a principal", &sql, token.principal_id).await?
        else {
            return Ok(None);
        };
        Ok(Some((token, codec::principal(&principal)?)))
    }

    pub(super) async fn sh_get_sharing_token(&self, id: Uuid) -> Result<Option<SharingToken>> {
        let sql = format!(
            "SELECT {} FROM sharing_tokens WHERE id = $1",
            codec::SHARING_TOKEN_COLS
        );
        row(
            &self.pool,
            "read a sharing token",
            &sql,
            vec![id.to_string()],
        )
        .await?
        .map(|r| codec::sharing_token(&r))
        .transpose()
    }

    pub(super) async fn sh_list_sharing_tokens(
        &self,
        principal_id: Uuid,
    ) -> Result<Vec<SharingToken>> {
        let sql = format!(
            "SELECT {} FROM sharing_tokens WHERE principal_id = $1 AND kind IN {LISTED_KINDS} \
             ORDER BY created_at DESC, id DESC",
            codec::SHARING_TOKEN_COLS
        );
        all(
            rows(
                &self.pool,
                "list sharing tokens",
                &sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::sharing_token,
        )
    }

    pub(super) async fn sh_revoke_sharing_token(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let result = revoke_tx(w.conn(), id, at, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn sh_expire_sharing_tokens(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
        except: Uuid,
        audit: NewAuditEvent,
    ) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let result = expire_tx(w.conn(), principal_id, at, except, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn sh_touch_sharing_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE sharing_tokens SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id.to_string())
        .bind(ts(at))
        .execute(&mut *w.conn())
        .await
        .map(|_| ())
        .map_err(|e| internal("record a sharing token's use", e));
        w.finish(result).await
    }

    pub(super) async fn sh_delete_expired_access_tokens(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        let mut w = self.begin_write().await?;
        // `kind = 'access'` as a literal, so that the partial index on it applies.
        let result =
            sqlx::query("DELETE FROM sharing_tokens WHERE kind = 'access' AND expires_at < $1")
                .bind(ts(before))
                .execute(&mut *w.conn())
                .await
                .map(|done| done.rows_affected())
                .map_err(|e| internal("delete expired access tokens", e));
        w.finish(result).await
    }

    pub(super) async fn sh_recipient_settings(
        &self,
        principal_id: Uuid,
    ) -> Result<Option<RecipientSettings>> {
        let sql = format!(
            "SELECT {} FROM recipient_settings WHERE principal_id = $1",
            codec::RECIPIENT_SETTINGS_COLS
        );
        row(
            &self.pool,
            "read recipient settings",
            &sql,
            vec![principal_id.to_string()],
        )
        .await?
        .map(|r| codec::recipient_settings(&r))
        .transpose()
    }

    pub(super) async fn sh_put_recipient_settings(
        &self,
        settings: &RecipientSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO recipient_settings (principal_id, ip_allow_list, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (principal_id) DO UPDATE \
             SET ip_allow_list = excluded.ip_allow_list, updated_at = excluded.updated_at",
        )
        .bind(settings.principal_id.to_string())
        .bind(to_json("recipient IP allow list", &settings.ip_allow_list)?)
        .bind(ts(settings.updated_at));
        self.write_one(
            query,
            |e| {
                write_error(
                    &subject("recipient settings", settings.principal_id.to_string()),
                    e,
                )
            },
            None,
            &audit,
            false,
        )
        .await
    }
}
