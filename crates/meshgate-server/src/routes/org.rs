//! The organisation's routes: domains, teams and team members (operations in `org.rs`; the
//! domain hierarchy is the catalog's).

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use meshgate_core::model::{Domain, TeamRole};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Created, Empty, JsonBody};
use crate::org;
use crate::state::AppState;
use crate::views::{MemberView, TeamView};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains", post(create_domain).get(list_domains))
        .route("/domains/{domain}", get(get_domain).patch(update_domain))
        .route("/domains/{domain}/teams", post(create_team).get(list_teams))
        .route("/domains/{domain}/teams/{team}/members", get(list_members))
        .route(
            "/domains/{domain}/teams/{team}/members/{principal}",
            put(put_member).delete(remove_member),
        )
}

#[utoipa::path(
    post,
    path = "/domains",
    operation_id = "create_domain",
    tag = "domains",
    request_body = org::NewDomain,
    responses(
        (status = 201, description = "Created", body = Domain),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn create_domain(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<org::NewDomain>,
) -> ApiResult<Created<Domain>> {
    Ok(Created(org::create_domain(&state, &caller, req).await?))
}

#[utoipa::path(
    get,
    path = "/domains",
    operation_id = "list_domains",
    tag = "domains",
    responses(
        (status = 200, description = "OK", body = Vec<Domain>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Domain>>> {
    Ok(Json(org::list_domains(&state, &caller).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn get_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(org::get_domain(&state, &caller, &name).await?))
}

#[utoipa::path(
    patch,
    path = "/domains/{domain}",
    operation_id = "update_domain",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = org::DomainPatch,
    responses(
        (status = 200, description = "OK", body = Domain),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn update_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<org::DomainPatch>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(
        org::update_domain(&state, &caller, &name, patch).await?,
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
    request_body = org::NewTeam,
    responses(
        (status = 201, description = "Created", body = TeamView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(req): JsonBody<org::NewTeam>,
) -> ApiResult<Created<TeamView>> {
    Ok(Created(
        org::create_team(&state, &caller, &domain, req).await?,
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<Vec<TeamView>>> {
    Ok(Json(org::list_teams(&state, &caller, &domain).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team)): Path<(String, String)>,
) -> ApiResult<Json<Vec<MemberView>>> {
    Ok(Json(
        org::list_members(&state, &caller, &domain, &team).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct RoleBody {
    pub role: TeamRole,
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn put_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team, principal)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(
        org::put_member(&state, &caller, &domain, &team, &principal, body.role).await?,
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
        (status = 200, description = "OK", body = Empty),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, team, principal)): Path<(String, String, String)>,
) -> ApiResult<Json<Empty>> {
    org::remove_member(&state, &caller, &domain, &team, &principal).await?;
    Ok(Json(Empty {}))
}
