//! Notifications (docs/design/LIFECYCLE.md §Notifications): the dispatcher that turns the audit log into
//! inbox entries, email and webhook deliveries; the workers' delivery steps; and the API of
//! inboxes, contacts and webhooks.
//!
//! Nothing in the share lifecycle calls this module. Every share change already commits its
//! audit event in the same transaction as the change, so the dispatcher tails `audit_events`
//! by `seq` from a durable cursor and derives the notifications from there: a change is never
//! announced unless it committed, and never lost if the process dies (the cursor only moves
//! in the transaction that writes what the events produced). Which events notify whom and
//! what the messages say is decided in `meshgate_core::notify`.
//!
//! Delivery goes through the outbox: the dispatcher enqueues a `send_email` job per
//! notification whose recipient has an email address (when SMTP is configured) and a
//! `deliver_webhook` job per webhook delivery; the worker runs them here and retries failures
//! with exponential backoff from `notifications.retry_base_ms`, giving up (and recording it)
//! after `notifications.max_attempts`.

pub mod egress;
pub mod setup;

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chrono::Utc;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use meshgate_core::model::{Job, JobKind, PrincipalKind, Share, new_id};
use meshgate_core::notify::{
    Contact, DeliveryStatus, GAP_GRACE, MessageFacts, Notification, SYSTEM_ACTOR, Trigger, Webhook,
    WebhookDelivery, audience, compose, dispatchable, generate_webhook_secret, parse_events,
    trigger_of, webhook_signature,
};
use meshgate_store::{AuditFilter, NewJob, NotificationBatch};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::lookup::audit;
use crate::state::AppState;
use egress::EgressPolicy;
pub use setup::{DELIVERY_TIMEOUT, check_config, webhook_client};

/// How many audit events the dispatcher reads at once.
const BATCH: u32 = 500;
/// The longest a retry waits.
const MAX_RETRY_DELAY_MS: u64 = 10 * 60 * 1000;
/// The most active webhooks one principal may have.
const MAX_WEBHOOKS: usize = 20;
/// The longest accepted webhook URL and email address.
const MAX_URL: usize = 2048;
const MAX_EMAIL: usize = 254;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read-all", post(read_all))
        .route("/notifications/{id}/read", post(read_one))
        .route(
            "/contacts/me",
            get(get_contact).put(put_contact).delete(delete_contact),
        )
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route("/webhooks/{id}/deliveries", get(list_deliveries))
}

// ----- the dispatcher -----

