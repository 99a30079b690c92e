//! Unusual-read alerts (docs/design/AUDIT.md §Unusual reads): what the detector found, the
//! suspensions it made, and the mesh's tuning of it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::alerts::{Alert, AlertSettings, AlertStatus, Suspension};
use meshgate_core::model::NewAuditEvent;
use uuid::Uuid;

/// What the detector found over a stretch of the audit chain, committed by
/// [`AlertStore::record_alerts`] together with its cursor's move from `from_pos` to `to_pos`.
#[derive(Debug, Clone, Default)]
pub struct AlertBatch {
    /// The detector's cursor name in `audit_cursors`.
    pub cursor: String,
    /// The position the batch was read after, and the last one it covers.
    pub from_pos: i64,
    pub to_pos: i64,
    /// Each alert with its `alert.raised` event.
    pub alerts: Vec<(Alert, NewAuditEvent)>,
    /// Each suspension with its `principal.suspend` event; a principal already suspended
    /// keeps its first suspension (the event is still written).
    pub suspensions: Vec<(Suspension, NewAuditEvent)>,
}

/// Filters for [`AlertStore::list_alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub principal_id: Option<Uuid>,
    /// Alerts raised at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// At most this many (capped at 1000), newest first.
    pub limit: Option<u32>,
}

/// Alerts, suspensions and the detector's settings (`store/alerts.rs`).
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// In one transaction: moves `batch.cursor` from `from_pos` to `to_pos` and writes the
    /// alerts, suspensions and their events. `false`, writing nothing, if the cursor was not
    /// at `from_pos` (another replica got there first).
    async fn record_alerts(&self, batch: AlertBatch) -> Result<bool>;
    /// Alerts, newest first.
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>>;
    async fn get_alert(&self, id: Uuid) -> Result<Option<Alert>>;
    /// Marks an alert acknowledged by `by` with an optional note, with its audit event;
    /// acknowledging again replaces the note. `NotFound` if it does not exist.
    async fn acknowledge_alert(
        &self,
        id: Uuid,
        by: Uuid,
        note: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Alert>;

    /// Every suspended principal, oldest suspension first.
    async fn suspensions(&self) -> Result<Vec<Suspension>>;
    /// Lifts a principal's suspension, with its audit event; `NotFound` if it has none.
    async fn lift_suspension(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()>;

    /// The mesh's settings (the defaults until someone tunes them).
    async fn alert_settings(&self) -> Result<(AlertSettings, DateTime<Utc>)>;
    /// Replaces the settings, with the audit event.
    async fn set_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;
}
