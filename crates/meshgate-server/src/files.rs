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

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use meshgate_authz::{Action, Actor};
use meshgate_core::files::{
    self as core_files, DEFAULT_URL_TTL, EXPIRES_PARAM, MAX_URL_TTL, PRINCIPAL_PARAM, RangeRequest,
    SIGNATURE_PARAM, SignedResource, UrlError,
};
use meshgate_core::model::{
    DataProduct, FileGrant, NewAuditEvent, Outcome, Principal, folder_covers,
};
use meshgate_core::snapshot::FileAccess;
use meshgate_engine::files::{FileMeta, ProductFiles};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::extract::{JsonBody, Params};
use crate::lookup;
use crate::lookup::product_resource;
use crate::state::AppState;

/// Default and largest page of a listing.
const DEFAULT_LIST: u32 = 1000;
const MAX_LIST: u32 = 10_000;

/// The routes under `/api/v1` (bearer token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/products/{domain}/{product}/files", get(list))
        // `sign` is a verb here; a file that happens to be called `sign` stays reachable
        // through the other methods of the same route.
        .route(
            "/products/{domain}/{product}/files/sign",
            post(sign)
                .get(download_named_sign)
                .head(download_named_sign)
                .put(upload_named_sign)
                .delete(delete_named_sign),
        )
        .route(
            "/products/{domain}/{product}/files/{*path}",
            get(download).head(download).put(upload).delete(delete),
        )
}

/// The signed-URL routes, at the root (no `/api/v1`, no bearer token).
pub fn signed_routes() -> Router<AppState> {
    Router::new().route(
        "/files/v1/{product_id}/{*path}",
        get(signed_download).head(signed_download),
    )
}

// ----- access -----

/// What a principal may read of one product's files.
enum Readable {
    /// Everything (its team's product, or it may write the files).
    All,
    /// What these grants cover (possibly nothing).
    Granted(Vec<FileGrant>),
}

impl Readable {
    fn covers(&self, product_id: Uuid, path: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Granted(grants) => grants.iter().any(|g| g.covers(product_id, path)),
        }
    }

    /// Whether a listing under `prefix` can show anything the principal may read.
    fn may_list(&self, prefix: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Granted(grants) => grants
                .iter()
                .any(|g| g.prefix.starts_with(prefix) || folder_covers(&g.prefix, prefix)),
        }
    }
}

/// What `principal` (as `actor`) may read of `product`'s files: everything where it may
/// write them, else what its access snapshot gives (ownership or file grants; the snapshot
/// follows the policy version, so a revoked grant or a left team takes effect at once).
async fn readable(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    product: &DataProduct,
) -> ApiResult<Readable> {
    if state
        .authz
        .is_allowed(actor, Action::AppendData, &product_resource(product))
    {
        return Ok(Readable::All);
    }
    let access = crate::snapshot::of_actor(state, principal, actor).await?;
    Ok(match access.files(product.id) {
        FileAccess::All => Readable::All,
        FileAccess::Granted(grants) => Readable::Granted(grants),
    })
}

/// An audit event about the files of `product`.
fn event(actor: Uuid, action: &str, product: &DataProduct) -> NewAuditEvent {
    NewAuditEvent::new(
        Some(actor),
        action,
        "data_product",
        Some(product.id.to_string()),
    )
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
}

/// A product looked up by name, with its qualified name for messages.
struct Target {
    product: DataProduct,
    qualified: String,
}

async fn target(state: &AppState, caller: &Caller, domain: &str, name: &str) -> ApiResult<Target> {
    let (_, product) = lookup::product_by_name(state, caller, domain, name).await?;
    Ok(Target {
        product,
        qualified: format!("{domain}.{name}"),
    })
}

