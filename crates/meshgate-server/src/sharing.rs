//! The Delta Sharing server (docs/design/DELTA_SHARING.md): the open protocol's endpoints under
//! `[sharing] prefix` (default `/delta-sharing`), for pandas, Spark, polars, Power BI and any
//! other Delta Sharing client.
//!
//! - A **recipient** is a principal. What it may read through Delta Sharing is exactly what
//!   its SQL may read (`query::readable_tables`: its teams' products and the tables granted
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
//!   `[sharing] url_ttl_secs` (≥ 1 h), re-checked at download (`tables::download`).
//! - Every request and download is audited.

mod recipients;
mod tables;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use meshgate_core::model::{NewAuditEvent, Outcome, ProductTable, SharingTokenKind};
use meshgate_core::token;
use meshgate_engine::secure::TableAccess;
use meshgate_sharing::page::{PageToken, parse_max_results};
use meshgate_sharing::wire::{
    ErrorBody, GetShareResponse, ListResponse, SchemaInfo, ShareInfo, TableInfo, error_code,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::state::AppState;

pub use recipients::api_routes;
pub use tables::collect_garbage;

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
            get(tables::download).head(tables::download),
        )
        .route("/profile/{code}", get(recipients::download_profile))
        .route("/oauth/token", post(recipients::oauth_token))
        .route_layer(axum::middleware::from_fn(crate::paths::guard))
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

// ----- errors -----

/// An error in the protocol's shape: `{"errorCode","message"}` with the spec's codes. Never a
/// 5xx for a user error (clients retry those for minutes).
pub struct SharingError(pub ApiError);

impl From<ApiError> for SharingError {
    fn from(e: ApiError) -> Self {
        SharingError(e)
    }
}

impl From<meshgate_sharing::Error> for SharingError {
    fn from(e: meshgate_sharing::Error) -> Self {
        SharingError(e.into())
    }
}

impl From<meshgate_core::Error> for SharingError {
    fn from(e: meshgate_core::Error) -> Self {
        SharingError(e.into())
    }
}

impl From<meshgate_sharing::Error> for ApiError {
    fn from(e: meshgate_sharing::Error) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for SharingError {
    fn into_response(self) -> Response {
        let e = self.0;
        let code = match e.status {
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::RANGE_NOT_SATISFIABLE => {
                error_code::INVALID_PARAMETER_VALUE
            }
            StatusCode::UNAUTHORIZED => error_code::UNAUTHENTICATED,
            StatusCode::FORBIDDEN => error_code::PERMISSION_DENIED,
            StatusCode::NOT_FOUND => error_code::RESOURCE_DOES_NOT_EXIST,
            StatusCode::TOO_MANY_REQUESTS => error_code::RESOURCE_EXHAUSTED,
            StatusCode::METHOD_NOT_ALLOWED => error_code::UNSUPPORTED_OPERATION,
            s if s.is_client_error() => error_code::INVALID_PARAMETER_VALUE,
            _ => error_code::INTERNAL_ERROR,
        };
        let status = if e.status == StatusCode::CONFLICT {
            StatusCode::BAD_REQUEST
        } else {
            e.status
        };
        let body = ErrorBody {
            error_code: code.to_string(),
            message: e.message,
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = REQUEST_ID.try_with(|id| id.clone()).ok()
            && let Ok(v) = HeaderValue::from_str(&id)
        {
            response.headers_mut().insert("x-request-id", v);
        }
        response
    }
}

pub type SharingResult<T> = Result<T, SharingError>;

// ----- the recipient -----

/// The authenticated caller of a Delta Sharing endpoint.
pub struct Recipient {
    pub caller: Caller,
}

impl Recipient {
    pub fn id(&self) -> Uuid {
        self.caller.id()
    }
}

fn bearer(parts: &Parts) -> ApiResult<&str> {
    let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated(
            "missing bearer token: use the bearerToken of your profile file as `Authorization: Bearer <token>`",
        )
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("invalid authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated("the authorization header must be `Bearer <token>`")
        })
}

/// The address the request came from, when the server knows it.
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

/// How often a token's last use is written, at most.
const TOUCH_EVERY_SECS: i64 = 60;

impl FromRequestParts<AppState> for Recipient {
    type Rejection = SharingError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.to_string();
        let caller = if token.starts_with(token::SHARING_TOKEN_PREFIX) {
            let refused = || ApiError::unauthenticated("invalid, expired or revoked token");
            let (t, principal) = state
                .store
                .find_sharing_token(&token::hash(&token))
                .await
                .map_err(ApiError::from)?
                .ok_or_else(refused)?;
            let now = Utc::now();
            if !t.is_usable(now)
                || !matches!(t.kind, SharingTokenKind::Bearer | SharingTokenKind::Access)
            {
                return Err(refused().into());
            }
            if t.last_used_at
                .is_none_or(|at| (now - at).num_seconds() >= TOUCH_EVERY_SECS)
                && let Err(e) = state.store.touch_sharing_token(t.id, now).await
            {
                tracing::warn!(error = %e, "could not record a recipient token's use");
            }
            let actor = crate::auth::actor_of(state, &principal).await?;
            Caller {
                principal,
                actor,
                session: None,
            }
        } else {
            // API tokens and tenant credentials read through Delta Sharing too (the data
            // plane); a credential's session policy narrows what it sees.
            crate::auth::authenticate(parts, state).await?
        };
        check_address(state, &caller, peer(parts)).await?;
        Ok(Recipient { caller })
    }
}