/// Runs the dispatcher until `stop` is cancelled: dispatches what the log holds, then polls
/// every `notifications.dispatch_poll_ms`.
pub async fn run_dispatcher(state: AppState, stop: CancellationToken) {
    let poll = Duration::from_millis(state.config.notifications.dispatch_poll_ms.max(10));
    loop {
        let full = match dispatch_once(&state).await {
            Ok(n) => n >= BATCH as usize,
            Err(e) => {
                tracing::error!(error = %e, "cannot dispatch notifications; will retry");
                false
            }
        };
        if stop.is_cancelled() {
            return;
        }
        if !full {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// Dispatches the audit events after the cursor (at most one batch): writes their
/// notifications, deliveries and jobs together with the cursor's move, and wakes the worker.
/// Returns how many events it consumed; 0 when there was nothing to do or another replica
/// dispatched them first.
pub async fn dispatch_once(state: &AppState) -> meshgate_core::Result<usize> {
    let cursor = state.store.notify_cursor().await?;
    let events = state
        .store
        .list_audit(&AuditFilter {
            after_seq: Some(cursor),
            limit: Some(BATCH),
            ..Default::default()
        })
        .await?;
    let (ready, up_to) = dispatchable(cursor, &events, Utc::now(), GAP_GRACE);
    if ready.is_empty() {
        return Ok(0);
    }
    let mut batch = NotificationBatch {
        after_seq: cursor,
        up_to_seq: up_to,
        ..Default::default()
    };
    for event in ready {
        if let Some(trigger) = trigger_of(event) {
            derive(state, &trigger, &mut batch).await?;
        }
    }
    let wake = !batch.jobs.is_empty();
    if !state.store.record_notifications(batch).await? {
        tracing::debug!(cursor, "another replica dispatched these events first");
        return Ok(0);
    }
    if wake {
        state.wake_worker.notify_one();
    }
    Ok(ready.len())
}

/// The principals a team membership stands for: the member, or a group's members.
async fn people(state: &AppState, principal_id: Uuid) -> meshgate_core::Result<Vec<Uuid>> {
    match state.store.get_principal(principal_id).await? {
        Some(p) if p.kind == PrincipalKind::Group => {
            let mut out = Vec::new();
            for member in state.store.group_members(p.id).await? {
                if let Some(m) = state.store.get_principal(member).await?
                    && m.kind != PrincipalKind::Group
                {
                    out.push(m.id);
                }
            }
            Ok(out)
        }
        Some(p) => Ok(vec![p.id]),
        None => Ok(Vec::new()),
    }
}

async fn add_people(
    state: &AppState,
    members: Vec<Uuid>,
    into: &mut Vec<Uuid>,
) -> meshgate_core::Result<()> {
    for member in members {
        for p in people(state, member).await? {
            if !into.contains(&p) {
                into.push(p);
            }
        }
    }
    Ok(())
}

/// The share's requesters (the requesting team's members, or the requesting principal) and
/// approvers (owners and stewards of the product's team), as `audience` asks.
async fn recipients(
    state: &AppState,
    share: &Share,
    product_team: Option<Uuid>,
    trigger: &Trigger,
) -> meshgate_core::Result<Vec<Uuid>> {
    let who = audience(trigger.event);
    let mut out = Vec::new();
    if who.approvers
        && let Some(team) = product_team
    {
        let approvers = state
            .store
            .list_team_members(team)
            .await?
            .into_iter()
            .filter(|m| m.role.is_approver())
            .map(|m| m.principal_id)
            .collect();
        add_people(state, approvers, &mut out).await?;
    }
    if who.requesters {
        match (share.requester_team_id, share.requester_principal_id) {
            (Some(team), _) => {
                let members = state
                    .store
                    .list_team_members(team)
                    .await?
                    .into_iter()
                    .map(|m| m.principal_id)
                    .collect();
                add_people(state, members, &mut out).await?;
            }
            (None, Some(p)) => add_people(state, vec![p], &mut out).await?,
            (None, None) => {}
        }
    }
    // Nobody is told of their own act.
    out.retain(|p| Some(*p) != trigger.actor_id);
    Ok(out)
}

async fn team_name(state: &AppState, team_id: Uuid) -> meshgate_core::Result<String> {
    let Some(team) = state.store.get_team(team_id).await? else {
        return Ok(format!("team {team_id}"));
    };
    let domain = match state.store.get_domain(team.domain_id).await? {
        Some(d) => d.name,
        None => team.domain_id.to_string(),
    };
    Ok(format!("{domain}.{}", team.name))
}

async fn principal_name(state: &AppState, id: Uuid) -> meshgate_core::Result<String> {
    Ok(match state.store.get_principal(id).await? {
        Some(p) => p.name,
        None => format!("principal {id}"),
    })
}

/// The link to a share in messages.
pub fn share_link(config: &Config, share_id: Uuid) -> String {
    format!(
        "{}/api/v1/shares/{share_id}",
        config.public_url().trim_end_matches('/')
    )
}

/// Adds what one triggering event produces to `batch`: a notification per recipient, an
/// email job for recipients with an address, a delivery and its job per matching webhook.
async fn derive(
    state: &AppState,
    trigger: &Trigger,
    batch: &mut NotificationBatch,
) -> meshgate_core::Result<()> {
    let Some(detail) = state.store.get_share(trigger.share_id).await? else {
        tracing::warn!(share = %trigger.share_id, seq = trigger.seq, "an audit event names a share that does not exist; nobody is notified");
        return Ok(());
    };
    let share = &detail.share;
    let product = state.store.get_product(share.product_id).await?;
    let product_name = match &product {
        Some(p) => match state.store.get_domain(p.domain_id).await? {
            Some(d) => format!("{}.{}", d.name, p.name),
            None => p.name.clone(),
        },
        None => format!("product {}", share.product_id),
    };
    let requester = match (share.requester_team_id, share.requester_principal_id) {
        (Some(t), _) => team_name(state, t).await?,
        (None, Some(p)) => principal_name(state, p).await?,
        (None, None) => "nobody".to_string(),
    };
    let actor = match trigger.actor_id {
        Some(a) => principal_name(state, a).await?,
        None => SYSTEM_ACTOR.to_string(),
    };
    let facts = MessageFacts {
        actor: actor.clone(),
        product: product_name.clone(),
        requester: requester.clone(),
        reason: share.reason.clone(),
        link: share_link(&state.config, share.id),
    };
    let (title, body) = compose(trigger, &facts);
    let now = Utc::now();
    let email = state.config.notifications.smtp_url.is_some();
    for principal_id in
        recipients(state, share, product.as_ref().map(|p| p.team_id), trigger).await?
    {
        let notification = Notification {
            id: new_id(),
            principal_id,
            share_id: share.id,
            event: trigger.event,
            actor_id: trigger.actor_id,
            audit_seq: trigger.seq,
            title: title.clone(),
            body: body.clone(),
            link: facts.link.clone(),
            created_at: now,
            read_at: None,
            emailed_at: None,
        };
        if email && state.store.get_contact(principal_id).await?.is_some() {
            batch.jobs.push(NewJob {
                kind: JobKind::SendEmail,
                subject_id: notification.id,
                lock_product: None,
                lock_grantee: None,
            });
        }
        for hook in state.store.list_webhooks(principal_id).await? {
            if !hook.wants(trigger.event) {
                continue;
            }
            let id = new_id();
            let payload = json!({
                "id": id,
                "event": trigger.event,
                "share_id": share.id,
                "product": product_name,
                "requester": requester,
                "actor": actor,
                "message": title,
                "body": body,
                "link": facts.link,
                "at": trigger.at,
            });
            batch.deliveries.push(WebhookDelivery {
                id,
                webhook_id: hook.id,
                notification_id: notification.id,
                event: trigger.event,
                payload: payload.to_string(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                created_at: now,
                finished_at: None,
            });
            batch.jobs.push(NewJob {
                kind: JobKind::DeliverWebhook,
                subject_id: id,
                lock_product: None,
                lock_grantee: None,
            });
        }
        batch.notifications.push(notification);
    }
    Ok(())
}

// ----- delivery (the worker's side) -----

/// Whether a job is a notification delivery that has used its last attempt: the worker then
/// gives it up instead of scheduling another.
pub fn is_last_attempt(config: &Config, job: &Job) -> bool {
    matches!(job.kind, JobKind::SendEmail | JobKind::DeliverWebhook)
        && job.attempts >= i32::try_from(config.notifications.max_attempts).unwrap_or(i32::MAX)
}

/// How long a notification delivery waits before its next attempt: `retry_base_ms` after the
/// first failure, doubling each time, at most ten minutes.
pub fn retry_delay(config: &Config, attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    let ms = config
        .notifications
        .retry_base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_DELAY_MS);
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(0))
}

/// Emails one notification to its recipient. Nothing to do (and done) when email is off, the
/// notification is gone or already emailed, or the recipient has no address any more.
pub async fn send_email(state: &AppState, job: &Job) -> Result<(), String> {
    let settings = &state.config.notifications;
    let Some(url) = &settings.smtp_url else {
        return Ok(());
    };
    let store_err = |e: meshgate_core::Error| e.to_string();
    let Some(n) = state
        .store
        .get_notification(job.subject_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(());
    };
    if n.emailed_at.is_some() {
        return Ok(());
    }
    let Some(contact) = state
        .store
        .get_contact(n.principal_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(());
    };
    let (Ok(from), Ok(to)) = (
        settings.smtp_from.parse::<Mailbox>(),
        contact.email.parse::<Address>(),
    ) else {
        tracing::warn!(notification = %n.id, "the sender or the recipient's address is not usable; not emailing");
        return Ok(());
    };
    let name = principal_name(state, n.principal_id)
        .await
        .map_err(store_err)?;
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(Some(name), to))
        .subject(format!("[meshgate] {}", n.title))
        .header(ContentType::TEXT_PLAIN)
        .body(n.body.clone())
        .map_err(|e| format!("cannot build the email: {e}"))?;
    let transport: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid notifications.smtp_url: {e}"))?
            .timeout(Some(DELIVERY_TIMEOUT))
            .build();
    match transport.send(message).await {
        Ok(_) => {}
        Err(e) if e.is_permanent() => {
            // The server refused this message for good (e.g. an unknown mailbox): retrying
            // cannot help.
            tracing::warn!(notification = %n.id, error = %e, "the SMTP server refused the email; not retrying");
            return Ok(());
        }
        Err(e) => return Err(format!("cannot send the email: {e}")),
    }
    state
        .store
        .mark_notification_emailed(n.id, Utc::now())
        .await
        .map_err(store_err)
}

/// What a webhook's owner is told of a failed attempt, whatever went wrong: a closed port, a
/// timeout, a destination the egress policy refused and a non-2xx answer all read the same,
/// so deliveries cannot be used to map the network. The cause is in the server log.
pub const DELIVERY_FAILED: &str = "delivery failed: could not connect or no 2xx answer";

/// Posts one webhook delivery: the stored payload, signed with the webhook's secret. A 2xx
/// answer delivers it; anything else is a failed attempt (recorded as [`DELIVERY_FAILED`],
/// and retried by the worker unless it was the last). The destination is checked again
/// here: a literal address against the egress policy, a name by the client's resolver.
pub async fn deliver_webhook(state: &AppState, job: &Job) -> Result<(), String> {
    let store_err = |e: meshgate_core::Error| e.to_string();
    let Some(d) = state
        .store
        .get_webhook_delivery(job.subject_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(());
    };
    if d.status != DeliveryStatus::Pending {
        return Ok(());
    }
    let now = Utc::now();
    let hook = state
        .store
        .get_webhook(d.webhook_id)
        .await
        .map_err(store_err)?;
    let Some(hook) = hook.filter(|h| h.disabled_at.is_none()) else {
        return state
            .store
            .record_webhook_attempt(
                d.id,
                DeliveryStatus::Failed,
                Some("the webhook was deleted"),
                now,
            )
            .await
            .map_err(store_err);
    };
    let signature = webhook_signature(&hook.secret, d.payload.as_bytes()).map_err(store_err)?;
    let error = match post_webhook(state, &hook, &d, signature).await {
        Ok(()) => None,
        Err(cause) => {
            tracing::warn!(webhook = %hook.id, delivery = %d.id, attempt = job.attempts, error = %cause, "webhook delivery failed");
            Some(DELIVERY_FAILED.to_string())
        }
    };
    let Some(error) = error else {
        return state
            .store
            .record_webhook_attempt(d.id, DeliveryStatus::Delivered, None, Utc::now())
            .await
            .map_err(store_err);
    };
    let status = if is_last_attempt(&state.config, job) {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    state
        .store
        .record_webhook_attempt(d.id, status, Some(&error), Utc::now())
        .await
        .map_err(store_err)?;
    Err(error)
}

/// One POST of a delivery; the error (for the log only) says what went wrong.
async fn post_webhook(
    state: &AppState,
    hook: &Webhook,
    d: &WebhookDelivery,
    signature: String,
) -> Result<(), String> {
    let url = url::Url::parse(&hook.url).map_err(|e| format!("unusable URL: {e}"))?;
    let policy = EgressPolicy::new(&state.config.notifications.webhook_allow_hosts)?;
    egress::check_literal(&url, &policy).map_err(|e| e.to_string())?;
    let sent = state
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Meshgate-Event", d.event.as_str())
        .header("X-Meshgate-Delivery", d.id.to_string())
        .header("X-Meshgate-Signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the webhook answered {}", r.status())),
        Err(e) => Err(format!("cannot reach the webhook: {e:#}")),
    }
}

