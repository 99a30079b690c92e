//! What the notification settings give the server at start-up: a check that fails `serve`
//! on a bad SMTP URL, sender or allow-list, and the HTTP client webhooks are posted with. It
//! depends on the settings and the egress policy only, so the server state can be built
//! from it.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::egress::{EgressPolicy, EgressResolver};
use crate::config::NotificationSettings;

/// How long one SMTP exchange or webhook call may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks the notification settings at startup, so a typo in the SMTP URL or the sender
/// fails `serve` rather than every email later.
pub fn check_config(settings: &NotificationSettings) -> Result<(), String> {
    if let Some(url) = &settings.smtp_url {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            format!("notifications.smtp_url: `{url}` is not a usable SMTP URL ({e}); use e.g. `smtp://host:25`, `smtp://host:587?tls=required` or `smtps://host:465`")
        })?;
    }
    settings.smtp_from.parse::<Mailbox>().map_err(|e| {
        format!(
            "notifications.smtp_from: `{}` is not an email address ({e}); use e.g. `meshgate <meshgate@example.com>`",
            settings.smtp_from
        )
    })?;
    if settings.max_attempts == 0 {
        return Err("notifications.max_attempts: must be at least 1".into());
    }
    EgressPolicy::new(&settings.webhook_allow_hosts)?;
    Ok(())
}

/// The HTTP client webhooks are called with: a timeout; no redirects (a webhook answers
/// where it was registered, or fails); no proxy (the connection goes to the addresses
/// checked); and a resolver that hands the connector only addresses the egress policy
/// allows (public ones, or those of hosts in `notifications.webhook_allow_hosts`).
pub fn webhook_client(settings: &NotificationSettings) -> Result<reqwest::Client, String> {
    let policy = EgressPolicy::new(&settings.webhook_allow_hosts)?;
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(EgressResolver::new(Arc::new(policy))))
        .user_agent(concat!("meshgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the webhook client: {e}"))
}