/// Records a denial and returns the 403 to answer with.
async fn deny(
    state: &AppState,
    actor: Uuid,
    action: &str,
    t: &Target,
    path: Option<&str>,
    message: String,
) -> ApiResult<ApiError> {
    let e = event(actor, action, &t.product)
        .with_outcome(Outcome::Denied)
        .with_detail(json!({"product": t.qualified, "path": path, "reason": message}));
    state.store.append_audit(e).await?;
    Ok(ApiError::forbidden(message))
}

/// What `caller` may read of `t`'s files; credentials get nothing (they name tables only).
async fn caller_readable(
    state: &AppState,
    caller: &Caller,
    action: &str,
    t: &Target,
    path: Option<&str>,
) -> ApiResult<Readable> {
    if caller.session.is_some() {
        return Err(deny(
            state,
            caller.id(),
            action,
            t,
            path,
            format!(
                "principal `{}` may not read files of `{}` with a credential: credentials carry table access only; use an API token",
                caller.principal.name, t.qualified
            ),
        )
        .await?);
    }
    readable(state, &caller.principal, &caller.actor, &t.product).await
}

/// Fails (audited) unless `caller` may write `t`'s files.
async fn check_writer(
    state: &AppState,
    caller: &Caller,
    action: &str,
    verb: &str,
    t: &Target,
    path: &str,
) -> ApiResult<()> {
    let what = format!("{verb} files of `{}`", t.qualified);
    if let Err(e) = lookup::authorize(
        state,
        caller,
        Action::AppendData,
        &product_resource(&t.product),
        &what,
    ) {
        return Err(deny(state, caller.id(), action, t, Some(path), e.message).await?);
    }
    Ok(())
}

fn not_covered(name: &str, path: &str, t: &Target) -> String {
    format!(
        "principal `{name}` may not read `{path}` of `{}`: no grant covers it",
        t.qualified
    )
}

// ----- upload -----

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the file is larger than {} MiB; ask an admin to raise `max_upload_mb`",
            state.config.max_upload_mb
        ),
    )
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "upload",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("path" = String, Path, description = "File path inside the product (may contain `/`)"),
    ),
    request_body(content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 200, description = "Replaced an existing file: its metadata", body = serde_json::Value),
        (status = 201, description = "Stored a new file: its metadata", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, path)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    put_file(&state, &caller, &domain, &product, &path, &headers, body).await
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "upload_named_sign",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body(content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 200, description = "Replaced an existing file: its metadata", body = serde_json::Value),
        (status = 201, description = "Stored a new file: its metadata", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn upload_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    put_file(&state, &caller, &domain, &product, "sign", &headers, body).await
}

/// Streams the body to storage; nothing is visible until the whole body arrived.
async fn put_file(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    path: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let t = target(state, caller, domain, product).await?;
    core_files::validate_path(path)?;
    check_writer(state, caller, "file.upload", "upload", &t, path).await?;
    let limit = state.config.max_upload_mb.saturating_mul(1024 * 1024);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(state));
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let replaced = files.head(path).await?.is_some();
    let mut upload = files.upload(path)?;
    let mut stream = body.into_data_stream();
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                if upload.written().saturating_add(chunk.len() as u64) > limit {
                    upload.abort().await;
                    return Err(too_large(state));
                }
                if let Err(e) = upload.write(chunk).await {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                upload.abort().await;
                return Err(ApiError::bad_request(format!(
                    "the upload broke off: {e}; nothing was stored"
                )));
            }
        }
    }
    let meta = upload.finish().await?;
    let e = event(caller.id(), "file.upload", &t.product).with_detail(json!({
        "product": t.qualified, "path": path, "bytes": meta.size, "replaced": replaced,
    }));
    state.store.append_audit(e).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(meta)).into_response())
}

