//! Delta Sharing recipients: their sharing tokens (bearer tokens, OAuth clients and the
//! access tokens issued to them) and settings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::{
    NewAuditEvent, Principal, RecipientFederation, RecipientSettings, SharingToken,
};
use uuid::Uuid;

/// Sharing tokens and recipient settings (`store/recipients.rs`). A recipient is an ordinary
/// principal; its sharing tokens authenticate only the Delta Sharing endpoints. Only hashes
/// of secrets and activation codes are stored.
#[async_trait]
pub trait RecipientStore: Send + Sync + 'static {
    /// Stores a bearer token or an OAuth client, normally not yet activated (`activation_hash`
    /// set, `secret_hash` `None`). `Invalid` for an access token (those are issued with
    /// [`RecipientStore::insert_access_token`]) or a missing principal, `AlreadyExists` for a
    /// hash already in use.
    async fn create_sharing_token(&self, token: &SharingToken, audit: NewAuditEvent) -> Result<()>;
    /// Activates the token whose activation code has this hash, once and atomically: if it is
    /// neither revoked nor expired at `now`, sets `secret_hash` and `activated_at = now`,
    /// clears `activation_hash`, writes `audit` and returns the token as it is now. `None`
    /// (writing nothing) for an unknown, used, revoked or expired code: of concurrent calls
    /// with one code, exactly one activates.
    async fn activate_sharing_token(
        &self,
        activation_hash: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Option<SharingToken>>;
    /// Stores an access token the OAuth token endpoint issued: kind `access`, activated (with
    /// `secret_hash` and `activated_at`), with an expiry, and `parent_id` naming an OAuth
    /// client of the same principal (else `Invalid`; `NotFound` for a missing client). The
    /// client must be usable at the token's `created_at` (else `Conflict`, e.g. it was revoked
    /// meanwhile). The token never outlives its client: its expiry is cut to the client's.
    /// Returns the token as stored.
    async fn insert_access_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<SharingToken>;
    /// The sharing token with this secret hash and its principal, whether usable or not.
    async fn find_sharing_token(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(SharingToken, Principal)>>;
    async fn get_sharing_token(&self, id: Uuid) -> Result<Option<SharingToken>>;
    /// A principal's bearer tokens and OAuth clients (not the access tokens issued to them),
    /// newest first, in any state.
    async fn list_sharing_tokens(&self, principal_id: Uuid) -> Result<Vec<SharingToken>>;
    /// Sets `revoked_at` (revoking twice keeps the first time), and on every access token
    /// issued to it. Returns whether the token exists; `audit` is written only if it does.
    async fn revoke_sharing_token(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool>;
    /// Rotation: every bearer token and OAuth client of the principal other than `except`
    /// that is not revoked expires at `at` at the latest (an earlier expiry stays), and so do
    /// the access tokens issued to those clients. Returns how many bearer tokens and OAuth
    /// clients changed (access tokens are not counted).
    async fn expire_sharing_tokens(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
        except: Uuid,
        audit: NewAuditEvent,
    ) -> Result<u64>;
    /// Records a use of the token at `at` (`last_used_at` only moves forward). Not audited;
    /// a token that is gone is skipped.
    async fn touch_sharing_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Deletes the access tokens that expired before `before`; returns how many.
    async fn delete_expired_access_tokens(&self, before: DateTime<Utc>) -> Result<u64>;
    /// A recipient's settings; `None` if none were set.
    async fn recipient_settings(&self, principal_id: Uuid) -> Result<Option<RecipientSettings>>;
    /// Sets (or replaces) a recipient's settings. `Invalid` if the principal does not exist.
    async fn put_recipient_settings(
        &self,
        settings: &RecipientSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// A recipient's federation binding, if any.
    async fn recipient_federation(&self, principal_id: Uuid)
    -> Result<Option<RecipientFederation>>;
    /// Binds (or rebinds) a recipient; `AlreadyExists` when another recipient has the
    /// (issuer, subject).
    async fn put_recipient_federation(
        &self,
        federation: &RecipientFederation,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Removes a recipient's binding; `NotFound` if it has none.
    async fn delete_recipient_federation(
        &self,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// The recipient bound to (issuer, subject), if any.
    async fn federated_recipient(&self, issuer: &str, subject: &str) -> Result<Option<Principal>>;
}
