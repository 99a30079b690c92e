//! The catalog (issue 7): listing states, product descriptions, table tags, form types and
//! forms, enforcement rules, and the bulk read the search index is built from.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{
    FormTargetKind, FormType, FormTypeRevision, ListingState, MetadataForm, Rule, TableTags,
    TermLink,
};
use meshgate_core::model::{DataProduct, NewAuditEvent, ProductTable, Share, ShareItem};
use uuid::Uuid;

/// The catalog metadata of one or all products, read at once (for the search index): the
/// products, their tables, the tags of their tables and columns, the glossary terms attached
/// to them and the forms filled for them and their tables.
#[derive(Debug, Clone, Default)]
pub struct CatalogRows {
    pub products: Vec<DataProduct>,
    pub tables: Vec<ProductTable>,
    pub column_tags: Vec<ColumnTags>,
    pub table_tags: Vec<TableTags>,
    pub term_links: Vec<TermLink>,
    pub forms: Vec<MetadataForm>,
}

/// Catalog metadata (`store/catalog.rs`). Changes to a product's catalog metadata
/// (description, forms of it and its tables, glossary terms, table and column tags) bump the
/// product's `revision` in the same transaction.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Moves a product's listing from `from` to `to`; `Conflict` if it is no longer at
    /// `from` (a lost race), `NotFound` if the product is gone. Returns the product after.
    async fn set_listing(
        &self,
        product_id: Uuid,
        from: ListingState,
        to: ListingState,
        audit: NewAuditEvent,
    ) -> Result<DataProduct>;
    /// Replaces a product's description; bumps its revision. Returns the product after.
    async fn update_product_description(
        &self,
        product_id: Uuid,
        description: &str,
        audit: NewAuditEvent,
    ) -> Result<DataProduct>;

    /// Replaces a table's tags; no tags clears them. `NotFound` if the table is missing.
    async fn set_table_tags(&self, tags: &TableTags, audit: NewAuditEvent) -> Result<()>;
    /// The tagged tables of a product, by table id.
    async fn table_tags(&self, product_id: Uuid) -> Result<Vec<TableTags>>;

    /// Creates a form type at revision 1 (its `revision` must be 1). `AlreadyExists` for a
    /// taken name.
    async fn create_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()>;
    /// Stores a new revision of a form type: `form_type.revision` must be the stored one plus
    /// one (else `Conflict`, a lost race); the description and fields become current.
    async fn revise_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()>;
    async fn get_form_type(&self, id: Uuid) -> Result<Option<FormType>>;
    async fn get_form_type_by_name(&self, name: &str) -> Result<Option<FormType>>;
    /// Every form type at its latest revision, by name.
    async fn list_form_types(&self) -> Result<Vec<FormType>>;
    async fn form_type_revision(&self, id: Uuid, revision: i64)
    -> Result<Option<FormTypeRevision>>;
    /// Deletes a form type with all its revisions. `Conflict` while a rule requires it or a
    /// form of it is filled anywhere.
    async fn delete_form_type(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;

    /// Fills (or refills) the form of one type for a target: an upsert on (target, type).
    /// `NotFound` if a product or table target is missing.
    async fn put_form(&self, form: &MetadataForm, audit: NewAuditEvent) -> Result<()>;
    /// Removes a target's form of one type. `NotFound` if it has none.
    async fn delete_form(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
        form_type_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// The forms filled for one target.
    async fn forms_of(&self, kind: FormTargetKind, target_id: Uuid) -> Result<Vec<MetadataForm>>;
    /// [`crate::ShareStore::create_share`] together with the forms filled for the request,
    /// atomically.
    async fn create_share_with_forms(
        &self,
        share: &Share,
        items: &[ShareItem],
        forms: &[MetadataForm],
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// Creates an enforcement rule with its form types. `Invalid` if the domain or a form
    /// type does not exist.
    async fn create_rule(&self, rule: &Rule, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a rule. `NotFound` if absent.
    async fn delete_rule(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// Every rule with its form types, oldest first.
    async fn list_rules(&self) -> Result<Vec<Rule>>;

    /// The catalog metadata of one product (or of all), for the search index.
    async fn catalog_rows(&self, product_id: Option<Uuid>) -> Result<CatalogRows>;
}
