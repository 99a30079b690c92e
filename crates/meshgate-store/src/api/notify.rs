//! Notifications (docs/design/LIFECYCLE.md §Notifications): the dispatcher's cursor over the audit log,
//! inboxes, contacts, webhooks and their deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::NewAuditEvent;
use meshgate_core::notify::{Contact, DeliveryStatus, Notification, Webhook, WebhookDelivery};
use uuid::Uuid;

use super::NewJob;

/// What the notification dispatcher derived from a stretch of the audit log, committed
/// atomically by [`NotifyStore::record_notifications`] together with the cursor's move from
/// `after_seq` to `up_to_seq`.
#[derive(Debug, Clone, Default)]
pub struct NotificationBatch {
    /// The cursor the batch was computed from.
    pub after_seq: i64,
    /// The cursor after it: the `seq` of the last event the batch covers.
    pub up_to_seq: i64,
    pub notifications: Vec<Notification>,
    pub deliveries: Vec<WebhookDelivery>,
    /// `send_email` and `deliver_webhook` jobs for the rows above.
    pub jobs: Vec<NewJob>,
}

/// Notifications, contacts, webhooks and deliveries (`store/notify.rs`). Notifications are
/// derived from the audit log (see `meshgate_core::notify`), so writing them needs no audit
/// event of its own; changes to contacts and webhooks are audited.
#[async_trait]
pub trait NotifyStore: Send + Sync + 'static {
    /// The `seq` of the last audit event the dispatcher has turned into notifications.
    async fn notify_cursor(&self) -> Result<i64>;
    /// In one transaction: moves the cursor from `batch.after_seq` to `batch.up_to_seq` and
    /// writes the batch's notifications, deliveries and jobs. Returns `false`, writing
    /// nothing, if the cursor is no longer at `after_seq` (another replica dispatched those
    /// events first: a lost race, to be skipped, never a duplicate).
    async fn record_notifications(&self, batch: NotificationBatch) -> Result<bool>;
    /// A principal's notifications, newest first; with `unread_only`, only those not read.
    /// At most `limit` (capped at 1000).
    async fn list_notifications(
        &self,
        principal_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>>;
    async fn get_notification(&self, id: Uuid) -> Result<Option<Notification>>;
    /// Marks one of `principal_id`'s notifications read (keeping the first `read_at`) and
    /// returns it. `NotFound` if it does not exist or is someone else's.
    async fn mark_notification_read(
        &self,
        principal_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification>;
    /// Marks every unread notification of a principal read; returns how many.
    async fn mark_all_notifications_read(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Records that a notification was handed to the SMTP server. `NotFound` if it is gone.
    async fn mark_notification_emailed(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Sets (or replaces) a principal's email address.
    async fn put_contact(&self, contact: &Contact, audit: NewAuditEvent) -> Result<()>;
    async fn get_contact(&self, principal_id: Uuid) -> Result<Option<Contact>>;
    /// Removes a principal's email address. `NotFound` if it has none.
    async fn delete_contact(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()>;

    async fn create_webhook(&self, webhook: &Webhook, audit: NewAuditEvent) -> Result<()>;
    /// A webhook with its secret, disabled or not.
    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>>;
    /// A principal's webhooks that are not disabled, oldest first, with their secrets.
    async fn list_webhooks(&self, principal_id: Uuid) -> Result<Vec<Webhook>>;
    /// Disables a webhook (it receives nothing more; pending deliveries are dropped by the
    /// worker) and returns it. Disabling twice keeps the first time. `NotFound` if absent.
    async fn disable_webhook(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Webhook>;
    async fn get_webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>>;
    /// Records one delivery attempt: counts it, keeps its error, and with a final status
    /// (`delivered`, `failed`) sets `finished_at`. `NotFound` if the delivery is gone.
    async fn record_webhook_attempt(
        &self,
        id: Uuid,
        status: DeliveryStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The deliveries of a webhook, oldest first.
    async fn list_webhook_deliveries(&self, webhook_id: Uuid) -> Result<Vec<WebhookDelivery>>;
}
