//! SQL and the audit log: `POST /query` (the data plane; operations in `query.rs`), `GET
//! /audit` (`audit.rs`) and what verifies it: `GET /audit/chain`, `/audit/outside`,
//! `/audit/digests`, `/audit/keys` (`audit/chain.rs`); the SIEM sinks (`audit/stream.rs`);
//! unusual-read alerts, their settings and suspensions (`audit/alerts.rs`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::{Caller, DataCaller};
use crate::error::ApiResult;
use crate::extract::{JsonBody, Params};
use crate::state::AppState;
use crate::{audit, query};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/query", post(query))
        .route("/audit", get(audit))
        .route("/audit/chain", get(audit_chain))
        .route("/audit/outside", get(audit_outside))
        .route("/audit/digests", get(audit_digests))
        .route("/audit/keys", get(audit_keys))
        .route("/audit/sinks", get(audit_sinks))
        .route("/audit/sinks/{name}/replay", post(audit_sink_replay))
        .route("/audit/alerts", get(audit_alerts))
        .route("/audit/alerts/{id}", get(audit_alert))
        .route(
            "/audit/alerts/{id}/acknowledge",
            post(audit_alert_acknowledge),
        )
        .route(
            "/audit/alert-settings",
            get(audit_alert_settings).patch(audit_alert_tune),
        )
        .route("/audit/suspensions", get(audit_suspensions))
        .route(
            "/audit/suspensions/{principal}",
            axum::routing::delete(audit_suspension_lift),
        )
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

#[utoipa::path(
    get,
    path = "/audit/chain",
    operation_id = "audit_chain",
    tag = "audit",
    params(audit::chain::ChainQuery),
    responses(
        (status = 200, description = "The chain's head, and its events from a position on, in chain order, each with its link", body = audit::chain::ChainPage),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_chain(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<audit::chain::ChainQuery>,
) -> ApiResult<Json<audit::chain::ChainPage>> {
    Ok(Json(audit::chain::chain(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/audit/outside",
    operation_id = "audit_outside",
    tag = "audit",
    params(audit::chain::OutsideQuery),
    responses(
        (status = 200, description = "Events in the log but not in the chain (written outside meshgate), oldest first", body = Vec<meshgate_core::model::AuditEvent>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_outside(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<audit::chain::OutsideQuery>,
) -> ApiResult<Json<Vec<meshgate_core::model::AuditEvent>>> {
    Ok(Json(audit::chain::outside(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/audit/digests",
    operation_id = "audit_digests",
    tag = "audit",
    params(audit::chain::ChainQuery),
    responses(
        (status = 200, description = "The signed digests of the chain, in order", body = Vec<meshgate_core::audit_chain::AuditDigest>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_digests(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<audit::chain::ChainQuery>,
) -> ApiResult<Json<Vec<meshgate_core::audit_chain::AuditDigest>>> {
    Ok(Json(audit::chain::digests(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/audit/keys",
    operation_id = "audit_keys",
    tag = "audit",
    responses(
        (status = 200, description = "The public keys that sign digests (Ed25519, base64)", body = Vec<meshgate_core::audit_chain::AuditKey>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<meshgate_core::audit_chain::AuditKey>>> {
    Ok(Json(audit::chain::keys(&state, &caller).await?))
}

#[utoipa::path(
    get,
    path = "/audit/sinks",
    operation_id = "audit_sinks",
    tag = "audit",
    responses(
        (status = 200, description = "The SIEM sinks of the configuration: where each is in the chain, how far behind, its last failure", body = Vec<audit::stream::SinkView>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_sinks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<audit::stream::SinkView>>> {
    Ok(Json(audit::stream::list(&state, &caller).await?))
}

#[utoipa::path(
    post,
    path = "/audit/sinks/{name}/replay",
    operation_id = "audit_sink_replay",
    tag = "audit",
    params(("name" = String, Path, description = "The sink's name in the configuration")),
    request_body = audit::stream::ReplayRequest,
    responses(
        (status = 200, description = "The sink, set to deliver again from the position", body = audit::stream::SinkView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_sink_replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<audit::stream::ReplayRequest>,
) -> ApiResult<Json<audit::stream::SinkView>> {
    Ok(Json(
        audit::stream::replay(&state, &caller, &name, req).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/audit/alerts",
    operation_id = "audit_alerts",
    tag = "audit",
    params(audit::alerts::AlertQuery),
    responses(
        (status = 200, description = "Unusual-read alerts, newest first, with the reader's name and the numbers that triggered each", body = Vec<audit::alerts::AlertView>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<audit::alerts::AlertQuery>,
) -> ApiResult<Json<Vec<audit::alerts::AlertView>>> {
    Ok(Json(audit::alerts::list(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/audit/alerts/{id}",
    operation_id = "audit_alert",
    tag = "audit",
    params(("id" = String, Path, description = "The alert's id (uuid)")),
    responses(
        (status = 200, description = "One alert", body = audit::alerts::AlertView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<audit::alerts::AlertView>> {
    Ok(Json(audit::alerts::get(&state, &caller, &id).await?))
}

#[utoipa::path(
    post,
    path = "/audit/alerts/{id}/acknowledge",
    operation_id = "audit_alert_acknowledge",
    tag = "audit",
    params(("id" = String, Path, description = "The alert's id (uuid)")),
    request_body = audit::alerts::AcknowledgeRequest,
    responses(
        (status = 200, description = "The alert, acknowledged by the caller", body = audit::alerts::AlertView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_alert_acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<audit::alerts::AcknowledgeRequest>,
) -> ApiResult<Json<audit::alerts::AlertView>> {
    Ok(Json(
        audit::alerts::acknowledge(&state, &caller, &id, req).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/audit/alert-settings",
    operation_id = "audit_alert_settings",
    tag = "audit",
    responses(
        (status = 200, description = "The detector's settings and response, and how far it has judged the chain", body = audit::alerts::SettingsView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_alert_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<audit::alerts::SettingsView>> {
    Ok(Json(audit::alerts::settings(&state, &caller).await?))
}

#[utoipa::path(
    patch,
    path = "/audit/alert-settings",
    operation_id = "audit_alert_tune",
    tag = "audit",
    request_body(content = meshgate_core::alerts::AlertSettings, description = "The settings to change; those left out keep their values"),
    responses(
        (status = 200, description = "The settings after the change", body = audit::alerts::SettingsView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_alert_tune(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(changes): JsonBody<serde_json::Value>,
) -> ApiResult<Json<audit::alerts::SettingsView>> {
    Ok(Json(audit::alerts::tune(&state, &caller, changes).await?))
}

#[utoipa::path(
    get,
    path = "/audit/suspensions",
    operation_id = "audit_suspensions",
    tag = "audit",
    responses(
        (status = 200, description = "The principals suspended after an alert", body = Vec<audit::alerts::SuspensionView>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_suspensions(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<audit::alerts::SuspensionView>>> {
    Ok(Json(audit::alerts::suspensions(&state, &caller).await?))
}

#[utoipa::path(
    delete,
    path = "/audit/suspensions/{principal}",
    operation_id = "audit_suspension_lift",
    tag = "audit",
    params(("principal" = String, Path, description = "The suspended principal's name")),
    responses(
        (status = 204, description = "Lifted: the principal's tokens and credentials work again; no body"),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn audit_suspension_lift(
    State(state): State<AppState>,
    caller: Caller,
    Path(principal): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    audit::alerts::lift(&state, &caller, &principal).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
