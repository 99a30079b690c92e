//! The REST API's routes (docs/API.md). Handlers extract and delegate; the work is in
//! `service`, `shares` and `query`.

use std::path::PathBuf;

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::TryStreamExt;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{ApiToken, AuditEvent, Domain, Principal, TeamRole};
use meshgate_engine::ingest::FileFormat;
use meshgate_store::{AuditFilter, ProductFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params, item_id, optional_body, share_id};
use crate::lookup;
use crate::service::{self, StagedFile};
use crate::shares;
use crate::state::AppState;
use crate::views::{MemberView, ProductView, ShareView, TeamView};

pub fn api(state: &AppState) -> Router<AppState> {
    let upload_limit = usize::try_from(state.config.max_upload_mb.saturating_mul(1024 * 1024))
        .unwrap_or(usize::MAX);
    Router::new()
        .route("/whoami", get(whoami))
        .route("/principals", post(create_principal).get(list_principals))
        .route("/principals/{name}", get(get_principal))
        .route(
            "/principals/{group}/members/{name}",
            put(add_group_member).delete(remove_group_member),
        )
        .route("/tokens", post(create_token).get(list_tokens))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/domains", post(create_domain).get(list_domains))
        .route("/domains/{domain}", get(get_domain).patch(update_domain))
        .route("/domains/{domain}/teams", post(create_team).get(list_teams))
        .route("/domains/{domain}/teams/{team}/members", get(list_members))
        .route(
            "/domains/{domain}/teams/{team}/members/{principal}",
            put(put_member).delete(remove_member),
        )
        .route(
            "/products",
            post(create_product)
                .get(list_products)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/products/{domain}/{product}",
            get(get_product).delete(delete_product),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/data",
            post(append_data).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/shares", post(request_access).get(list_shares))
        .route("/shares/{id}", get(get_share).delete(delete_share))
        .route("/shares/{id}/submit", post(submit_share))
        .route("/shares/{id}/approve", post(approve_share))
        .route("/shares/{id}/reject", post(reject_share))
        .route("/shares/{id}/revoke", post(revoke_share))
        .route("/shares/{id}/items", post(add_share_items))
        .route(
            "/shares/{id}/items/{item}",
            axum::routing::delete(remove_share_item),
        )
        .route("/shares/{id}/items/{item}/modify", post(modify_share_item))
        .route("/shares/{id}/extend", post(extend_share))
        .route("/shares/{id}/extension/{decision}", post(decide_extension))
        .route("/shares/{id}/finalize", post(finalize_share))
        .route("/shares/{id}/verify", post(verify_share))
        .route("/shares/{id}/reapply", post(reapply_share))
        .route("/shares/{id}/logs", get(share_logs))
        .route(
            "/products/{domain}/{product}/share-settings",
            get(get_share_settings).put(put_share_settings),
        )
        .route("/products/{domain}/{product}/verify", post(verify_product))
        .route("/access", get(list_access))
        .route("/query", post(query))
        .route("/audit", get(audit))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/items",
    operation_id = "add_share_items",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body = shares::ItemSelection,
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn add_share_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<shares::ItemSelection>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::add_items(&state, &caller, share_id(&id)?, body).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/shares/{id}/items/{item}",
    operation_id = "remove_share_item",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        ("item" = String, Path, description = "Share item id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn remove_share_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::remove_item(&state, &caller, share_id(&id)?, item_id(&item)?).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/items/{item}/modify",
    operation_id = "modify_share_item",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        ("item" = String, Path, description = "Share item id (uuid)"),
    ),
    request_body = shares::ModifyRequest,
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn modify_share_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item)): Path<(String, String)>,
    JsonBody(body): JsonBody<shares::ModifyRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::modify(&state, &caller, share_id(&id)?, item_id(&item)?, body).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/extend",
    operation_id = "extend_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body = shares::ExtendRequest,
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn extend_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<shares::ExtendRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::extend(&state, &caller, share_id(&id)?, body).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct NotesBody {
    #[serde(default)]
    notes: Option<String>,
}

