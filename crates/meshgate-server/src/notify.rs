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
//!
//! The parts: [`dispatch`] (the dispatcher), [`delivery`] (the worker's delivery steps and
//! retry schedule), [`setup`] and [`egress`] (what the settings give the server at start-up,
//! where webhooks may go), and the API of [`inbox`], [`contacts`] and [`webhooks`].

pub mod contacts;
pub mod delivery;
pub mod dispatch;
pub mod egress;
pub mod inbox;
mod own;
pub mod setup;
pub mod webhooks;

pub use contacts::validate_email;
pub use delivery::{DELIVERY_FAILED, deliver_webhook, is_last_attempt, retry_delay, send_email};
pub use dispatch::{api_link, dispatch_once, run_dispatcher};
pub use setup::{DELIVERY_TIMEOUT, check_config, webhook_client};
pub use webhooks::validate_webhook_url;

use crate::state::AppState;

/// The routes of inboxes, contacts and webhooks, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    inbox::routes()
        .merge(contacts::routes())
        .merge(webhooks::routes())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use meshgate_core::model::{Job, JobKind, new_id};

    use super::*;
    use crate::config::{Config, NotificationSettings};

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
