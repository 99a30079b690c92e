//! [`SessionStore`] for [`SqlStore`]: browser sessions and sign-ins in progress.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::{NewAuditEvent, Principal, Session, SignInAttempt};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{Args, exec, fetch_one};
use crate::SessionStore;
use crate::codec::{opt_ts, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &Session, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO sessions (id, secret_hash, principal_id, method, issuer, csrf, \
             created_at, last_seen_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session.id.to_string())
        .bind(session.secret_hash.as_str())
        .bind(session.principal_id.to_string())
        .bind(session.method.as_str())
        .bind(session.issuer.as_deref())
        .bind(session.csrf.as_str())
        .bind(ts(session.created_at))
        .bind(ts(session.last_seen_at))
        .bind(ts(session.expires_at))
        .bind(opt_ts(session.revoked_at));
        let on_error = |e| write_error(&subject("session", session.id.to_string()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn find_session(&self, secret_hash: &str) -> Result<Option<(Session, Principal)>> {
        let sql = Session::select("WHERE secret_hash = $1");
        let Some(session) = self
            .get::<Session>("read a session", &sql, &[&secret_hash])
            .await?
        else {
            return Ok(None);
        };
        let sql = Principal::select("WHERE id = $1");
        let principal = self
            .get::<Principal>("read a principal", &sql, &[&session.principal_id])
            .await?;
        Ok(principal.map(|p| (session, p)))
    }

    async fn touch_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
            .bind(id.to_string())
            .bind(ts(at))
            .execute(&self.pool)
            .await
            .map_err(|e| internal("record a session's use", e))?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query =
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(id.to_string())
                .bind(ts(at));
        let not_found = Error::not_found("session", id.to_string());
        self.write_one(
            query,
            |e| internal("end a session", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn revoke_sessions_of(&self, principal: Uuid, at: DateTime<Utc>) -> Result<u64> {
        exec(
            &mut *self
                .pool
                .acquire()
                .await
                .map_err(|e| internal("end sessions", e))?,
            "end sessions",
            "UPDATE sessions SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL",
            &Args::of(&[&principal, &ts(at)]),
        )
        .await
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64> {
        exec(
            &mut *self
                .pool
                .acquire()
                .await
                .map_err(|e| internal("purge sessions", e))?,
            "purge sessions",
            "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1",
            &Args::of(&[&ts(before)]),
        )
        .await
    }

    async fn create_sign_in_attempt(&self, attempt: &SignInAttempt) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_attempts (state_hash, issuer, verifier, nonce, return_to, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(attempt.state_hash.as_str())
        .bind(attempt.issuer.as_str())
        .bind(attempt.verifier.as_str())
        .bind(attempt.nonce.as_str())
        .bind(attempt.return_to.as_str())
        .bind(ts(attempt.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| internal("start a sign-in", e))?;
        Ok(())
    }

    async fn take_sign_in_attempt(
        &self,
        state_hash: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<SignInAttempt>> {
        self.write(async |conn| {
            let sql = SignInAttempt::select("WHERE state_hash = $1");
            let found: Option<SignInAttempt> =
                fetch_one(conn, "read a sign-in", &sql, &Args::of(&[&state_hash])).await?;
            // This one (used once) and every stale one go.
            exec(
                conn,
                "finish a sign-in",
                "DELETE FROM sign_in_attempts WHERE state_hash = $1 OR created_at < $2",
                &Args::of(&[&state_hash, &ts(not_before)]),
            )
            .await?;
            Ok(found.filter(|a| a.created_at >= not_before))
        })
        .await
    }
}