// ----- delete -----

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "delete",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("path" = String, Path, description = "File path inside the product (may contain `/`)"),
    ),
    responses(
        (status = 200, description = "OK: `FileMeta`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, path)): Path<(String, String, String)>,
) -> ApiResult<Json<FileMeta>> {
    delete_file(&state, &caller, &domain, &product, &path).await
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "delete_named_sign",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK: `FileMeta`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<FileMeta>> {
    delete_file(&state, &caller, &domain, &product, "sign").await
}

async fn delete_file(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    path: &str,
) -> ApiResult<Json<FileMeta>> {
    let t = target(state, caller, domain, product).await?;
    core_files::validate_path(path)?;
    check_writer(state, caller, "file.delete", "delete", &t, path).await?;
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let Some(meta) = files.delete(path).await? else {
        return Err(ApiError::not_found(
            "file",
            &format!("{}/{path}", t.qualified),
        ));
    };
    let e = event(caller.id(), "file.delete", &t.product)
        .with_detail(json!({"product": t.qualified, "path": path, "bytes": meta.size}));
    state.store.append_audit(e).await?;
    Ok(Json(meta))
}

// ----- list -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Files whose path starts with this (`reports/`, or part of a name).
    #[serde(default)]
    prefix: Option<String>,
    limit: Option<u32>,
    /// Files after this path (the previous page's `next_after`).
    after: Option<String>,
}

#[derive(Debug, Serialize)]
struct Listing {
    files: Vec<FileMeta>,
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/files",
    operation_id = "files_list",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ListQuery,
    ),
    responses(
        (status = 200, description = "OK: `Listing`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Listing>> {
    let t = target(&state, &caller, &domain, &product).await?;
    let prefix = q.prefix.unwrap_or_default();
    core_files::validate_prefix(&prefix)?;
    if q.after
        .as_ref()
        .is_some_and(|a| a.len() > core_files::MAX_PATH_LEN)
    {
        return Err(ApiError::bad_request(format!(
            "after: at most {} bytes",
            core_files::MAX_PATH_LEN
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST) as usize;
    let shown_prefix = (!prefix.is_empty()).then_some(prefix.as_str());
    let right = caller_readable(&state, &caller, "file.list", &t, shown_prefix).await?;
    if !right.may_list(&prefix) {
        let message = if prefix.is_empty() {
            format!(
                "principal `{}` may not list files of `{}`: no grant covers any of its files",
                caller.principal.name, t.qualified
            )
        } else {
            format!(
                "principal `{}` may not list `{prefix}` of `{}`: no grant covers files there",
                caller.principal.name, t.qualified
            )
        };
        return Err(deny(&state, caller.id(), "file.list", &t, shown_prefix, message).await?);
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let mut found: Vec<FileMeta> = files
        .list(&prefix, q.after.as_deref())
        .await?
        .into_iter()
        .filter(|f| right.covers(t.product.id, &f.path))
        .collect();
    let next_after = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|f| f.path.clone())
    } else {
        None
    };
    let e = event(caller.id(), "file.list", &t.product).with_detail(json!({
        "product": t.qualified, "prefix": prefix, "files": found.len(),
    }));
    state.store.append_audit(e).await?;
    Ok(Json(Listing {
        files: found,
        next_after,
    }))
}

// ----- download (bearer) -----

#[utoipa::path(
    method(get, head),
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "download",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("path" = String, Path, description = "File path inside the product (may contain `/`)"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested `Range` of the file", content_type = "application/octet-stream"),
        crate::openapi::ApiErrors,
    ),
)]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path((domain, product, path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download_file(&state, &caller, &method, &domain, &product, &path, &headers).await
}

#[utoipa::path(
    method(get, head),
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "download_named_sign",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested `Range` of the file", content_type = "application/octet-stream"),
        crate::openapi::ApiErrors,
    ),
)]
async fn download_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path((domain, product)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download_file(
        &state, &caller, &method, &domain, &product, "sign", &headers,
    )
    .await
}

