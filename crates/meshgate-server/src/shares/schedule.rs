//! The lifecycle's scheduled tasks: revoking expired shares, reminders before expiry and for
//! requests left pending, and the periodic verifier that re-applies unhealthy items.
//!
//! One replica runs the scheduler: the one holding its lease (`replicas::singletons`). Even
//! two could not double up: each act is a versioned share change (a replica that loses the
//! race gets a conflict and moves on), and reminders record when they went out in the same
//! change.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use meshgate_core::lifecycle::{
    ItemAction, ItemTarget, ShareAction, Step, item_transition, share_step,
};
use meshgate_core::model::{JobKind, NewAuditEvent, ShareTerms};
use meshgate_store::{Due, ShareChange};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::change::share_job;
use crate::replicas::leases::Singleton;
use crate::state::AppState;

/// Shares handled per task per tick.
const BATCH: u32 = 500;

/// Runs until `stop` is cancelled: a tick every `lifecycle.schedule_interval_secs` while
/// this replica holds the scheduler's lease; without it, looks again every second, so that a
/// replica taking the task over ticks at once.
pub async fn run(state: AppState, stop: CancellationToken) {
    let every = Duration::from_secs(state.config.lifecycle.schedule_interval_secs.max(1));
    loop {
        let wait = if state.leases.holds(Singleton::Scheduler) {
            if let Err(e) = tick(&state).await {
                tracing::error!(error = %e, "scheduled lifecycle tasks failed; retrying next tick");
            }
            every
        } else {
            every.min(Duration::from_secs(1))
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass of every task.
pub async fn tick(state: &AppState) -> meshgate_core::Result<()> {
    let now = Utc::now();
    let settings = &state.config.lifecycle;
    for id in state.store.due_shares(Due::Expired, now, BATCH).await? {
        log_conflict(expire(state, id).await, id, "expire");
    }
    let soon = now + super::terms::days(settings.expiry_reminder_days);
    for id in state
        .store
        .due_shares(Due::ExpiringBefore, soon, BATCH)
        .await?
    {
        log_conflict(remind(state, id, Reminder::Expiring).await, id, "remind");
    }
    let stale = now - super::terms::days(settings.pending_reminder_days);
    for id in state
        .store
        .due_shares(Due::PendingSince, stale, BATCH)
        .await?
    {
        log_conflict(
            remind(state, id, Reminder::Pending(settings.pending_reminder_days)).await,
            id,
            "remind",
        );
    }
    let interval = chrono::Duration::seconds(
        i64::try_from(settings.verify_interval_secs).unwrap_or(i64::MAX / 2),
    );
    let unverified = now - interval;
    let due = state
        .store
        .due_shares(Due::UnverifiedSince, unverified, BATCH)
        .await?;
    // Verify by product, in bulk, re-applying unhealthy shares.
    let mut products = BTreeSet::new();
    for id in due {
        if let Some(d) = state.store.get_share(id).await? {
            products.insert(d.share.product_id);
        }
    }
    for p in products {
        match super::verify::verify_product(state, p, None, true).await {
            Ok(r) => {
                tracing::info!(product = %p, items = r.items, unhealthy = r.unhealthy, "scheduled verification")
            }
            Err(e) => tracing::warn!(product = %p, error = %e, "scheduled verification failed"),
        }
    }
    Ok(())
}

fn log_conflict(result: meshgate_core::Result<()>, id: Uuid, task: &str) {
    if let Err(e) = result {
        // A conflict means another replica or a person acted first: the next tick looks again.
        tracing::warn!(share = %id, task, error = %e, "scheduled task skipped a share");
    }
}

/// Revokes what an expired share still gives, as the system.
async fn expire(state: &AppState, id: Uuid) -> meshgate_core::Result<()> {
    let Some(detail) = state.store.get_share(id).await? else {
        return Ok(());
    };
    let mut status = detail.share.status;
    let mut item_status = Vec::new();
    // An open extension request is moot once the share has expired: close it first.
    let mut terms = detail.share.terms.clone();
    if status == meshgate_core::lifecycle::ShareStatus::SubmittedForExtension {
        status =
            share_step(&id.to_string(), status, ShareAction::RejectExtension)?.resulting(status);
        terms.extension_expiry = None;
        terms.extension_reason = None;
    }
    for item in &detail.items {
        let mut s = item.status;
        for action in [ItemAction::ExtensionDecided, ItemAction::RevokeItems] {
            if let Some(ItemTarget::Status(next)) = item_transition(s, action) {
                s = next;
            }
        }
        if s != item.status {
            item_status.push((item.id, s));
        }
    }
    if item_status.is_empty() {
        return Ok(());
    }
    let Step::Moved(to) = share_step(&id.to_string(), status, ShareAction::RevokeItems)? else {
        return Ok(());
    };
    let event = NewAuditEvent::new(None, "share.expire", "share", Some(id.to_string()))
        .with_detail(json!({
            "from": detail.share.status, "to": to,
            "extra": {"expires_at": detail.share.terms.expires_at},
        }));
    state
        .store
        .apply_share_change(ShareChange {
            share_id: id,
            expected_version: detail.share.version,
            status: Some(to),
            item_status,
            terms: Some(terms),
            audit: vec![event],
            jobs: vec![share_job(JobKind::RevokeShare, &detail.share)],
            ..Default::default()
        })
        .await?;
    state.wake_worker.notify_one();
    Ok(())
}

enum Reminder {
    Expiring,
    Pending(u32),
}

/// Records a reminder (an audit event the notifier turns into messages) and when it went out.
async fn remind(state: &AppState, id: Uuid, kind: Reminder) -> meshgate_core::Result<()> {
    let Some(detail) = state.store.get_share(id).await? else {
        return Ok(());
    };
    let now = Utc::now();
    // Still due? The list was read a moment ago; another replica (or an earlier tick) may
    // have sent this reminder since, and then the share's version moved on with it, so the
    // versioned change below would not catch a second one.
    let terms = &detail.share.terms;
    let already = match kind {
        Reminder::Expiring => terms.expiry_reminded_at.is_some(),
        Reminder::Pending(days) => terms
            .pending_reminded_at
            .is_some_and(|at| at > now - super::terms::days(days)),
    };
    if already {
        return Ok(());
    }
    let (action, extra, terms) = match kind {
        Reminder::Expiring => (
            "share.expiring",
            json!({"expires_at": detail.share.terms.expires_at}),
            ShareTerms {
                expiry_reminded_at: Some(now),
                ..detail.share.terms.clone()
            },
        ),
        Reminder::Pending(days) => (
            "share.pending_reminder",
            json!({"pending_days": days, "submitted_at": detail.share.terms.submitted_at}),
            ShareTerms {
                pending_reminded_at: Some(now),
                ..detail.share.terms.clone()
            },
        ),
    };
    let event = NewAuditEvent::new(None, action, "share", Some(id.to_string())).with_detail(
        json!({"from": detail.share.status, "to": detail.share.status, "extra": extra}),
    );
    state
        .store
        .apply_share_change(ShareChange {
            share_id: id,
            expected_version: detail.share.version,
            terms: Some(terms),
            audit: vec![event],
            ..Default::default()
        })
        .await?;
    Ok(())
}
