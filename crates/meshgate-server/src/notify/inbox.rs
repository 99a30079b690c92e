//! The caller's inbox: its notifications, and marking them read.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use chrono::Utc;
use meshgate_core::notify::Notification;
use serde::{Deserialize, Serialize};

use super::own::{own, parse_id};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::state::AppState;

/// The routes of the inbox, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read-all", post(read_all))
        .route("/notifications/{id}/read", post(read_one))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only notifications not yet read.
    #[serde(default)]
    unread: bool,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/notifications",
    operation_id = "notify_list",
    tag = "notifications",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<Notification>),
        crate::error::ApiErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(list_notifications(&state, &caller, q).await?))
}

/// The caller's notifications (only unread ones when asked), at most `limit` (1 … 1000,
/// default 100).
async fn list_notifications(
    state: &AppState,
    caller: &Caller,
    q: ListQuery,
) -> ApiResult<Vec<Notification>> {
    own(caller, "read notifications")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is outside 1 … 1000"
        )));
    }
    Ok(state
        .store
        .list_notifications(caller.id(), q.unread, limit)
        .await?)
}

#[utoipa::path(
    post,
    path = "/notifications/{id}/read",
    operation_id = "read_one",
    tag = "notifications",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = Notification),
        crate::error::ApiErrors,
    ),
)]
async fn read_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Notification>> {
    Ok(Json(mark_read(&state, &caller, &id).await?))
}

/// Marks one of the caller's notifications read.
async fn mark_read(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Notification> {
    own(caller, "read notifications")?;
    let parsed = parse_id(id, "notification")?;
    // Someone else's notification is as absent as a missing one.
    let n = state
        .store
        .mark_notification_read(caller.id(), parsed, Utc::now())
        .await?;
    Ok(n)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Marked {
    /// How many notifications were unread and are now read.
    marked: u64,
}

#[utoipa::path(
    post,
    path = "/notifications/read-all",
    operation_id = "read_all",
    tag = "notifications",
    responses(
        (status = 200, description = "OK", body = Marked),
        crate::error::ApiErrors,
    ),
)]
async fn read_all(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Marked>> {
    Ok(Json(mark_all_read(&state, &caller).await?))
}

/// Marks every unread notification of the caller read.
async fn mark_all_read(state: &AppState, caller: &Caller) -> ApiResult<Marked> {
    own(caller, "read notifications")?;
    let marked = state
        .store
        .mark_all_notifications_read(caller.id(), Utc::now())
        .await?;
    Ok(Marked { marked })
}
