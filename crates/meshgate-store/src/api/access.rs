//! The bulk read behind the access snapshot.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::Grant;
use meshgate_core::snapshot::AccessRows;
use uuid::Uuid;

/// The store's reads for the access snapshot (`store/access.rs`).
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Everything that decides what `principal_id` (a member of `teams` and of the groups
    /// `groups`) may read, in a handful of queries whatever the number of tables: owned and
    /// granted products and tables, grants and file grants, local names, data filters, row
    /// rules, column tags, tag masks, domain names, tenancies and group names, with the
    /// policy version read first (so the rows are at least as new as the version).
    /// `meshgate_core::snapshot::resolve` turns them into the snapshot.
    async fn access_rows(
        &self,
        principal_id: Uuid,
        teams: &[Uuid],
        groups: &[Uuid],
    ) -> Result<AccessRows> {
        self.access_rows_assuming(principal_id, teams, groups, &[])
            .await
    }

    /// [`AccessStore::access_rows`] as if the grants `assumed` were in force beside the
    /// stored ones, with everything they bring (their tables, products, data filters, row
    /// rules, tags): what an approval would give, for its preview. Nothing is written.
    async fn access_rows_assuming(
        &self,
        principal_id: Uuid,
        teams: &[Uuid],
        groups: &[Uuid],
        assumed: &[Grant],
    ) -> Result<AccessRows>;
}
