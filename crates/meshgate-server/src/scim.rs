//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) at `/scim/v2`: identity providers (Okta, Entra
//! ID, …) create, update, deactivate and delete users and groups, and set group members
//! (docs/design/SIGN_IN.md §SCIM).
//!
//! - `schema.rs`: the User and Group schemas and the discovery documents;
//! - `error.rs`: the SCIM error body every failure answers with; `reply.rs`: what a success
//!   answers;
//! - `filter.rs`: filters and PATCH paths;
//! - `request.rs`: the one extractor that authenticates SCIM (a token of scope `scim`, nothing
//!   else), the body and the list parameters;
//! - `resource.rs`: principals as SCIM resources, and what clients send, checked;
//! - `patch.rs`: PATCH operations;
//! - `provision.rs`: the operations, each write one store transaction;
//! - `discovery.rs`, `resources.rs`: the routes.
//!
//! Each child uses only those listed before it (and never this file).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

mod discovery;
mod error;
mod filter;
mod patch;
mod provision;
mod reply;
mod request;
mod resource;
mod resources;
mod schema;

pub use error::{ScimError, ScimResult};
pub use reply::{Created, NoContent, Scim};
pub use request::ScimCaller;
pub use schema::MAX_BODY_BYTES;

/// The SCIM routes, served under `/scim/v2`; anything else there is a SCIM 404, a method an
/// endpoint lacks a SCIM 405.
pub fn routes() -> Router<crate::state::AppState> {
    discovery::routes()
        .merge(resources::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .method_not_allowed_fallback(|| async {
            ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                "this endpoint does not take that method",
            )
        })
        .fallback(|| async {
            ScimError::not_found(
                "no such SCIM endpoint: there are /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas",
            )
        })
}