#[utoipa::path(
    post,
    path = "/shares/{id}/extension/{decision}",
    operation_id = "decide_extension",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        ("decision" = String, Path, description = "`approve` or `reject`", example = "approve"),
    ),
    request_body(content = Option<NotesBody>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn decide_extension(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, decision)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let body: NotesBody = optional_body(&body)?;
    let decision = match decision.as_str() {
        "approve" => shares::ExtensionDecision::Approve,
        "reject" => shares::ExtensionDecision::Reject,
        "cancel" => shares::ExtensionDecision::Cancel,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown extension decision `{other}`; use approve, reject or cancel"
            )));
        }
    };
    let notes = body.notes;
    Ok(Json(
        shares::decide_extension(&state, &caller, share_id(&id)?, decision, notes).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/finalize",
    operation_id = "finalize_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body = shares::FinalizeRequest,
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn finalize_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<shares::FinalizeRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::finalize(&state, &caller, share_id(&id)?, body).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/shares/{id}",
    operation_id = "delete_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body = shares::DeleteRequest,
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<shares::DeleteRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::delete(&state, &caller, share_id(&id)?, body).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/verify",
    operation_id = "verify_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::RunRequest>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn verify_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let r: shares::RunRequest = optional_body(&body)?;
    Ok(Json(
        shares::run_check(&state, &caller, share_id(&id)?, false, r).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/reapply",
    operation_id = "reapply_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::RunRequest>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn reapply_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let r: shares::RunRequest = optional_body(&body)?;
    Ok(Json(
        shares::run_check(&state, &caller, share_id(&id)?, true, r).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/shares/{id}/logs",
    operation_id = "share_logs",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        shares::LogQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<meshgate_core::model::ShareLog>),
        crate::openapi::ApiErrors,
    ),
)]
async fn share_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<shares::LogQuery>,
) -> ApiResult<Json<Vec<meshgate_core::model::ShareLog>>> {
    Ok(Json(
        shares::logs(&state, &caller, share_id(&id)?, q).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/share-settings",
    operation_id = "get_share_settings",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = meshgate_core::model::ShareSettings),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_share_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<meshgate_core::model::ShareSettings>> {
    Ok(Json(
        shares::get_settings(&state, &caller, &format!("{domain}.{product}")).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/share-settings",
    operation_id = "put_share_settings",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = meshgate_core::model::ShareSettings,
    responses(
        (status = 200, description = "OK", body = meshgate_core::model::ShareSettings),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_share_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    JsonBody(body): JsonBody<meshgate_core::model::ShareSettings>,
) -> ApiResult<Json<meshgate_core::model::ShareSettings>> {
    Ok(Json(
        shares::put_settings(&state, &caller, &format!("{domain}.{product}"), body).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyAllQuery {
    #[serde(default)]
    reapply: bool,
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/verify",
    operation_id = "verify_product",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        VerifyAllQuery,
    ),
    responses(
        (status = 200, description = "OK: `BulkVerify`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn verify_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    Params(q): Params<VerifyAllQuery>,
) -> ApiResult<Json<shares::BulkVerify>> {
    Ok(Json(
        shares::verify_all(&state, &caller, &format!("{domain}.{product}"), q.reapply).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/access",
    operation_id = "list_access",
    tag = "access",
    responses(
        (status = 200, description = "OK: `Vec<AccessEntry>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_access(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<shares::AccessEntry>>> {
    Ok(Json(shares::list_access(&state, &caller).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct WhoAmI {
    principal: Principal,
    teams: Vec<Value>,
    groups: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/whoami",
    operation_id = "whoami",
    tag = "whoami",
    responses(
        (status = 200, description = "OK", body = WhoAmI),
        crate::openapi::ApiErrors,
    ),
)]
async fn whoami(
    State(state): State<AppState>,
    crate::auth::DataCaller(caller): crate::auth::DataCaller,
) -> ApiResult<Json<WhoAmI>> {
    let mut teams = Vec::new();
    for m in &caller.actor.teams {
        teams.push(json!({
            "team": crate::views::qualified_team(&state, m.team_id).await?,
            "role": m.role,
        }));
    }
    let mut groups = Vec::new();
    for g in &caller.actor.groups {
        groups.push(crate::views::name_of_principal(&state, *g).await?);
    }
    Ok(Json(WhoAmI {
        principal: caller.principal,
        teams,
        groups,
    }))
}

#[utoipa::path(
    post,
    path = "/principals",
    operation_id = "create_principal",
    tag = "principals",
    request_body = service::NewPrincipal,
    responses(
        (status = 201, description = "Created", body = Principal),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<service::NewPrincipal>,
) -> ApiResult<(StatusCode, Json<Principal>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_principal(&state, &caller, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/principals",
    operation_id = "list_principals",
    tag = "principals",
    responses(
        (status = 200, description = "OK", body = Vec<Principal>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_principals(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Principal>>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list principals",
    )?;
    Ok(Json(state.store.list_principals().await?))
}

#[utoipa::path(
    get,
    path = "/principals/{name}",
    operation_id = "get_principal",
    tag = "principals",
    params(
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 200, description = "OK", body = Principal),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Principal>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view principals",
    )?;
    Ok(Json(lookup::principal_by_name(&state, &name).await?))
}

#[utoipa::path(
    put,
    path = "/principals/{group}/members/{name}",
    operation_id = "add_group_member",
    tag = "principals",
    params(
        ("group" = String, Path, description = "Group principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn add_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    service::set_group_member(&state, &caller, &group, &name, true).await?;
    Ok(Json(json!({})))
}

#[utoipa::path(
    delete,
    path = "/principals/{group}/members/{name}",
    operation_id = "remove_group_member",
    tag = "principals",
    params(
        ("group" = String, Path, description = "Group principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn remove_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    service::set_group_member(&state, &caller, &group, &name, false).await?;
    Ok(Json(json!({})))
}

#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "routes_create_token",
    tag = "tokens",
    request_body = service::NewToken,
    responses(
        (status = 201, description = "Created: `CreatedToken`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<service::NewToken>,
) -> ApiResult<(StatusCode, Json<service::CreatedToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_token(&state, &caller, req).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    principal: Option<String>,
}

#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "routes_list_tokens",
    tag = "tokens",
    params(
        TokenQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<ApiToken>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TokenQuery>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(
        service::list_tokens(&state, &caller, q.principal.as_deref()).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "routes_revoke_token",
    tag = "tokens",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = ApiToken),
        crate::openapi::ApiErrors,
    ),
)]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiToken>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("token", &id))?;
    Ok(Json(service::revoke_token(&state, &caller, id).await?))
}

#[utoipa::path(
    post,
    path = "/domains",
    operation_id = "create_domain",
    tag = "domains",
    request_body = service::NewDomain,
    responses(
        (status = 201, description = "Created", body = Domain),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_domain(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<service::NewDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_domain(&state, &caller, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/domains",
    operation_id = "list_domains",
    tag = "domains",
    responses(
        (status = 200, description = "OK", body = Vec<Domain>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Domain>>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list domains",
    )?;
    Ok(Json(state.store.list_domains().await?))
}

#[utoipa::path(
    get,
    path = "/domains/{domain}",
    operation_id = "get_domain",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Domain),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Domain>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view domains",
    )?;
    Ok(Json(lookup::domain_by_name(&state, &name).await?))
}

#[utoipa::path(
    patch,
    path = "/domains/{domain}",
    operation_id = "update_domain",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = service::DomainPatch,
    responses(
        (status = 200, description = "OK", body = Domain),
        crate::openapi::ApiErrors,
    ),
)]
async fn update_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<service::DomainPatch>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(
        service::update_domain(&state, &caller, &name, patch).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/domains/{domain}/teams",
    operation_id = "create_team",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = service::NewTeam,
    responses(
        (status = 201, description = "Created", body = TeamView),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(req): JsonBody<service::NewTeam>,
) -> ApiResult<(StatusCode, Json<TeamView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_team(&state, &caller, &domain, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/domains/{domain}/teams",
    operation_id = "list_teams",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<TeamView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<Vec<TeamView>>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list teams",
    )?;
    let d = lookup::domain_by_name(&state, &domain).await?;
    let teams = state.store.list_teams(Some(d.id)).await?;
    Ok(Json(
        teams.into_iter().map(|t| TeamView::new(t, &d)).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/domains/{domain}/teams/{team}/members",
    operation_id = "list_members",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("team" = String, Path, description = "Team name", example = "core", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<MemberView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team)): Path<(String, String)>,
) -> ApiResult<Json<Vec<MemberView>>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list team members",
    )?;
    Ok(Json(service::list_members(&state, &domain, &team).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct RoleBody {
    role: TeamRole,
}

#[utoipa::path(
    put,
    path = "/domains/{domain}/teams/{team}/members/{principal}",
    operation_id = "put_member",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("team" = String, Path, description = "Team name", example = "core", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    request_body = RoleBody,
    responses(
        (status = 200, description = "OK", body = MemberView),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team, principal)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(
        service::put_member(&state, &caller, &domain, &team, &principal, body.role).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/domains/{domain}/teams/{team}/members/{principal}",
    operation_id = "remove_member",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("team" = String, Path, description = "Team name", example = "core", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team, principal)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    service::remove_member(&state, &caller, &domain, &team, &principal).await?;
    Ok(Json(json!({})))
}

/// Staged uploads, removed when the request ends whatever happens. Staged files get names the
/// server makes (`part-1`, `part-2`, …) inside one fresh directory under the upload dir; no
/// part of a request names a staged file (docs/design/SECURITY.md, "names and paths").
struct Staging {
    dir: tempfile::TempDir,
    parts: usize,
}

impl Staging {
    fn new(state: &AppState) -> ApiResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(state.config.upload_dir())
            .map_err(ApiError::internal)?;
        Ok(Staging { dir, parts: 0 })
    }

    /// A new file in the staging directory, created empty.
    async fn create(&mut self) -> ApiResult<(PathBuf, tokio::fs::File)> {
        self.parts += 1;
        let path = self.dir.path().join(format!("part-{}", self.parts));
        // Checked after joining, like every file operation on a name.
        if path.parent() != Some(self.dir.path()) {
            return Err(ApiError::internal(
                "a staged file left its staging directory",
            ));
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(ApiError::internal)?;
        Ok((path, file))
    }
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the upload is larger than {} MiB; split it and append the parts, or ask an admin to raise `max_upload_mb`",
            state.config.max_upload_mb
        ),
    )
}

/// `POST /products`: the `product` part comes first, so the caller's right to create the
/// product is checked before any uploaded byte is stored; each further part is one table's
/// file, streamed to a server-named staging file.
#[utoipa::path(
    post,
    path = "/products",
    operation_id = "create_product",
    tag = "products",
    request_body(content_type = "multipart/form-data", description = "A `product` part (JSON: domain, team, name, …) first, then one part per table file"),
    responses(
        (status = 201, description = "Created", body = ProductView),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    let mut staging = Staging::new(&state)?;
    let mut product: Option<(service::NewProduct, _)> = None;
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(&state)),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "invalid multipart body: {}",
                    e.body_text()
                )));
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "product" {
            if product.is_some() {
                return Err(ApiError::bad_request("the `product` part is given twice"));
            }
            let text = field.text().await.map_err(|e| {
                ApiError::bad_request(format!("invalid `product` part: {}", e.body_text()))
            })?;
            let req: service::NewProduct = serde_json::from_str(&text)
                .map_err(|e| ApiError::bad_request(format!("invalid `product` part: {e}")))?;
            let target = service::authorize_create(&state, &caller, &req).await?;
            product = Some((req, target));
            continue;
        }
        if product.is_none() {
            return Err(ApiError::bad_request(
                "the `product` part must come first: a JSON object with `domain`, `team` and `name`, then one part per table file",
            ));
        }
        meshgate_core::names::validate("table name", &name)?;
        let file_name = field.file_name().map(str::to_string);
        let (path, mut out) = staging.create().await?;
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => out.write_all(&chunk).await.map_err(ApiError::internal)?,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(too_large(&state));
                }
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "upload of `{name}` failed: {}",
                        e.body_text()
                    )));
                }
            }
        }
        out.flush().await.map_err(ApiError::internal)?;
        files.push(StagedFile {
            table: name,
            path,
            file_name,
        });
    }
    let (product, target) = product.ok_or_else(|| {
        ApiError::bad_request(
            "missing the `product` part: a JSON object with `domain`, `team` and `name`",
        )
    })?;
    let view = service::create_product(&state, &caller, target, product, files).await?;
    drop(staging);
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ProductQuery {
    domain: Option<String>,
    team: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products",
    operation_id = "list_products",
    tag = "products",
    params(
        ProductQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<ProductView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ProductQuery>,
) -> ApiResult<Json<Vec<ProductView>>> {
    lookup::authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list data products",
    )?;
    let mut filter = ProductFilter::default();
    if let Some(d) = &q.domain {
        let domain = lookup::domain_by_name(&state, d).await?;
        filter.domain_id = Some(domain.id);
        if let Some(t) = &q.team {
            filter.team_id = Some(lookup::team_by_name(&state, d, t).await?.1.id);
        }
    } else if let Some(t) = &q.team {
        filter.team_id = Some(lookup::team_by_qualified_name(&state, t).await?.1.id);
    }
    let mut out = Vec::new();
    for p in state.store.list_products(&filter).await? {
        // Drafts and unpublished products exist only for their team (and admins).
        if !crate::lookup::can_see(&caller, &p) {
            continue;
        }
        out.push(ProductView::load(&state, &caller, p).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}",
    operation_id = "get_product",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = ProductView),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ProductView>> {
    let (_, p) = crate::lookup::product_by_name(&state, &caller, &domain, &product).await?;
    lookup::authorize(
        &state,
        &caller,
        Action::ViewProduct,
        &lookup::product_resource(&p),
        "view this product",
    )?;
    Ok(Json(ProductView::load(&state, &caller, p).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}",
    operation_id = "delete_product",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    service::delete_product(&state, &caller, &domain, &product).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AppendQuery {
    format: String,
}

/// `POST /products/{d}/{p}/tables/{t}/data`: the target and the caller's right to append
/// are checked before the body is read; the body goes to a server-named staging file.
#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/data",
    operation_id = "append_data",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        AppendQuery,
    ),
    request_body(description = "The data file, in the `format` of the query string", content(("text/csv"), ("application/json"), ("application/octet-stream"))),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn append_data(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
    Params(q): Params<AppendQuery>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    let format = FileFormat::parse(&q.format)?;
    let target = service::append_target(&state, &caller, &domain, &product, &table).await?;
    let mut staging = Staging::new(&state)?;
    let (path, mut out) = staging.create().await?;
    let limit = state.config.max_upload_mb.saturating_mul(1024 * 1024);
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                written += chunk.len() as u64;
                if written > limit {
                    return Err(too_large(&state));
                }
                out.write_all(&chunk).await.map_err(ApiError::internal)?;
            }
            Ok(None) => break,
            Err(e) => {
                return Err(if e.to_string().contains("length limit") {
                    too_large(&state)
                } else {
                    ApiError::bad_request(format!("upload failed: {e}"))
                });
            }
        }
    }
    out.flush().await.map_err(ApiError::internal)?;
    if written == 0 {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    let result = service::append_data(&state, &caller, target, format, &path).await?;
    drop(staging);
    Ok(Json(result))
}

#[utoipa::path(
    post,
    path = "/shares",
    operation_id = "request_access",
    tag = "shares",
    request_body = shares::AccessRequest,
    responses(
        (status = 201, description = "Created", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<shares::AccessRequest>,
) -> ApiResult<(StatusCode, Json<ShareView>)> {
    Ok((
        StatusCode::CREATED,
        Json(shares::request_access(&state, &caller, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/shares",
    operation_id = "list_shares",
    tag = "shares",
    params(
        shares::ListQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<ShareView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_shares(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<shares::ListQuery>,
) -> ApiResult<Json<Vec<ShareView>>> {
    Ok(Json(shares::list(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/shares/{id}",
    operation_id = "get_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::get(&state, &caller, share_id(&id)?).await?))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/submit",
    operation_id = "submit_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn submit_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::submit(&state, &caller, share_id(&id)?).await?))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/approve",
    operation_id = "approve_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::Decision>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn approve_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let d = optional_body(&body)?;
    Ok(Json(
        shares::approve(&state, &caller, share_id(&id)?, d).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/reject",
    operation_id = "reject_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::Decision>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn reject_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let d = optional_body(&body)?;
    Ok(Json(
        shares::reject(&state, &caller, share_id(&id)?, d).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/revoke",
    operation_id = "revoke_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::RevokeRequest>, content_type = "application/json", description = "Optional: an empty body means the defaults"),
    responses(
        (status = 200, description = "OK", body = ShareView),
        crate::openapi::ApiErrors,
    ),
)]
async fn revoke_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ShareView>> {
    let r = optional_body(&body)?;
    Ok(Json(
        shares::revoke(&state, &caller, share_id(&id)?, r).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/query",
    operation_id = "query",
    tag = "query",
    request_body = crate::query::QueryRequest,
    responses(
        (
            status = 200,
            description = "The result: JSON (the default), CSV (`format: csv` or `Accept: text/csv`) or an Arrow IPC stream (`format: arrow`)",
            content(
                (serde_json::Value = "application/json"),
                ("text/csv"),
                ("application/vnd.apache.arrow.stream"),
            ),
        ),
        crate::openapi::ApiErrors,
    ),
)]
async fn query(
    State(state): State<AppState>,
    crate::auth::DataCaller(caller): crate::auth::DataCaller,
    headers: HeaderMap,
    JsonBody(req): JsonBody<crate::query::QueryRequest>,
) -> ApiResult<Response> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = crate::query::output_format(req.format.as_deref(), accept)?;
    crate::query::run(&state, &caller, req, format).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    after: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    object: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct AuditView {
    #[serde(flatten)]
    event: AuditEvent,
    actor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "audit",
    tag = "audit",
    params(
        AuditQuery,
    ),
    responses(
        (status = 200, description = "The audit events, oldest first, with the actor's name", body = Vec<serde_json::Value>),
        crate::openapi::ApiErrors,
    ),
)]
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditQuery>,
) -> ApiResult<impl IntoResponse> {
    lookup::authorize(
        &state,
        &caller,
        Action::ReadAudit,
        &Resource::Mesh,
        "read the audit log",
    )?;
    let actor_id = match &q.actor {
        Some(name) => Some(lookup::principal_by_name(&state, name).await?.id),
        None => None,
    };
    let filter = AuditFilter {
        after_seq: q.after,
        actor_id,
        action_prefix: q.action,
        object_id: q.object,
        limit: q.limit,
    };
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for event in state.store.list_audit(&filter).await? {
        let actor = match event.actor_id {
            Some(id) => match names.get(&id) {
                Some(name) => Some(String::clone(name)),
                None => {
                    let name = crate::views::name_of_principal(&state, id).await?;
                    names.insert(id, name.clone());
                    Some(name)
                }
            },
            None => Some("system".to_string()),
        };
        out.push(AuditView { event, actor });
    }
    Ok(Json(out))
}
