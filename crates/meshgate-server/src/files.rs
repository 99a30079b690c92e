//! Product files over HTTP (docs/API.md §Files): upload, list, download and delete a data
//! product's files, and hand out signed, expiring, principal-bound download URLs that
//! meshgate serves itself (`/files/v1/…`, no bearer token).
//!
//! Who may do what:
//! - upload and delete: whoever may append data to the product (`AppendData`: owners and
//!   stewards of its team, admins);
//! - list, download and sign: members of the product's team (and whoever may write its
//!   files), or a principal holding a file grant (from a folder or whole-product share item)
//!   whose prefix covers the path. A listing shows only covered files; a listing prefix
//!   outside every grant is a 403, not an empty list.
//!
//! Signed URLs are re-checked when used: the principal must still hold a grant covering the
//! path, so revoking a share kills the URLs handed out under it. Credentials (session
//! policies) name tables only, so they carry no file access at all.
//!
//! Ranges: one range (`bytes=a-b`, `a-`, `-n`) is a 206 with `Content-Range`; a range that
//! cannot be served is a 416; several ranges are answered with the whole file (200), as RFC
//! 9110 allows.
//!
//! The parts: [`rights`] (who may read and write), [`write`] (upload, delete), [`listing`],
//! [`download`] (bearer downloads, and serving bytes for every download) and [`signed`]
//! (signed URLs).

pub mod download;
pub mod listing;
pub mod rights;
pub mod signed;
pub mod write;

pub(crate) use download::{Download, serve_bytes};
pub(crate) use signed::SignedParams;
pub use signed::sign_url;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The routes under `/api/v1` (bearer token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/products/{domain}/{product}/files", get(listing::list))
        // `sign` is a verb here; a file that happens to be called `sign` stays reachable
        // through the other methods of the same route.
        .route(
            "/products/{domain}/{product}/files/sign",
            post(signed::sign)
                .get(download::download_named_sign)
                .head(download::download_named_sign)
                .put(write::upload_named_sign)
                .delete(write::delete_named_sign),
        )
        .route(
            "/products/{domain}/{product}/files/{*path}",
            get(download::download)
                .head(download::download)
                .put(write::upload)
                .delete(write::delete),
        )
}

/// The signed-URL routes, at the root (no `/api/v1`, no bearer token).
pub fn signed_routes() -> Router<AppState> {
    Router::new().route(
        "/files/v1/{product_id}/{*path}",
        get(signed::signed_download).head(signed::signed_download),
    )
}
