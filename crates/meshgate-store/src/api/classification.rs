//! Automatic classification's suggestions (docs/design/CLASSIFICATION.md).

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::classification::{Change, Suggestion, TableState};
use meshgate_core::model::NewAuditEvent;
use uuid::Uuid;

/// The suggested tags of columns (`store/classification.rs`).
#[async_trait]
pub trait ClassificationStore: Send + Sync + 'static {
    /// A table's suggestions and column tags, read together: what a
    /// `meshgate_core::classification` change is planned from. `NotFound` if the table is
    /// missing.
    async fn classification_state(&self, table_id: Uuid) -> Result<TableState>;

    /// The suggestions of every table of a product, by table id, column, then kind.
    async fn product_suggestions(&self, product_id: Uuid) -> Result<Vec<Suggestion>>;

    /// Commits `change` with `audit`, in one transaction, if the table's suggestions and
    /// column tags are still `change.before` (else `Conflict`: plan again from a fresh read).
    /// Suggestions are written by table, column and kind; column tags are replaced (no tags
    /// clears them). A change to column tags bumps the policy version (tag masks apply from
    /// the next query) and the product's catalog revision. `NotFound` if the table is missing.
    async fn change_classification(&self, change: &Change, audit: Vec<NewAuditEvent>)
    -> Result<()>;
}
