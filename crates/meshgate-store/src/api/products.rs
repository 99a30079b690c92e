//! Data products and their tables.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{DataProduct, NewAuditEvent, ProductTable};
use uuid::Uuid;

/// Filters for [`ProductStore::list_products`].
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub domain_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
}

/// Data products and tables (`store/products.rs`).
#[async_trait]
pub trait ProductStore: Send + Sync + 'static {
    /// Creates a product with its tables, atomically.
    async fn create_product(
        &self,
        product: &DataProduct,
        tables: &[ProductTable],
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_product(&self, id: Uuid) -> Result<Option<DataProduct>>;
    async fn get_product_by_name(&self, domain_id: Uuid, name: &str)
    -> Result<Option<DataProduct>>;
    async fn list_products(&self, filter: &ProductFilter) -> Result<Vec<DataProduct>>;
    /// Deletes a product and its tables. Refused with `Conflict` while any of its shares has an
    /// item in a shared state (checked in the same transaction). Shares stay, for the record.
    async fn delete_product(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn add_table(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()>;
    /// Replaces a table's column list (after an append that evolved the schema).
    async fn update_table_columns(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()>;
    async fn get_table(&self, id: Uuid) -> Result<Option<ProductTable>>;
    async fn list_tables(&self, product_id: Uuid) -> Result<Vec<ProductTable>>;
    /// The tables of every product, for the overlap check of a new registration.
    async fn list_all_tables(&self) -> Result<Vec<ProductTable>>;
}
