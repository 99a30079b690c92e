//! Storage credentials (docs/design/ACCESS.md §Tenant isolation) and the key that signs them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::credential::Credential;
use meshgate_core::model::NewAuditEvent;
use uuid::Uuid;

/// Credentials and their signing key (`store/credentials.rs`).
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The mesh's credential signing key, created on first use; the same on every replica.
    async fn signing_key(&self) -> Result<Vec<u8>>;
    async fn create_credential(&self, credential: &Credential, audit: NewAuditEvent) -> Result<()>;
    async fn get_credential(&self, id: Uuid) -> Result<Option<Credential>>;
    /// A principal's credentials, newest first.
    async fn list_credentials(&self, principal_id: Uuid) -> Result<Vec<Credential>>;
    /// Sets `revoked_at` (the first time counts). `NotFound` if absent.
    async fn revoke_credential(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Ids of revoked credentials that have not expired by `now` (the revocation list every
    /// replica keeps in memory).
    async fn revoked_credentials(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>>;
}