/// Refuses a request from outside the recipient's IP allow-list (none set: any address).
/// Fails closed: with a list and no known peer address, the request is refused.
pub async fn check_address(
    state: &AppState,
    caller: &Caller,
    peer: Option<IpAddr>,
) -> ApiResult<()> {
    let Some(settings) = state.store.recipient_settings(caller.id()).await? else {
        return Ok(());
    };
    if settings.ip_allow_list.is_empty() {
        return Ok(());
    }
    if let Some(ip) = peer
        && settings
            .ip_allow_list
            .iter()
            .any(|entry| recipients::address_matches(entry, ip))
    {
        return Ok(());
    }
    let shown = peer.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string());
    let e = NewAuditEvent::new(
        Some(caller.id()),
        "sharing.denied",
        "principal",
        Some(caller.id().to_string()),
    )
    .with_outcome(Outcome::Denied)
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(serde_json::json!({"reason": "ip_allow_list", "address": shown}));
    state.store.append_audit(e).await?;
    Err(ApiError::forbidden(format!(
        "requests from {shown} are not allowed for recipient `{}`",
        caller.principal.name
    )))
}

// ----- what a recipient sees -----

/// One table a recipient may read, with its Delta Sharing names.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The domain.
    pub share: String,
    pub share_id: Uuid,
    /// The data product.
    pub schema: String,
    pub table: ProductTable,
    pub access: TableAccess,
}

impl Shared {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.table.name)
    }
}

/// Every table `caller` may read, sorted by share, schema and name.
pub async fn shared_tables(state: &AppState, caller: &Caller) -> ApiResult<Vec<Shared>> {
    let readable = crate::query::readable_tables(state, caller).await?;
    let mut by_product: BTreeMap<(String, String), Vec<(String, TableAccess)>> = BTreeMap::new();
    for v in readable.iter() {
        if v.domain == crate::query::LOCAL_CATALOG {
            continue;
        }
        by_product
            .entry((v.domain.clone(), v.product.clone()))
            .or_default()
            .push((v.table.clone(), v.access.clone()));
    }
    let mut out = Vec::new();
    for ((domain, product), tables) in by_product {
        let (d, p) = crate::service::find_product(state, &domain, &product).await?;
        let all = state.store.list_tables(p.id).await?;
        for (name, access) in tables {
            if let Some(t) = all.iter().find(|t| t.name == name) {
                out.push(Shared {
                    share: domain.clone(),
                    share_id: d.id,
                    schema: product.clone(),
                    table: t.clone(),
                    access,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.share, &a.schema, &a.table.name).cmp(&(&b.share, &b.schema, &b.table.name))
    });
    Ok(out)
}

fn share_missing(share: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("share `{share}` does not exist or is not shared with you"),
    )
}

fn schema_missing(share: &str, schema: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("schema `{share}.{schema}` does not exist or is not shared with you"),
    )
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
    let items: Vec<TableInfo> = tables
        .iter()
        .filter(|t| t.share == share && t.schema == schema)
        .map(table_info)
        .collect();
    if items.is_empty() {
        return Err(if tables.iter().any(|t| t.share == share) {
            schema_missing(&share, &schema)
        } else {
            share_missing(&share)
        }
        .into());
    }
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
