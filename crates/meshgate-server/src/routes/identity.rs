//! Identity routes: `whoami`, principals, group membership and API tokens (operations in
//! `identity.rs`).

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use meshgate_core::model::{ApiToken, Principal};
use serde::Deserialize;

use crate::auth::{Caller, DataCaller};
use crate::error::ApiResult;
use crate::extract::{Created, Empty, JsonBody, Params};
use crate::identity;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/principals", post(create_principal).get(list_principals))
        .route("/principals/{name}", get(get_principal))
        .route("/principals/{group}/members", get(list_group_members))
        .route(
            "/principals/{group}/members/{name}",
            put(add_group_member).delete(remove_group_member),
        )
        .route("/tokens", post(create_token).get(list_tokens))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
}

#[utoipa::path(
    get,
    path = "/whoami",
    operation_id = "whoami",
    tag = "whoami",
    responses(
        (status = 200, description = "OK", body = identity::WhoAmI),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn whoami(
    State(state): State<AppState>,
    DataCaller(caller): DataCaller,
) -> ApiResult<Json<identity::WhoAmI>> {
    Ok(Json(identity::whoami(&state, caller).await?))
}

#[utoipa::path(
    post,
    path = "/principals",
    operation_id = "create_principal",
    tag = "principals",
    request_body = identity::NewPrincipal,
    responses(
        (status = 201, description = "Created", body = Principal),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<identity::NewPrincipal>,
) -> ApiResult<Created<Principal>> {
    Ok(Created(
        identity::create_principal(&state, &caller, req).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/principals",
    operation_id = "list_principals",
    tag = "principals",
    responses(
        (status = 200, description = "OK", body = Vec<Principal>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_principals(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Principal>>> {
    Ok(Json(identity::list_principals(&state, &caller).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn get_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Principal>> {
    Ok(Json(identity::get_principal(&state, &caller, &name).await?))
}

#[utoipa::path(
    get,
    path = "/principals/{group}/members",
    operation_id = "list_group_members",
    tag = "principals",
    params(
        ("group" = String, Path, description = "Group principal name", example = "analysts", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "The group's members, by name", body = Vec<Principal>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_group_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
) -> ApiResult<Json<Vec<Principal>>> {
    Ok(Json(
        identity::list_group_members(&state, &caller, &group).await?,
    ))
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
        (status = 200, description = "OK", body = Empty),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn add_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, name)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    identity::set_group_member(&state, &caller, &group, &name, true).await?;
    Ok(Json(Empty {}))
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
        (status = 200, description = "OK", body = Empty),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn remove_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, name)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    identity::set_group_member(&state, &caller, &group, &name, false).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "routes_create_token",
    tag = "tokens",
    request_body = identity::NewToken,
    responses(
        (status = 201, description = "Created: the token is shown once", body = identity::CreatedToken),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<identity::NewToken>,
) -> ApiResult<Created<identity::CreatedToken>> {
    Ok(Created(identity::create_token(&state, &caller, req).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenQuery {
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TokenQuery>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(
        identity::list_tokens(&state, &caller, q.principal.as_deref()).await?,
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiToken>> {
    Ok(Json(identity::revoke_token(&state, &caller, &id).await?))
}
