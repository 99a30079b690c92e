//! [`RecipientStore`] for [`SqlStore`]: Delta Sharing recipients' sharing tokens (bearer
//! tokens, OAuth clients and the access tokens issued to them) and recipient settings.
//!
//! Activation is one conditional `UPDATE … RETURNING`: of two replicas activating the same
//! code at once, the loser's statement matches no row (on PostgreSQL it waits for the winner's
//! row lock, then re-checks the condition against the activated row), so a code works once.
//!
//! An access token is written with its OAuth client share-locked on PostgreSQL (SQLite
//! serialises writes anyway), so a concurrent revocation or rotation of the client, which
//! updates the client row before its access tokens, either sees the new access token or
//! finishes first and makes the insert see the revoked or shortened client.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::{
    NewAuditEvent, Principal, RecipientFederation, RecipientSettings, SharingToken,
    SharingTokenKind,
};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{Args, exec, fetch_one, insert_audit, locking};
use crate::RecipientStore;
use crate::codec::{opt_id, opt_ts, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

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

#[async_trait]
impl RecipientStore for SqlStore {
    async fn create_sharing_token(&self, token: &SharingToken, audit: NewAuditEvent) -> Result<()> {
        if token.kind == SharingTokenKind::Access || token.parent_id.is_some() {
            return Err(Error::invalid(format!(
                "sharing token `{}`: access tokens are issued to OAuth clients, not created",
                token.name
            )));
        }
        self.write(async |conn| {
            insert_token(conn, token).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn activate_sharing_token(
        &self,
        activation_hash: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Option<SharingToken>> {
        self.write(async |conn| {
            let sql = format!(
                "UPDATE sharing_tokens SET secret_hash = $2, activated_at = $3, \
                 activation_hash = NULL WHERE activation_hash = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $3) RETURNING {}",
                SharingToken::COLS
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
            let token = SharingToken::from_row(&found)?;
            insert_audit(conn, &audit).await?;
            Ok(Some(token))
        })
        .await
    }

    async fn insert_access_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<SharingToken> {
        self.write(async |conn| {
            let parent_id = check_access_token(token)?;
            let sql = SharingToken::select("WHERE id = $1");
            let sql = locking(self.backend, &sql, "FOR SHARE");
            let client: SharingToken =
                fetch_one(conn, "read a sharing token", &sql, &Args::of(&[&parent_id]))
                    .await?
                    .ok_or_else(|| Error::not_found("OAuth client", parent_id.to_string()))?;
            if client.kind != SharingTokenKind::OauthClient
                || client.principal_id != token.principal_id
            {
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
            insert_audit(conn, &audit).await?;
            Ok(stored)
        })
        .await
    }

    async fn find_sharing_token(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(SharingToken, Principal)>> {
        let mut conn = self.read().await?;
        let sql = SharingToken::select("WHERE secret_hash = $1");
        let args = Args::of(&[&secret_hash]);
        let Some(token) =
            fetch_one::<SharingToken>(&mut conn, "read a sharing token", &sql, &args).await?
        else {
            return Ok(None);
        };
        let sql = Principal::select("WHERE id = $1");
        let args = Args::of(&[&token.principal_id]);
        let principal = fetch_one(&mut conn, "read a principal", &sql, &args).await?;
        Ok(principal.map(|principal| (token, principal)))
    }

    async fn get_sharing_token(&self, id: Uuid) -> Result<Option<SharingToken>> {
        let sql = SharingToken::select("WHERE id = $1");
        self.get("read a sharing token", &sql, &[&id]).await
    }

    async fn list_sharing_tokens(&self, principal_id: Uuid) -> Result<Vec<SharingToken>> {
        let sql = SharingToken::select(&format!(
            "WHERE principal_id = $1 AND kind IN {LISTED_KINDS} \
             ORDER BY created_at DESC, id DESC"
        ));
        self.list("list sharing tokens", &sql, &[&principal_id])
            .await
    }

    async fn revoke_sharing_token(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        self.write(async |conn| {
            // The token first, then what was issued to it: the client row is locked before its
            // access tokens are read, as in `insert_access_token`.
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
                "UPDATE sharing_tokens SET revoked_at = COALESCE(revoked_at, $2) \
                 WHERE parent_id = $1",
            )
            .bind(id.to_string())
            .bind(ts(at))
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("revoke access tokens", e))?;
            insert_audit(conn, &audit).await?;
            Ok(true)
        })
        .await
    }

    async fn expire_sharing_tokens(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
        except: Uuid,
        audit: NewAuditEvent,
    ) -> Result<u64> {
        self.write(async |conn| {
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
            insert_audit(conn, &audit).await?;
            Ok(changed)
        })
        .await
    }

    async fn touch_sharing_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE sharing_tokens SET last_used_at = $2 \
                   WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        let args = Args::of(&[&id, &ts(at)]);
        self.write(async |conn| exec(conn, "record a sharing token's use", sql, &args).await)
            .await?;
        Ok(())
    }

    async fn delete_expired_access_tokens(&self, before: DateTime<Utc>) -> Result<u64> {
        // `kind = 'access'` as a literal, so that the partial index on it applies.
        let sql = "DELETE FROM sharing_tokens WHERE kind = 'access' AND expires_at < $1";
        let args = Args::of(&[&ts(before)]);
        self.write(async |conn| exec(conn, "delete expired access tokens", sql, &args).await)
            .await
    }

    async fn recipient_settings(&self, principal_id: Uuid) -> Result<Option<RecipientSettings>> {
        let sql = RecipientSettings::select("WHERE principal_id = $1");
        self.get("read recipient settings", &sql, &[&principal_id])
            .await
    }

    async fn put_recipient_settings(
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

    async fn recipient_federation(
        &self,
        principal_id: Uuid,
    ) -> Result<Option<RecipientFederation>> {
        let sql = RecipientFederation::select("WHERE principal_id = $1");
        self.get("read a recipient's federation", &sql, &[&principal_id])
            .await
    }

    async fn put_recipient_federation(
        &self,
        federation: &RecipientFederation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO recipient_federations (principal_id, issuer, subject, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (principal_id) DO UPDATE \
             SET issuer = excluded.issuer, subject = excluded.subject, \
             created_at = excluded.created_at",
        )
        .bind(federation.principal_id.to_string())
        .bind(federation.issuer.as_str())
        .bind(federation.subject.as_str())
        .bind(ts(federation.created_at));
        let what = subject("federated subject", federation.subject.as_str());
        self.write_one(query, |e| write_error(&what, e), None, &audit, true)
            .await
    }

    async fn delete_recipient_federation(
        &self,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query("DELETE FROM recipient_federations WHERE principal_id = $1")
            .bind(principal_id.to_string());
        let not_found = Error::not_found("federation", principal_id.to_string());
        self.write_one(
            query,
            |e| internal("remove a recipient's federation", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn federated_recipient(&self, issuer: &str, subject: &str) -> Result<Option<Principal>> {
        let sql = Principal::select(
            "WHERE id = (SELECT principal_id FROM recipient_federations \
             WHERE issuer = $1 AND subject = $2)",
        );
        self.get("read a federated recipient", &sql, &[&issuer, &subject])
            .await
    }
}
