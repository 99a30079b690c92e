//! The Delta Sharing server (docs/design/DELTA_SHARING.md): the open protocol's endpoints under
//! `[sharing] prefix` (default `/delta-sharing`), for pandas, Spark, polars, Power BI and any
//! other Delta Sharing client.
//!
//! - A **recipient** is a principal. What it may read through Delta Sharing is exactly what
//!   its SQL may read (`snapshot::readable`: its teams' products and the tables granted
//!   to it or its teams, narrowed by a credential's session policy), named as in SQL:
//!   share = domain, schema = data product, table = table. Approving a share for it makes the
//!   items appear; revoking removes them on the next request (nothing is cached across
//!   requests but the policy-versioned visibility the SQL path uses too).
//! - It authenticates with its own **recipient tokens** (`recipients`): bearer tokens of
//!   version-1 profiles, or OAuth client credentials of version-2 profiles exchanged at
//!   `{prefix}/oauth/token`. They open these endpoints only. Its API tokens and short-lived
//!   credentials work too (a credential's file URLs are bound to it and die with it). An optional IP allow-list per recipient applies to every request and download.
//! - Tables it reads whole are served as their own data files; tables it reads filtered or
//!   masked as a **materialised snapshot** of what it may see (`tables`).
//! - Every file URL is meshgate's own, signed for the recipient, valid for
//!   `[sharing] url_ttl_secs` (≥ 1 h), re-checked at download (`download::download`).
//! - Every request and download is audited.

mod download;
mod error;
pub(crate) mod federation;
mod gc;
mod recipient;
pub(crate) mod recipients;
mod tables;

pub use error::{SharingError, SharingResult};
pub use recipient::{Recipient, Shared, check_address, peer, shared_tables};
use recipient::{canonical, schema_missing, share_missing};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meshgate_core::model::NewAuditEvent;
use meshgate_sharing::page::{PageToken, parse_max_results};
use meshgate_sharing::wire::{GetShareResponse, ListResponse, SchemaInfo, ShareInfo, TableInfo};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::state::AppState;

pub use gc::collect_garbage;
/// The recipient management API, under `/api/v1`: tokens, settings, federation.
pub fn api_routes() -> axum::Router<AppState> {
    recipients::api_routes().merge(federation::routes())
}

/// The protocol's routes, nested under the configured prefix.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/shares", get(list_shares))
        .route("/shares/{share}", get(get_share))
        .route("/shares/{share}/schemas", get(list_schemas))
        .route("/shares/{share}/schemas/{schema}/tables", get(list_tables))
        .route("/shares/{share}/all-tables", get(list_all_tables))
        .route(
            "/shares/{share}/schemas/{schema}/tables/{table}",
            axum::routing::head(tables::version_head),
        )
        .route(
            "/shares/{share}/schemas/{schema}/tables/{table}/version",
            get(tables::version),
        )
        .route(
            "/shares/{share}/schemas/{schema}/tables/{table}/metadata",
            get(tables::metadata),
        )
        .route(
            "/shares/{share}/schemas/{schema}/tables/{table}/query",
            post(tables::query),
        )
        .route(
            "/shares/{share}/schemas/{schema}/tables/{table}/changes",
            get(tables::changes),
        )
        .route(
            "/files/{table_id}/{*path}",
            get(download::download).head(download::download),
        )
        .route("/profile/{code}", get(recipients::download_profile))
        .route("/oauth/token", post(recipients::oauth_token))
        .route_layer(axum::middleware::from_fn(crate::paths::sharing_guard))
        .fallback(|| async {
            SharingError(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such Delta Sharing endpoint",
            ))
        })
        .layer(axum::middleware::map_response(protocol_errors))
}

/// Answers an error that was not made in the protocol's shape (an extractor's plain-text
/// rejection, such as a path that is not UTF-8 or a repeated query parameter; an unsupported
/// method; the REST API's `{"error":{…}}` from code shared with it, such as a range outside a
/// file) in the protocol's `{"errorCode","message"}`, with its status and headers. The OAuth
/// endpoint's RFC 6749 errors (`{"error":"…"}`) stay as they are.
async fn protocol_errors(response: Response) -> Response {
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("errorCode").is_some() || v.get("error").is_some_and(|e| e.is_string()) => {
            return Response::from_parts(parts, Body::from(bytes));
        }
        Ok(v) => v
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        Err(_) => Some(String::from_utf8_lossy(&bytes).trim().to_string()),
    };
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    let mut fixed = SharingError(ApiError::new(status, "invalid_request", message)).into_response();
    for (name, value) in &parts.headers {
        if *name != header::CONTENT_TYPE
            && *name != header::CONTENT_LENGTH
            && name.as_str() != "x-request-id"
        {
            fixed.headers_mut().append(name.clone(), value.clone());
        }
    }
    fixed
}

// ----- lists -----

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    #[serde(default)]
    max_results: Option<String>,
    #[serde(default)]
    page_token: Option<String>,
}

fn page_key(state: &AppState) -> ApiResult<Vec<u8>> {
    Ok(state
        .url_signer
        .derive_key("meshgate delta sharing page tokens v1")?)
}

/// One page of `items` (sorted by `key`), after the position the page token names.
fn page<T: Clone>(
    state: &AppState,
    binding: &str,
    q: &PageQuery,
    items: &[T],
    key: impl Fn(&T) -> String,
) -> SharingResult<ListResponse<T>> {
    let max = parse_max_results(q.max_results.as_deref())?;
    let secret = page_key(state)?;
    let after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(PageToken::decode(&secret, binding, t)?),
        None => None,
    };
    let rest: Vec<&T> = items
        .iter()
        .filter(|i| after.as_ref().is_none_or(|a| key(i) > *a))
        .collect();
    let page: Vec<T> = rest.iter().take(max).map(|i| (*i).clone()).collect();
    let next_page_token = if rest.len() > max {
        page.last()
            .map(|last| PageToken::encode(&secret, binding, &key(last)))
    } else {
        None
    };
    Ok(ListResponse {
        items: page,
        next_page_token,
    })
}