async fn download_file(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    domain: &str,
    product: &str,
    path: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let t = target(state, caller, domain, product).await?;
    core_files::validate_path(path)?;
    let right = caller_readable(state, caller, "file.download", &t, Some(path)).await?;
    if !right.covers(t.product.id, path) {
        let message = not_covered(&caller.principal.name, path, &t);
        return Err(deny(state, caller.id(), "file.download", &t, Some(path), message).await?);
    }
    let audit = Audit {
        actor: caller.id(),
        via: "api",
    };
    serve(state, &t, path, method, headers, audit).await
}

// ----- signed URLs -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct SignRequest {
    path: String,
    /// Lifetime in seconds: default 3600, at most 604800 (7 days).
    #[serde(default)]
    expires_in_secs: Option<i64>,
}

#[derive(Debug, Serialize)]
struct SignedUrl {
    url: String,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "sign",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = SignRequest,
    responses(
        (status = 200, description = "OK: `SignedUrl`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    JsonBody(req): JsonBody<SignRequest>,
) -> ApiResult<Json<SignedUrl>> {
    let t = target(&state, &caller, &domain, &product).await?;
    let path = req.path.as_str();
    core_files::validate_path(path)?;
    let ttl = match req.expires_in_secs {
        None => DEFAULT_URL_TTL,
        Some(s) if s > 0 && s <= MAX_URL_TTL.num_seconds() => Duration::seconds(s),
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "expires_in_secs: {s} is outside 1 … {} (7 days)",
                MAX_URL_TTL.num_seconds()
            )));
        }
    };
    let right = caller_readable(&state, &caller, "file.sign", &t, Some(path)).await?;
    if !right.covers(t.product.id, path) {
        let message = not_covered(&caller.principal.name, path, &t);
        return Err(deny(&state, caller.id(), "file.sign", &t, Some(path), message).await?);
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    if files.head(path).await?.is_none() {
        return Err(ApiError::not_found(
            "file",
            &format!("{}/{path}", t.qualified),
        ));
    }
    let expires = (Utc::now() + ttl).timestamp();
    let expires_at = DateTime::from_timestamp(expires, 0)
        .ok_or_else(|| ApiError::internal("expiry out of range"))?;
    let url = sign_url(&state, t.product.id, path, caller.id(), expires)?;
    let e = event(caller.id(), "file.sign", &t.product).with_detail(json!({
        "product": t.qualified, "path": path, "expires_at": expires_at,
    }));
    state.store.append_audit(e).await?;
    Ok(Json(SignedUrl { url, expires_at }))
}

/// The signed download URL of `path` of `product_id` for `principal`, valid until `expires`
/// (Unix seconds):
/// `{public_url}/files/v1/{product_id}/{path}?X-Meshgate-Expires=…&X-Meshgate-Principal=…&X-Databricks-Signature=…`.
/// It checks nothing about rights (the caller does; the download re-checks).
pub fn sign_url(
    state: &AppState,
    product_id: Uuid,
    path: &str,
    principal: Uuid,
    expires: i64,
) -> ApiResult<String> {
    let resource = SignedResource::ProductFile { product_id, path };
    let signature = state.url_signer.sign(&resource, principal, expires)?;
    let base = state.config.public_url();
    let mut url = url::Url::parse(&base)
        .map_err(|e| ApiError::internal(format!("`public_url` `{base}` is not a URL: {e}")))?;
    let id = product_id.to_string();
    url.path_segments_mut()
        .map_err(|()| ApiError::internal(format!("`public_url` `{base}` cannot take a path")))?
        .pop_if_empty()
        .extend(["files", "v1", id.as_str()])
        .extend(path.split('/'));
    SignedParams {
        principal,
        expires,
        signature: &signature,
    }
    .append_to(&mut url);
    Ok(url.to_string())
}

/// What every signed URL carries besides its resource: for whom, until when, and the
/// signature (Delta Sharing URLs add their policy).
pub(crate) struct SignedParams<'a> {
    pub principal: Uuid,
    pub expires: i64,
    pub signature: &'a str,
}

