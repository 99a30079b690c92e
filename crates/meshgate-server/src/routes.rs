//! The REST API's core routes (docs/API.md), one resource module per area. Each handler
//! takes typed extractors (`extract.rs`: bodies, query strings, ids; `lookup.rs`: the product
//! or table a path names, 404 before the handler runs) and delegates in a line or three to
//! its operation; feature modules (`access.rs`, `catalog/`, `files.rs`, …) keep their own
//! routes the same way (docs/design/ARCHITECTURE.md §Server layout).

use axum::Router;

use crate::state::AppState;

pub(crate) mod data;
pub(crate) mod identity;
pub(crate) mod org;
pub(crate) mod products;
pub(crate) mod shares;

/// The control plane's core routes: identity, the organisation, products and shares.
pub fn api(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(identity::routes())
        .merge(org::routes())
        .merge(products::routes(state))
        .merge(shares::routes())
}

/// SQL and the audit log.
pub fn data_plane() -> Router<AppState> {
    data::routes()
}
