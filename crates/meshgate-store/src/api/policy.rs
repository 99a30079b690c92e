//! Fine-grained access (docs/design/ACCESS.md): data filters, row rules, column tags, tag masks and the
//! mask key, and table tenancy.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::access::{ColumnTags, DataFilter, RowRule, TagMask};
use meshgate_core::credential::TableTenancy;
use meshgate_core::model::NewAuditEvent;
use uuid::Uuid;

/// What narrows or masks what a grant gives (`store/policy.rs`). Every write here changes
/// what someone may read, so each bumps the policy version.
#[async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// Creates a data filter on a table of its product. `AlreadyExists` if the table has a
    /// filter of that name, `NotFound` if the table is missing, `Invalid` if the table belongs
    /// to another product.
    async fn create_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()>;
    /// Updates a filter's description, row filter, columns and `updated_at` (by id; its name,
    /// table and creator stay). `NotFound` if absent.
    async fn update_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a data filter. `NotFound` if absent; refused with `Conflict` while any grant's
    /// scope uses it (checked in the same transaction).
    async fn delete_data_filter(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn get_data_filter(&self, id: Uuid) -> Result<Option<DataFilter>>;
    async fn get_data_filter_by_name(
        &self,
        table_id: Uuid,
        name: &str,
    ) -> Result<Option<DataFilter>>;
    /// A table's data filters, by name.
    async fn list_data_filters(&self, table_id: Uuid) -> Result<Vec<DataFilter>>;
    /// The filters with these ids (missing ids are simply absent), by table, then name.
    async fn data_filters_by_ids(&self, ids: &[Uuid]) -> Result<Vec<DataFilter>>;

    /// Replaces all of a product's row rules atomically, keeping their order; an empty slice
    /// leaves the product without rules. `NotFound` if the product is missing.
    async fn replace_row_rules(
        &self,
        product_id: Uuid,
        rules: &[RowRule],
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// A product's row rules, in the order they were given.
    async fn row_rules(&self, product_id: Uuid) -> Result<Vec<RowRule>>;

    /// Replaces the tags of one column; no tags clears them. `NotFound` if the table is missing.
    async fn set_column_tags(&self, tags: &ColumnTags, audit: NewAuditEvent) -> Result<()>;
    /// The tagged columns of a table (columns without tags are absent), by column name.
    async fn column_tags(&self, table_id: Uuid) -> Result<Vec<ColumnTags>>;

    /// Sets the default mask for a tag, mesh-wide or for one domain: an upsert on
    /// (`domain_id`, `tag`) that keeps an existing entry's id and `created_at`. `Invalid` if
    /// the domain does not exist.
    async fn put_tag_mask(&self, mask: &TagMask, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a tag mask. `NotFound` if absent.
    async fn delete_tag_mask(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// Every tag mask, by tag, mesh-wide before per-domain.
    async fn list_tag_masks(&self) -> Result<Vec<TagMask>>;
    /// The mesh's key of the `hash` mask (MASKS_AND_WEBHOOKS.md), created on first use; the
    /// same on every replica.
    async fn mask_key(&self) -> Result<Vec<u8>>;
    /// Replaces the mask key with a fresh random one and bumps the policy version (every
    /// replica then resolves access again with the new key), with `audit`, in one
    /// transaction. Masked values hashed before no longer match those hashed after.
    async fn rotate_mask_key(&self, audit: NewAuditEvent) -> Result<()>;

    /// Declares (or changes) a table's tenant key (docs/design/ACCESS.md §Tenant isolation); bumps the
    /// policy version.
    async fn set_tenancy(&self, tenancy: &TableTenancy, audit: NewAuditEvent) -> Result<()>;
    async fn tenancy(&self, table_id: Uuid) -> Result<Option<TableTenancy>>;
}
