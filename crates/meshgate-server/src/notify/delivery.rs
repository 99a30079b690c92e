//! Delivery, the worker's side: emailing a notification and posting a webhook delivery, and
//! the retry schedule both follow.

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use meshgate_core::model::{Job, JobKind};
use meshgate_core::notify::{DeliveryStatus, Webhook, WebhookDelivery, webhook_signature};

use super::dispatch::principal_name;
use super::egress::{self, EgressPolicy};
use super::setup::DELIVERY_TIMEOUT;
use crate::config::Config;
use crate::state::AppState;

/// The longest a retry waits.
const MAX_RETRY_DELAY_MS: u64 = 10 * 60 * 1000;

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
