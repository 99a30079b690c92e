//! External locations: URL prefixes an admin declares, under which the listed teams may
//! register existing Delta tables.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{ExternalLocation, NewAuditEvent};
use uuid::Uuid;

/// External locations (`store/locations.rs`). The service normalizes the URL and checks it
/// against the data root and the other locations; the store only keeps names and URLs
/// unique.
#[async_trait]
pub trait LocationStore: Send + Sync + 'static {
    /// `AlreadyExists` for a name or URL already declared.
    async fn create_external_location(
        &self,
        location: &ExternalLocation,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_external_location_by_name(&self, name: &str) -> Result<Option<ExternalLocation>>;
    /// All external locations, by name.
    async fn list_external_locations(&self) -> Result<Vec<ExternalLocation>>;
    /// `NotFound` if absent. Tables registered under it stay registered (and read-only).
    async fn delete_external_location(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
}
