//! The business glossary (issue 7): glossaries, their terms, relations between terms, and
//! the terms attached to products and columns.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::catalog::{Glossary, GlossaryTerm, TermLink, TermRelation};
use meshgate_core::model::NewAuditEvent;
use uuid::Uuid;

/// Glossaries, terms, relations and links (`store/glossary.rs`). Attaching or detaching a
/// term bumps the product's catalog `revision`.
#[async_trait]
pub trait GlossaryStore: Send + Sync + 'static {
    async fn create_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()>;
    /// Updates a glossary's description, `enabled` and `updated_at`. `NotFound` if absent.
    async fn update_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a glossary. `Conflict` while it has terms.
    async fn delete_glossary(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn get_glossary_by_name(&self, name: &str) -> Result<Option<Glossary>>;
    /// Every glossary, by name.
    async fn list_glossaries(&self) -> Result<Vec<Glossary>>;

    /// Creates a term. `AlreadyExists` if its glossary has a term of that name.
    async fn create_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()>;
    /// Updates a term's description, `enabled` and `updated_at`. `NotFound` if absent.
    async fn update_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a term. `Conflict` while it is attached to a product or column, related to
    /// another term, or the value of a filled form.
    async fn delete_term(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// The terms of one glossary (or of all), by glossary then name.
    async fn list_terms(&self, glossary_id: Option<Uuid>) -> Result<Vec<GlossaryTerm>>;
    /// Relates two terms; relating them again is a no-op. `Invalid` for an `is_a` that would
    /// close a cycle (naming the terms on it) or a term related to itself.
    async fn add_term_relation(&self, relation: &TermRelation, audit: NewAuditEvent) -> Result<()>;
    /// `NotFound` if the relation does not exist.
    async fn remove_term_relation(
        &self,
        relation: &TermRelation,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Every term relation.
    async fn term_relations(&self) -> Result<Vec<TermRelation>>;
    /// Attaches a term to a product or one of its columns; attaching again is a no-op.
    /// `NotFound` if the product is missing, `Invalid` if the table is another product's.
    async fn link_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()>;
    /// `NotFound` if the term is not attached there.
    async fn unlink_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()>;
    /// The terms attached to one product (or to all).
    async fn term_links(&self, product_id: Option<Uuid>) -> Result<Vec<TermLink>>;
}