/// A list answered on one line (the Python client reads only the first line of the body).
fn one_line<T: serde::Serialize>(value: &T) -> Response {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut response = (StatusCode::OK, Body::from(text)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Records a recipient's request.
async fn audit_request(
    state: &AppState,
    r: &Recipient,
    action: &str,
    object_type: &str,
    object_id: Option<String>,
    detail: serde_json::Value,
) -> ApiResult<()> {
    let e = NewAuditEvent::new(Some(r.id()), action, object_type, object_id)
        .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(detail);
    state.store.append_audit(e).await?;
    Ok(())
}

async fn list_shares(
    State(state): State<AppState>,
    r: Recipient,
    Query(q): Query<PageQuery>,
) -> SharingResult<Response> {
    let tables = shared_tables(&state, &r.caller).await?;
    let mut shares: Vec<ShareInfo> = Vec::new();
    for t in &tables {
        if shares.last().is_none_or(|s| s.name != t.share) {
            shares.push(ShareInfo {
                name: t.share.clone(),
                id: Some(t.share_id.to_string()),
            });
        }
    }
    let binding = format!("shares|{}", r.id());
    let out = page(&state, &binding, &q, &shares, |s| s.name.clone())?;
    audit_request(
        &state,
        &r,
        "sharing.list",
        "share",
        None,
        serde_json::json!({"endpoint": "shares", "items": out.items.len()}),
    )
    .await?;
    Ok(one_line(&out))
}

async fn get_share(
    State(state): State<AppState>,
    r: Recipient,
    Path(share): Path<String>,
) -> SharingResult<Response> {
    let tables = shared_tables(&state, &r.caller).await?;
    let share = share_name(&tables, &share)?;
    let t = tables
        .iter()
        .find(|t| t.share == share)
        .ok_or_else(|| share_missing(&share))?;
    Ok(one_line(&GetShareResponse {
        share: ShareInfo {
            name: t.share.clone(),
            id: Some(t.share_id.to_string()),
        },
    }))
}

async fn list_schemas(
    State(state): State<AppState>,
    r: Recipient,
    Path(share): Path<String>,
    Query(q): Query<PageQuery>,
) -> SharingResult<Response> {
    let tables = shared_tables(&state, &r.caller).await?;
    let share = share_name(&tables, &share)?;
    let mut schemas: Vec<SchemaInfo> = Vec::new();
    for t in tables.iter().filter(|t| t.share == share) {
        if schemas.last().is_none_or(|s| s.name != t.schema) {
            schemas.push(SchemaInfo {
                name: t.schema.clone(),
                share: t.share.clone(),
            });
        }
    }
    if schemas.is_empty() {
        return Err(share_missing(&share).into());
    }
    let binding = format!("schemas|{}|{share}", r.id());
    let out = page(&state, &binding, &q, &schemas, |s| s.name.clone())?;
    Ok(one_line(&out))
}

/// The spelling of a requested share among the caller's (names are case-insensitive), or 404.
fn share_name(tables: &[Shared], share: &str) -> ApiResult<String> {
    canonical(tables.iter().map(|t| t.share.as_str()), share)
        .map(str::to_string)
        .ok_or_else(|| share_missing(share))
}

fn table_info(t: &Shared) -> TableInfo {
    TableInfo {
        name: t.table.name.clone(),
        schema: t.schema.clone(),
        share: t.share.clone(),
        share_id: Some(t.share_id.to_string()),
        id: Some(t.table.id.to_string()),
    }
}

async fn list_tables(
    State(state): State<AppState>,
    r: Recipient,
    Path((share, schema)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> SharingResult<Response> {
    let tables = shared_tables(&state, &r.caller).await?;
    let share = share_name(&tables, &share)?;
    let schema = canonical(
        tables
            .iter()
            .filter(|t| t.share == share)
            .map(|t| t.schema.as_str()),
        &schema,
    )
    .ok_or_else(|| schema_missing(&share, &schema))?
    .to_string();
    let items: Vec<TableInfo> = tables
        .iter()
        .filter(|t| t.share == share && t.schema == schema)
        .map(table_info)
        .collect();
    let binding = format!("tables|{}|{share}|{schema}", r.id());
    let out = page(&state, &binding, &q, &items, |t| t.name.clone())?;
    Ok(one_line(&out))
}

async fn list_all_tables(
    State(state): State<AppState>,
    r: Recipient,
    Path(share): Path<String>,
    Query(q): Query<PageQuery>,
) -> SharingResult<Response> {
    let tables = shared_tables(&state, &r.caller).await?;
    let share = share_name(&tables, &share)?;
    let items: Vec<TableInfo> = tables
        .iter()
        .filter(|t| t.share == share)
        .map(table_info)
        .collect();
    if items.is_empty() {
        return Err(share_missing(&share).into());
    }
    let binding = format!("all-tables|{}|{share}", r.id());
    let out = page(&state, &binding, &q, &items, |t| {
        format!("{}\n{}", t.schema, t.name)
    })?;
    audit_request(
        &state,
        &r,
        "sharing.list",
        "share",
        Some(share.clone()),
        serde_json::json!({"endpoint": "all-tables", "share": share, "items": out.items.len()}),
    )
    .await?;
    Ok(one_line(&out))
}
