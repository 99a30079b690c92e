//! [`CredentialStore`] for [`SqlStore`]: storage credentials (docs/design/ACCESS.md §Tenant isolation)
//! and the mesh's key that signs them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::credential::Credential;
use meshgate_core::model::NewAuditEvent;
use meshgate_core::{Error, Result};
use uuid::Uuid;

use crate::CredentialStore;
use crate::codec::{opt_ts, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

/// The name of the signing key's row in `mesh_secrets`.
const SIGNING_KEY: &str = "credential_signing_key";

#[async_trait]
impl CredentialStore for SqlStore {
    async fn signing_key(&self) -> Result<Vec<u8>> {
        self.mesh_secret(SIGNING_KEY, "signing key").await
    }

    async fn create_credential(&self, c: &Credential, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO credentials (id, principal_id, policy, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id.to_string())
        .bind(c.principal_id.to_string())
        .bind(to_json("credential policy", &c.policy)?)
        .bind(ts(c.created_at))
        .bind(ts(c.expires_at))
        .bind(opt_ts(c.revoked_at));
        let on_error = |e| write_error(&subject("credential", c.id.to_string()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_credential(&self, id: Uuid) -> Result<Option<Credential>> {
        let sql = Credential::select("WHERE id = $1");
        self.get("read a credential", &sql, &[&id]).await
    }

    async fn list_credentials(&self, principal_id: Uuid) -> Result<Vec<Credential>> {
        let sql = Credential::select("WHERE principal_id = $1 ORDER BY created_at DESC, id");
        self.list("list credentials", &sql, &[&principal_id]).await
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
        self.ids("read revoked credentials", sql, &[&ts(now)], "id")
            .await
    }
}
