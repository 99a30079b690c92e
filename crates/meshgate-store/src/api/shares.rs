//! Shares: requests for a product's tables or files, their items, the transitions the
//! lifecycle computes, their terms and settings, processor logs and schedules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::access::GrantScope;
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    FileGrant, Grant, Health, NewAuditEvent, Share, ShareDetail, ShareItem, ShareLog,
    ShareSettings, ShareTerms,
};
use uuid::Uuid;

use super::NewJob;

/// Filters for [`ShareStore::list_shares`]. `None` = any. Results are newest first.
#[derive(Debug, Clone, Default)]
pub struct ShareFilter {
    pub status: Option<ShareStatus>,
    pub product_id: Option<Uuid>,
    pub requester_team_id: Option<Uuid>,
    pub requester_principal_id: Option<Uuid>,
    /// Shares whose product is owned by one of these teams, or requested by one of these
    /// teams or by `visible_to_principal`: what a non-admin may list.
    pub visible_to_teams: Option<Vec<Uuid>>,
    pub visible_to_principal: Option<Uuid>,
    /// Also list `deleted` (archived) shares; implied by `status: Some(Deleted)`.
    pub include_deleted: bool,
    pub limit: Option<u32>,
}

/// Which shares a scheduled task looks for (see [`ShareStore::due_shares`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Shares whose access has ended (`expires_at` ≤ the time) and that still give some.
    Expired,
    /// Shares giving access that ends before the time and whose expiry reminder has not gone
    /// out.
    ExpiringBefore,
    /// Submitted shares left undecided since before the time, not reminded since then.
    PendingSince,
    /// Shares with a shared item not verified since before the time.
    UnverifiedSince,
}

/// Everything one share transition changes, committed atomically by
/// [`ShareStore::apply_share_change`]. The service computes it with the state machines of
/// `meshgate_core::lifecycle`; the store only checks the version and writes.
#[derive(Debug, Clone, Default)]
pub struct ShareChange {
    pub share_id: Uuid,
    /// The version the change was computed from; if the stored share has moved on, the change
    /// is refused with a conflict (a lost race is a 409, never a silent overwrite).
    pub expected_version: i64,
    pub status: Option<ShareStatus>,
    pub decision_notes: Option<String>,
    pub decided_by: Option<Uuid>,
    pub deleted_reason: Option<String>,
    pub item_status: Vec<(Uuid, ItemStatus)>,
    pub item_health: Vec<ItemHealth>,
    /// New scopes for items of the share. Not a grant change by itself: grants keep the scope
    /// they were made with (change those through `grants_to_remove`/`grants_to_add`).
    pub item_scopes: Vec<(Uuid, GrantScope)>,
    pub new_items: Vec<ShareItem>,
    pub removed_items: Vec<Uuid>,
    pub grants_to_add: Vec<Grant>,
    pub file_grants_to_add: Vec<FileGrant>,
    /// Grants (table and file grants) to delete, by share item id.
    pub grants_to_remove: Vec<Uuid>,
    /// Replaces the share's terms (expiry, extension, local name, reminders).
    pub terms: Option<ShareTerms>,
    pub audit: Vec<NewAuditEvent>,
    pub jobs: Vec<NewJob>,
}

/// A health update for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemHealth {
    pub item_id: Uuid,
    pub health: Health,
    pub message: Option<String>,
    pub verified_at: DateTime<Utc>,
}

/// Shares, their items and changes, terms, settings, logs and schedules (`store/shares.rs`).
#[async_trait]
pub trait ShareStore: Send + Sync + 'static {
    /// Creates a share with its first items.
    async fn create_share(
        &self,
        share: &Share,
        items: &[ShareItem],
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_share(&self, id: Uuid) -> Result<Option<ShareDetail>>;
    async fn list_shares(&self, filter: &ShareFilter) -> Result<Vec<ShareDetail>>;
    /// Applies a transition atomically (see [`ShareChange`]); bumps the share version, and the
    /// policy version when grants change. Returns the share as it is after the change.
    async fn apply_share_change(&self, change: ShareChange) -> Result<ShareDetail>;

    /// Records verification results on many items at once, with their audit events. Health is
    /// its own axis: no share version or status moves. Items that are gone are skipped.
    async fn set_item_health(
        &self,
        updates: &[ItemHealth],
        audit: Vec<NewAuditEvent>,
    ) -> Result<()>;
    /// The local names consumers chose for the shares of these items (`finalize`), by item.
    async fn local_names(&self, item_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>>;

    /// A product's share settings (defaults when none were set).
    async fn share_settings(&self, product_id: Uuid) -> Result<ShareSettings>;
    /// Replaces a product's share settings. `NotFound` if the product is missing.
    async fn put_share_settings(
        &self,
        product_id: Uuid,
        settings: &ShareSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Appends processor log lines (their `seq` is assigned here).
    async fn append_share_logs(&self, lines: &[ShareLog]) -> Result<()>;
    /// A share's log lines after `after_seq`, oldest first, at most `limit` (capped at 5000).
    async fn share_logs(&self, share_id: Uuid, after_seq: i64, limit: u32)
    -> Result<Vec<ShareLog>>;
    /// Ids of shares a scheduled task must look at (see [`Due`]), oldest first, at most
    /// `limit`.
    async fn due_shares(&self, due: Due, at: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>>;
}
