//! The caller's webhooks: registering them (only to public destinations), removing them, and
//! their deliveries.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::Utc;
use meshgate_core::model::new_id;
use meshgate_core::notify::{Webhook, WebhookDelivery, generate_webhook_secret, parse_events};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::egress::{self, EgressPolicy};
use super::own::{own, parse_id};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::audit;
use crate::state::AppState;

/// The most active webhooks one principal may have.
const MAX_WEBHOOKS: usize = 20;
/// The longest accepted webhook URL.
const MAX_URL: usize = 2048;

/// The routes of webhooks, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route("/webhooks/{id}/deliveries", get(list_deliveries))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct WebhookBody {
    url: String,
    /// Event names; none or empty: every event.
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// The HMAC-SHA-256 key of `X-Meshgate-Signature`, shown only here.
    secret: String,
}

/// Checks a webhook URL: absolute `http` or `https` with a host.
pub fn validate_webhook_url(raw: &str) -> ApiResult<url::Url> {
    let raw = raw.trim();
    let bad = |why: &str| ApiError::bad_request(format!("url: `{raw}` {why}"));
    if raw.len() > MAX_URL {
        return Err(ApiError::bad_request(format!(
            "url: at most {MAX_URL} characters"
        )));
    }
    let url = url::Url::parse(raw).map_err(|e| {
        bad(&format!(
            "is not a URL ({e}); give one like `https://hooks.example.com/meshgate`"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an `http` or `https` URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("names no host"));
    }
    Ok(url)
}

/// Refuses a webhook whose destination is not public (loopback, private, link-local, …)
/// unless an admin allowed its host. One message whatever the reason, so registration does
/// not tell which internal names exist.
async fn check_webhook_destination(state: &AppState, url: &url::Url) -> ApiResult<()> {
    let policy = EgressPolicy::new(&state.config.notifications.webhook_allow_hosts)
        .map_err(ApiError::internal)?;
    egress::check_destination(url, &policy).await.map_err(|_| {
        ApiError::bad_request(format!(
            "url: webhooks are delivered only to public addresses, and host `{}` is (or resolves to) an internal address or does not resolve; an admin may allow it in `notifications.webhook_allow_hosts`",
            url.host_str().unwrap_or_default()
        ))
    })
}

#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "Created", body = CreatedWebhook),
        crate::error::ApiErrors,
    ),
)]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<WebhookBody>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let created = register(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Registers a webhook of the caller's to a public destination (at most `MAX_WEBHOOKS` each).
async fn register(
    state: &AppState,
    caller: &Caller,
    body: WebhookBody,
) -> ApiResult<CreatedWebhook> {
    own(caller, "create webhooks")?;
    let url = validate_webhook_url(&body.url)?;
    let events = parse_events(&body.events)?;
    check_webhook_destination(state, &url).await?;
    if state.store.list_webhooks(caller.id()).await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "principal `{}` has {MAX_WEBHOOKS} webhooks already; delete one first",
                caller.principal.name
            ),
        ));
    }
    let hook = Webhook {
        id: new_id(),
        principal_id: caller.id(),
        url: url.to_string(),
        secret: generate_webhook_secret(),
        events,
        created_at: meshgate_store::truncate_to_micros(Utc::now()),
        disabled_at: None,
    };
    // The host only: a URL may carry a token in its path or query.
    let event = audit(caller, "webhook.create", "webhook", hook.id)
        .with_detail(json!({"host": url.host_str(), "events": hook.events}));
    state.store.create_webhook(&hook, event).await?;
    let secret = hook.secret.clone();
    Ok(CreatedWebhook {
        webhook: hook,
        secret,
    })
}

#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "OK", body = Vec<Webhook>),
        crate::error::ApiErrors,
    ),
)]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Webhook>>> {
    own(&caller, "list webhooks")?;
    Ok(Json(state.store.list_webhooks(caller.id()).await?))
}

/// A webhook of the caller's (admins: anyone's); 404 otherwise.
async fn owned_webhook(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Webhook> {
    let parsed = parse_id(id, "webhook")?;
    match state.store.get_webhook(parsed).await? {
        Some(h) if h.principal_id == caller.id() || caller.actor.is_admin => Ok(h),
        _ => Err(ApiError::not_found("webhook", id)),
    }
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = Webhook),
        crate::error::ApiErrors,
    ),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(unregister(&state, &caller, &id).await?))
}

/// Disables a webhook of the caller's (admins: anyone's).
async fn unregister(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Webhook> {
    own(caller, "delete webhooks")?;
    let hook = owned_webhook(state, caller, id).await?;
    let event = audit(caller, "webhook.delete", "webhook", hook.id);
    Ok(state
        .store
        .disable_webhook(hook.id, Utc::now(), event)
        .await?)
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    operation_id = "list_deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<WebhookDelivery>),
        crate::error::ApiErrors,
    ),
)]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    own(&caller, "list webhook deliveries")?;
    let hook = owned_webhook(&state, &caller, &id).await?;
    Ok(Json(state.store.list_webhook_deliveries(hook.id).await?))
}