// ----- the API -----

/// Inboxes, contacts and webhooks are the caller's own: any principal may manage its own
/// with an API token. A credential carries data access only.
fn own(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.session.is_some() {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {what} with a credential: credentials carry data access only (its session policy); use an API token",
            caller.principal.name
        )));
    }
    Ok(())
}

fn parse_id(id: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(what, id))
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
        (status = 200, description = "OK: `Vec<Notification>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    own(&caller, "read notifications")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is outside 1 … 1000"
        )));
    }
    Ok(Json(
        state
            .store
            .list_notifications(caller.id(), q.unread, limit)
            .await?,
    ))
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
        (status = 200, description = "OK: `Notification`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn read_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Notification>> {
    own(&caller, "read notifications")?;
    let parsed = parse_id(&id, "notification")?;
    // Someone else's notification is as absent as a missing one.
    let n = state
        .store
        .mark_notification_read(caller.id(), parsed, Utc::now())
        .await?;
    Ok(Json(n))
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
        crate::openapi::ApiErrors,
    ),
)]
async fn read_all(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Marked>> {
    own(&caller, "read notifications")?;
    let marked = state
        .store
        .mark_all_notifications_read(caller.id(), Utc::now())
        .await?;
    Ok(Json(Marked { marked }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct ContactBody {
    email: String,
}

/// Checks an email address as SMTP will need it: a plain `name@domain` address.
pub fn validate_email(email: &str) -> ApiResult<String> {
    let email = email.trim();
    if email.is_empty() || email.len() > MAX_EMAIL {
        return Err(ApiError::bad_request(format!(
            "email: give an address of 1 to {MAX_EMAIL} characters, e.g. `bob@example.com`"
        )));
    }
    let address: Address = email.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "email: `{email}` is not an email address; give one like `bob@example.com`"
        ))
    })?;
    Ok(address.to_string())
}