impl<'a> SignedParams<'a> {
    /// Reads them from a URL's query; `None` when one is missing or malformed.
    pub(crate) fn read(params: &'a std::collections::HashMap<String, String>) -> Option<Self> {
        Some(SignedParams {
            principal: Uuid::parse_str(params.get(PRINCIPAL_PARAM)?).ok()?,
            expires: params.get(EXPIRES_PARAM)?.parse().ok()?,
            signature: params.get(SIGNATURE_PARAM)?,
        })
    }

    /// Adds them to `url`'s query.
    pub(crate) fn append_to(&self, url: &mut url::Url) {
        url.query_pairs_mut()
            .append_pair(EXPIRES_PARAM, &self.expires.to_string())
            .append_pair(PRINCIPAL_PARAM, &self.principal.to_string())
            .append_pair(SIGNATURE_PARAM, self.signature);
    }

    /// Checks the signature over `resource` and the expiry.
    pub(crate) fn verify(
        &self,
        state: &AppState,
        resource: &SignedResource<'_>,
    ) -> Result<(), UrlError> {
        state.url_signer.verify(
            resource,
            self.principal,
            self.expires,
            self.signature,
            Utc::now(),
        )
    }
}

fn url_refused(e: UrlError) -> ApiError {
    let code = match e {
        UrlError::Invalid => "url_invalid",
        UrlError::Expired => "url_expired",
    };
    ApiError::new(StatusCode::FORBIDDEN, code, e.to_string())
}

async fn signed_download(
    State(state): State<AppState>,
    method: Method,
    Path((product_id, path)): Path<(String, String)>,
    query: Result<
        Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let invalid = || url_refused(UrlError::Invalid);
    let Ok(Query(params)) = query else {
        return Err(invalid());
    };
    let product_id = Uuid::parse_str(&product_id).map_err(|_| invalid())?;
    let signed = SignedParams::read(&params).ok_or_else(invalid)?;
    let principal = signed.principal;
    if core_files::validate_path(&path).is_err() {
        return Err(invalid());
    }
    signed
        .verify(
            &state,
            &SignedResource::ProductFile {
                product_id,
                path: &path,
            },
        )
        .map_err(url_refused)?;

    // Authentic and unexpired: re-check the principal's rights as they are now.
    let gone = || ApiError::not_found("file", &path);
    let product = state
        .store
        .get_product(product_id)
        .await?
        .ok_or_else(gone)?;
    let domain = crate::views::name_of_domain(&state, product.domain_id).await?;
    let t = Target {
        qualified: format!("{domain}.{}", product.name),
        product,
    };
    let Some(p) = state.store.get_principal(principal).await? else {
        return Err(ApiError::forbidden(
            "the principal this URL was signed for no longer exists",
        ));
    };
    let actor = crate::auth::actor_of(&state, &p).await?;
    if !readable(&state, &p, &actor, &t.product)
        .await?
        .covers(t.product.id, &path)
    {
        let message = format!(
            "{}; the share that allowed it may have been revoked",
            not_covered(&p.name, &path, &t)
        );
        return Err(deny(&state, p.id, "file.download", &t, Some(&path), message).await?);
    }
    let audit = Audit {
        actor: p.id,
        via: "signed_url",
    };
    serve(&state, &t, &path, &method, &headers, audit).await
}

// ----- serving bytes -----

/// Who a download is audited as, and through what.
struct Audit {
    actor: Uuid,
    via: &'static str,
}

/// Answers `GET`/`HEAD` for a product file the caller may read: whole, or one range.
async fn serve(
    state: &AppState,
    t: &Target,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    audit: Audit,
) -> ApiResult<Response> {
    let download = Download {
        files: ProductFiles::open(&state.data_root, t.product.id)?,
        path,
        shown: format!("{}/{path}", t.qualified),
        event: event(audit.actor, "file.download", &t.product).with_detail(json!({
            "product": t.qualified, "path": path, "via": audit.via,
        })),
    };
    serve_bytes(state, download, method, headers).await
}

