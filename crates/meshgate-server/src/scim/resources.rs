//! The User and Group endpoints: thin handlers over `provision.rs`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use super::error::ScimResult;
use super::provision;
use super::reply::{Created, NoContent, Scim};
use super::request::{ScimBody, ScimCaller, ScimQuery, search_params};
use super::resource::Kind;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Users/.search", post(search_users))
        .route("/Groups", get(list_groups).post(create_group))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/Groups/.search", post(search_groups))
        .route("/.search", post(search_all))
}

async fn list_users(State(s): State<AppState>, _: ScimCaller, q: ScimQuery) -> ScimResult<Scim> {
    Ok(Scim(provision::list(&s, &[Kind::User], &q.list()?).await?))
}

async fn list_groups(State(s): State<AppState>, _: ScimCaller, q: ScimQuery) -> ScimResult<Scim> {
    Ok(Scim(provision::list(&s, &[Kind::Group], &q.list()?).await?))
}

async fn search_users(
    State(s): State<AppState>,
    _: ScimCaller,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::list(&s, &[Kind::User], &search_params(&b)?).await?,
    ))
}

async fn search_groups(
    State(s): State<AppState>,
    _: ScimCaller,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::list(&s, &[Kind::Group], &search_params(&b)?).await?,
    ))
}

async fn search_all(
    State(s): State<AppState>,
    _: ScimCaller,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::list(&s, &[Kind::User, Kind::Group], &search_params(&b)?).await?,
    ))
}

async fn get_user(
    State(s): State<AppState>,
    _: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::get(&s, Kind::User, &id, &q.projection()?).await?,
    ))
}

async fn get_group(
    State(s): State<AppState>,
    _: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::get(&s, Kind::Group, &id, &q.projection()?).await?,
    ))
}

async fn create_user(
    State(s): State<AppState>,
    c: ScimCaller,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Created> {
    Ok(Created(
        provision::create(&s, &c, Kind::User, &b, &q.projection()?).await?,
    ))
}

async fn create_group(
    State(s): State<AppState>,
    c: ScimCaller,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Created> {
    Ok(Created(
        provision::create(&s, &c, Kind::Group, &b, &q.projection()?).await?,
    ))
}

async fn replace_user(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::replace(&s, &c, Kind::User, &id, &b, &q.projection()?).await?,
    ))
}

async fn replace_group(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::replace(&s, &c, Kind::Group, &id, &b, &q.projection()?).await?,
    ))
}

async fn patch_user(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::patch(&s, &c, Kind::User, &id, &b, &q.projection()?).await?,
    ))
}

async fn patch_group(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
    q: ScimQuery,
    ScimBody(b): ScimBody,
) -> ScimResult<Scim> {
    Ok(Scim(
        provision::patch(&s, &c, Kind::Group, &id, &b, &q.projection()?).await?,
    ))
}

async fn delete_user(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
) -> ScimResult<NoContent> {
    provision::delete(&s, &c, Kind::User, &id).await?;
    Ok(NoContent)
}

async fn delete_group(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(id): Path<String>,
) -> ScimResult<NoContent> {
    provision::delete(&s, &c, Kind::Group, &id).await?;
    Ok(NoContent)
}