#[utoipa::path(
    put,
    path = "/contacts/me",
    operation_id = "put_contact",
    tag = "contacts",
    request_body = ContactBody,
    responses(
        (status = 200, description = "OK: `Contact`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_contact(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ContactBody>,
) -> ApiResult<Json<Contact>> {
    own(&caller, "set an email address")?;
    let contact = Contact {
        principal_id: caller.id(),
        email: validate_email(&body.email)?,
        updated_at: meshgate_store::truncate_to_micros(Utc::now()),
    };
    let event = audit(&caller, "contact.put", "principal", caller.id());
    state.store.put_contact(&contact, event).await?;
    Ok(Json(contact))
}

fn no_contact(caller: &Caller) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "principal `{}` has no email address; set one with `PUT /api/v1/contacts/me`",
            caller.principal.name
        ),
    )
}

#[utoipa::path(
    get,
    path = "/contacts/me",
    operation_id = "get_contact",
    tag = "contacts",
    responses(
        (status = 200, description = "OK: `Contact`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_contact(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Contact>> {
    own(&caller, "read its email address")?;
    state
        .store
        .get_contact(caller.id())
        .await?
        .map(Json)
        .ok_or_else(|| no_contact(&caller))
}

#[utoipa::path(
    delete,
    path = "/contacts/me",
    operation_id = "delete_contact",
    tag = "contacts",
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_contact(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    own(&caller, "remove its email address")?;
    if state.store.get_contact(caller.id()).await?.is_none() {
        return Err(no_contact(&caller));
    }
    let event = audit(&caller, "contact.delete", "principal", caller.id());
    state.store.delete_contact(caller.id(), event).await?;
    Ok(Json(json!({})))
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

#[derive(Debug, Serialize)]
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
        (status = 201, description = "Created: `CreatedWebhook`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<WebhookBody>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    own(&caller, "create webhooks")?;
    let url = validate_webhook_url(&body.url)?;
    let events = parse_events(&body.events)?;
    check_webhook_destination(&state, &url).await?;
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
    let event = audit(&caller, "webhook.create", "webhook", hook.id)
        .with_detail(json!({"host": url.host_str(), "events": hook.events}));
    state.store.create_webhook(&hook, event).await?;
    let secret = hook.secret.clone();
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: hook,
            secret,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "OK: `Vec<Webhook>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        (status = 200, description = "OK: `Webhook`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Webhook>> {
    own(&caller, "delete webhooks")?;
    let hook = owned_webhook(&state, &caller, &id).await?;
    let event = audit(&caller, "webhook.delete", "webhook", hook.id);
    Ok(Json(
        state
            .store
            .disable_webhook(hook.id, Utc::now(), event)
            .await?,
    ))
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
        (status = 200, description = "OK: `Vec<WebhookDelivery>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotificationSettings;

    #[test]
    fn retries_back_off_exponentially_to_a_cap() {
        let mut config = Config::default();
        config.notifications.retry_base_ms = 1000;
        let secs = |a| retry_delay(&config, a).num_milliseconds();
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(3), secs(12)],
            [1000, 1000, 2000, 4000, 600_000]
        );
        let job = |attempts| Job {
            id: new_id(),
            kind: JobKind::DeliverWebhook,
            subject_id: new_id(),
            attempts,
            created_at: Utc::now(),
        };
        assert!(!is_last_attempt(&config, &job(9)));
        assert!(is_last_attempt(&config, &job(10)));
        let share_job = Job {
            kind: JobKind::ProcessShare,
            ..job(50)
        };
        assert!(!is_last_attempt(&config, &share_job));
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(
            validate_email(" bob@example.com ").unwrap(),
            "bob@example.com"
        );
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "a b@example.com",
            "Bob <bob@example.com>",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_webhook_url("https://hooks.example.com/x?t=1").is_ok());
        assert!(validate_webhook_url("http://127.0.0.1:9/hook").is_ok());
        for bad in [
            "ftp://example.com/x",
            "example.com/x",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(validate_webhook_url(bad).is_err(), "{bad}");
        }
        let mut settings = NotificationSettings::default();
        assert!(check_config(&settings).is_ok());
        settings.smtp_url = Some("smtp://127.0.0.1:2525".into());
        assert!(check_config(&settings).is_ok());
        settings.smtp_url = Some("http://x".into());
        assert!(check_config(&settings).is_err());
        settings.smtp_url = None;
        settings.smtp_from = "not an address".into();
        assert!(check_config(&settings).is_err());
        settings.smtp_from = NotificationSettings::default().smtp_from;
        settings.webhook_allow_hosts = vec!["hooks.internal.example".into(), "10.0.0.5".into()];
        assert!(check_config(&settings).is_ok());
        settings.webhook_allow_hosts = vec!["https://hooks.internal.example/".into()];
        assert!(check_config(&settings).is_err());
    }
}
