//! The share lifecycle's routes: request, decide, change, verify and read shares
//! (operations in `shares/`, docs/design/LIFECYCLE.md).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use meshgate_core::model::ShareLog;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Created, ItemId, JsonBody, OptionalBody, Params, ShareId};
use crate::shares;
use crate::state::AppState;
use crate::views::ShareView;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/shares", post(request_access).get(list_shares))
        .route("/shares/{id}", get(get_share).delete(delete_share))
        .route("/shares/{id}/submit", post(submit_share))
        .route("/shares/{id}/approve", post(approve_share))
        .route("/shares/{id}/preview", post(preview_share))
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
        .route("/access", get(list_access))
}

#[utoipa::path(
    post,
    path = "/shares",
    operation_id = "request_access",
    tag = "shares",
    request_body = shares::AccessRequest,
    responses(
        (status = 201, description = "Created", body = ShareView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<shares::AccessRequest>,
) -> ApiResult<Created<ShareView>> {
    Ok(Created(shares::request_access(&state, &caller, req).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_shares(
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn get_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::get(&state, &caller, id).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn submit_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::submit(&state, &caller, id).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn approve_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(d): OptionalBody<shares::Decision>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::approve(&state, &caller, id, d).await?))
}

#[utoipa::path(
    post,
    path = "/shares/{id}/preview",
    operation_id = "preview_share",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    request_body(content = Option<shares::PreviewRequest>, content_type = "application/json", description = "Optional: the narrowing to preview, as `approve` takes it"),
    responses(
        (status = 200, description = "What the requester would read of each table if approved as given", body = shares::Preview),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn preview_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(r): OptionalBody<shares::PreviewRequest>,
) -> ApiResult<Json<shares::Preview>> {
    Ok(Json(shares::preview(&state, &caller, id, r).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn reject_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(d): OptionalBody<shares::Decision>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::reject(&state, &caller, id, d).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn revoke_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(r): OptionalBody<shares::RevokeRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::revoke(&state, &caller, id, r).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn add_share_items(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    JsonBody(body): JsonBody<shares::ItemSelection>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::add_items(&state, &caller, id, body).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn remove_share_item(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    ItemId(item): ItemId,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::remove_item(&state, &caller, id, item).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn modify_share_item(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    ItemId(item): ItemId,
    JsonBody(body): JsonBody<shares::ModifyRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::modify(&state, &caller, id, item, body).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn extend_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    JsonBody(body): JsonBody<shares::ExtendRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::extend(&state, &caller, id, body).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NotesBody {
    #[serde(default)]
    pub notes: Option<String>,
}

/// The `{decision}` of `POST /shares/{id}/extension/{decision}`.
#[derive(Deserialize)]
pub(crate) struct DecisionPath {
    decision: String,
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn decide_extension(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    Path(p): Path<DecisionPath>,
    OptionalBody(body): OptionalBody<NotesBody>,
) -> ApiResult<Json<ShareView>> {
    let decision = p.decision.parse()?;
    let view = shares::decide_extension(&state, &caller, id, decision, body.notes).await?;
    Ok(Json(view))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn finalize_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    JsonBody(body): JsonBody<shares::FinalizeRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::finalize(&state, &caller, id, body).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn delete_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    JsonBody(body): JsonBody<shares::DeleteRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::delete(&state, &caller, id, body).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn verify_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(r): OptionalBody<shares::RunRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(
        shares::run_check(&state, &caller, id, false, r).await?,
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn reapply_share(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    OptionalBody(r): OptionalBody<shares::RunRequest>,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::run_check(&state, &caller, id, true, r).await?))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn share_logs(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    Params(q): Params<shares::LogQuery>,
) -> ApiResult<Json<Vec<ShareLog>>> {
    Ok(Json(shares::logs(&state, &caller, id, q).await?))
}

#[utoipa::path(
    get,
    path = "/access",
    operation_id = "list_access",
    tag = "access",
    responses(
        (status = 200, description = "OK", body = Vec<shares::AccessEntry>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_access(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<shares::AccessEntry>>> {
    Ok(Json(shares::list_access(&state, &caller).await?))
}
