//! SCIM provisioning (docs/design/SIGN_IN.md §SCIM): what a SCIM client set on a user or group
//! principal that meshgate keeps for it, and SCIM writes, each one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::{NewAuditEvent, Principal};
use uuid::Uuid;

use super::identity::{MemberOp, Revoked};

/// The SCIM side of a principal.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRecord {
    pub principal_id: Uuid,
    /// The kept attributes, a JSON object (externalId, name, emails, …).
    pub attributes: serde_json::Value,
    /// Bumped by every SCIM write (the compare-and-set of [`ScimWrite::expected_version`]).
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    /// Set by a SCIM DELETE: SCIM no longer shows the principal.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The login the principal had when it was deleted (its login is cleared).
    pub deleted_login: Option<String>,
}

/// One SCIM write (create, replace, patch or delete of a user or group): the principal's
/// fields, the kept attributes, group memberships, the revocations of a deactivation and the
/// audit events, committed together or not at all.
#[derive(Debug, Clone)]
pub struct ScimWrite {
    /// The principal as it is to be: its login, display name and active flag are written.
    pub principal: Principal,
    /// Insert the principal (SCIM POST) instead of updating it.
    pub create: bool,
    /// The attributes to keep (a JSON object).
    pub attributes: serde_json::Value,
    /// The version of the [`ScimRecord`] the write was computed from, 0 when the principal had
    /// none: a record that has moved on since is a `Conflict` and nothing is written.
    pub expected_version: i64,
    pub at: DateTime<Utc>,
    /// Changes to the group's `scim` memberships, in order (groups only).
    pub members: Vec<MemberOp>,
    /// SCIM DELETE: the principal is deactivated (everything revoked), its login cleared and
    /// kept in the record, its group memberships (as member, and as group) removed.
    pub delete: bool,
    /// The event describing the write; its detail gains `revoked` (counts) when the write
    /// deactivated the principal, and `memberships_removed` on a delete.
    pub audit: NewAuditEvent,
    /// Appended (with `added` and `removed` member ids in its detail) when the members changed.
    pub members_audit: NewAuditEvent,
}

/// What a [`ScimWrite`] changed beyond the principal itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScimWritten {
    /// Members added to and removed from the group.
    pub added: Vec<Uuid>,
    pub removed: Vec<Uuid>,
    /// Set when the write deactivated (or deleted) an active principal.
    pub revoked: Option<Revoked>,
}

/// SCIM records and writes (`store/scim.rs`).
#[async_trait]
pub trait ScimStore: Send + Sync + 'static {
    async fn scim_record(&self, principal: Uuid) -> Result<Option<ScimRecord>>;
    /// Every principal's record, deleted ones included.
    async fn scim_records(&self) -> Result<Vec<ScimRecord>>;
    /// Commits `write` whole, or nothing: `AlreadyExists` for a login (or name) taken,
    /// `Conflict` for a stale `expected_version` or a deleted principal, `NotFound` for a
    /// principal that is gone, `Invalid` for a member that is not a principal.
    async fn write_scim(&self, write: &ScimWrite) -> Result<ScimWritten>;
}
