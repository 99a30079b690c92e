//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) at `/scim/v2`: identity providers (Okta, Entra
//! ID, …) create, update, deactivate and delete users and groups, and set group members
//! (docs/design/SIGN_IN.md §SCIM).
//!
//! - `request.rs`: the one extractor that authenticates SCIM (a token of scope `scim`, nothing
//!   else), the body and the list parameters;
//! - `error.rs`: the SCIM error body every failure answers with;
//! - `schema.rs`: the User and Group schemas and the discovery documents, served by
//!   `discovery.rs`;
//! - `filter.rs`: filters and PATCH paths; `patch.rs`: PATCH operations;
//! - `resource.rs`: principals as SCIM resources, and what clients send checked;
//! - `provision.rs`: the operations, each write one store transaction; `resources.rs`: their
//!   routes.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

mod discovery;
mod error;
mod filter;
mod patch;
mod provision;
mod request;
mod resource;
mod resources;
mod schema;

pub use error::{ScimError, ScimResult};
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

/// A SCIM answer: 200 with an `application/scim+json` body.
pub struct Scim(pub Value);

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    r
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        scim_json(StatusCode::OK, &self.0)
    }
}

/// A created resource: 201, its `Location`, and the resource.
pub struct Created(pub Value);

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        let mut r = scim_json(StatusCode::CREATED, &self.0);
        if let Some(location) = self.0["meta"]["location"].as_str()
            && let Ok(v) = HeaderValue::from_str(location)
        {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}

/// 204, for a delete.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}
