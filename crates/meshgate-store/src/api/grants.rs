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
}
