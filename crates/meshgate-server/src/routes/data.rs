//! SQL and the audit log: `POST /query` (the data plane; operations in `query.rs`) and
//! `GET /audit` (`audit.rs`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::auth::{Caller, DataCaller};
use crate::error::ApiResult;
use crate::extract::{JsonBody, Params};
use crate::state::AppState;
use crate::{audit, query};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/query", post(query))
        .route("/audit", get(audit))
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
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    DataCaller(caller): DataCaller,
    headers: HeaderMap,
    JsonBody(req): JsonBody<query::QueryRequest>,
) -> ApiResult<Response> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = query::output_format(req.format.as_deref(), accept)?;
    query::run(&state, &caller, req, format).await
}

#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "audit",
    tag = "audit",
    params(
        audit::AuditQuery,
    ),
    responses(
        (status = 200, description = "The audit events, oldest first, with the actor's name (JSON, or CSV with `format=csv`)", content((Vec<audit::AuditView> = "application/json"), ("text/csv"))),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<audit::AuditQuery>,
) -> ApiResult<Response> {
    audit::respond(&state, &caller, q).await
}