/// A file about to be served, and the audit event a download of it records (its detail, an
/// object, gets `bytes` and `range` added).
pub(crate) struct Download<'a> {
    pub files: ProductFiles,
    /// The path inside `files`.
    pub path: &'a str,
    /// How the file is named in a 404.
    pub shown: String,
    pub event: NewAuditEvent,
}

/// Answers `GET`/`HEAD` for a file: whole, or one range (`Range` → 206 with
/// `Content-Range`, 416 outside the file, `If-Range` honoured); `GET` is audited.
pub(crate) async fn serve_bytes(
    state: &AppState,
    download: Download<'_>,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Download {
        files,
        path,
        shown,
        event: audit,
    } = download;
    let missing = || ApiError::not_found("file", &shown);
    let meta = files.head(path).await?.ok_or_else(missing)?;
    let etag = meta.etag.as_deref().map(quoted_etag);
    let last_modified = http_date(meta.last_modified);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_holds(headers, etag.as_deref(), &last_modified) => {
            core_files::parse_range(r, meta.size)
        }
        _ => RangeRequest::Full,
    };
    let range = match range {
        RangeRequest::Full => None,
        RangeRequest::Partial(r) => Some(r),
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!(
                    "the range asked for is outside the file's {} bytes",
                    meta.size
                ),
            )
            .into_response();
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{}", meta.size),
            );
            return Ok(response);
        }
    };
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, meta.size),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let (_, stream) = files.read(path, range.clone()).await?.ok_or_else(missing)?;
        let mut detail = audit.detail.clone();
        if let Some(d) = detail.as_object_mut() {
            d.insert("bytes".into(), json!(length));
            d.insert(
                "range".into(),
                json!(
                    range
                        .as_ref()
                        .map(|r| format!("{}-{}", r.start, r.end.saturating_sub(1)))
                ),
            );
        }
        state.store.append_audit(audit.with_detail(detail)).await?;
        Body::from_stream(stream)
    };
    let mut response = (status, body).into_response();
    insert(
        &mut response,
        header::CONTENT_TYPE,
        "application/octet-stream".into(),
    );
    insert(&mut response, header::CONTENT_LENGTH, length.to_string());
    insert(&mut response, header::ACCEPT_RANGES, "bytes".into());
    insert(&mut response, header::LAST_MODIFIED, last_modified);
    if let Some(etag) = etag {
        insert(&mut response, header::ETAG, etag);
    }
    if let Some(r) = &range {
        insert(
            &mut response,
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                r.start,
                r.end.saturating_sub(1),
                meta.size
            ),
        );
    }
    Ok(response)
}

/// Sets a header whose value we made (never user input with control characters).
fn insert(response: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}

/// HTTP wants entity tags quoted; some stores give them bare.
fn quoted_etag(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `If-Range`: the range applies only if the file is still the one the client has (same
/// strong entity tag, or the same date); otherwise the whole file is sent.
fn if_range_holds(headers: &HeaderMap, etag: Option<&str>, last_modified: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => {
            let v = v.trim();
            (!v.starts_with("W/") && Some(v) == etag) || v == last_modified
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_dates() {
        assert_eq!(quoted_etag("abc"), "\"abc\"");
        assert_eq!(quoted_etag("\"abc\""), "\"abc\"");
        assert_eq!(quoted_etag("W/\"abc\""), "W/\"abc\"");
        let t = DateTime::from_timestamp(784111777, 0).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn if_range() {
        let mut h = HeaderMap::new();
        assert!(if_range_holds(&h, Some("\"a\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"a\""));
        assert!(if_range_holds(&h, Some("\"a\""), "d"));
        assert!(!if_range_holds(&h, Some("\"b\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("W/\"a\""));
        assert!(!if_range_holds(&h, Some("W/\"a\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("d"));
        assert!(if_range_holds(&h, None, "d"));
    }
}
