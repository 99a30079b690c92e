//! Grants (table and file) and the policy version.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{FileGrant, Grant};
use uuid::Uuid;

/// Grants in force and the policy version (`store/grants.rs`). Grants are written by
/// [`crate::ShareStore::apply_share_change`].
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Grants in force for a principal: to it directly, or to any of `teams`.
    async fn grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<Grant>>;
    /// Grants in force on items of one share.
    async fn grants_of_share(&self, share_id: Uuid) -> Result<Vec<Grant>>;
    /// File grants in force for a principal: to it directly, or to any of `teams`.
    async fn file_grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<FileGrant>>;
    /// File grants in force on items of one share.
    async fn file_grants_of_share(&self, share_id: Uuid) -> Result<Vec<FileGrant>>;
    /// Table and file grants on items of any share of one product (for bulk verification).
    async fn grants_of_product(&self, product_id: Uuid) -> Result<(Vec<Grant>, Vec<FileGrant>)>;

    /// A counter bumped by every change that can alter what anyone may read (grants, group and
    /// team membership, data filters, row rules, column tags, tag masks). Access snapshots are
    /// cached by it.
    async fn policy_version(&self) -> Result<i64>;
    /// The policy version with the version of its last broad (unscoped) change.
    async fn policy_versions(&self) -> Result<PolicyVersion>;
    /// Whether a scoped change after version `since` touched any of `scopes`.
    async fn scopes_changed_since(&self, scopes: &[PolicyScope], since: i64) -> Result<bool>;
}

/// The policy version, and the part of it a cached access cannot outlive. Every change to what
/// anyone may read moves `version`. Most also move `broad`; a grant made or removed does not:
/// it records the new version against its grantee's [`PolicyScope`] instead. An access
/// resolved at version `v` for a principal whose scopes are `S` (itself, its teams, its
/// groups) is still valid at a later version if `broad <= v` and no scope of `S` changed
/// after `v` (docs/design/ACCESS.md §Snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyVersion {
    pub version: i64,
    pub broad: i64,
}

/// Whose grants a scoped policy change touched: a team's (its members read through them) or a
/// principal's (itself, or a group's members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyScope {
    Team(Uuid),
    Principal(Uuid),
}

impl PolicyScope {
    /// The scope's key in the store.
    pub fn key(&self) -> String {
        match self {
            PolicyScope::Team(id) => format!("team:{id}"),
            PolicyScope::Principal(id) => format!("principal:{id}"),
        }
    }
}

impl From<meshgate_core::model::Grantee> for PolicyScope {
    fn from(grantee: meshgate_core::model::Grantee) -> Self {
        match grantee {
            meshgate_core::model::Grantee::Team(id) => PolicyScope::Team(id),
            meshgate_core::model::Grantee::Principal(id) => PolicyScope::Principal(id),
        }
    }
}
