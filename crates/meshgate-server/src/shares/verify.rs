//! Verification: whether each shared item's grants are what its approval says, item by
//! item health, reapplying what drifted, and verifying every share of a product at once.

use std::collections::HashMap;

use chrono::Utc;
use meshgate_core::lifecycle::ItemStatus;
use meshgate_core::model::{
    FileGrant, Grant, Health, JobKind, NewAuditEvent, ShareDetail, ShareItem,
};
use meshgate_store::{ItemHealth, ShareChange};
use serde_json::json;
use uuid::Uuid;

use super::change::{grantee_of, share_job};
use crate::state::AppState;

use super::process::{Expected, RunLog, Targets, compare, grants_for, logged};

/// Items whose access verification checks: those that give it and are not being changed.
fn verifiable(item: &ShareItem) -> bool {
    matches!(
        item.status,
        ItemStatus::ShareSucceeded | ItemStatus::PendingExtension
    )
}

/// The verdict on one item.
struct Verdict {
    item: ShareItem,
    expected: Expected,
    problems: Vec<String>,
}

/// Verifies the shared items of one share against the grants in force.
async fn verdicts(
    targets: &mut Targets<'_>,
    detail: &ShareDetail,
    grants: &[Grant],
    files: &[FileGrant],
) -> meshgate_core::Result<Vec<Verdict>> {
    let grantee = grantee_of(&detail.share)?;
    let mut out = Vec::new();
    for item in detail.items.iter().filter(|i| verifiable(i)) {
        let expected = targets
            .expected(detail.share.product_id, item, true)
            .await?;
        let mine: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.share_item_id == item.id)
            .collect();
        let my_files: Vec<&FileGrant> = files
            .iter()
            .filter(|g| g.share_item_id == item.id)
            .collect();
        let mut problems = expected.problems.clone();
        problems.extend(compare(item, grantee, &expected, &mine, &my_files));
        out.push(Verdict {
            item: item.clone(),
            expected,
            problems,
        });
    }
    Ok(out)
}

fn health_of(v: &Verdict, at: chrono::DateTime<Utc>) -> ItemHealth {
    ItemHealth {
        item_id: v.item.id,
        health: if v.problems.is_empty() {
            Health::Healthy
        } else {
            Health::Unhealthy
        },
        message: (!v.problems.is_empty()).then(|| v.problems.join("; ")),
        verified_at: at,
    }
}

/// An audit event for items that turned unhealthy (notifications follow it).
fn unhealthy_event(share_id: Uuid, verdicts: &[&Verdict]) -> NewAuditEvent {
    NewAuditEvent::new(None, "share.unhealthy", "share", Some(share_id.to_string())).with_detail(
        json!({"extra": {"items": verdicts.iter().map(|v| json!({
            "item": v.item.id, "message": v.problems.join("; "),
        })).collect::<Vec<_>>()}}),
    )
}

/// Verifies a share's shared items and records their health; with `reapply`, re-makes the
/// grants of unhealthy items whose target still exists (the scheduled verifier and
/// `reapply`). Changes no status.
pub async fn verify_share(state: &AppState, id: Uuid, reapply: bool) -> meshgate_core::Result<()> {
    let job = if reapply {
        "reapply_share"
    } else {
        "verify_share"
    };
    logged(state, id, job, async |log: &mut RunLog| {
        let Some(detail) = state.store.get_share(id).await? else {
            return Ok(());
        };
        let grants = state.store.grants_of_share(id).await?;
        let files = state.store.file_grants_of_share(id).await?;
        let mut targets = Targets::new(state);
        let verdicts = verdicts(&mut targets, &detail, &grants, &files).await?;
        if verdicts.is_empty() {
            log.info("nothing shared to verify");
            return Ok(());
        }
        let now = Utc::now();
        let grantee = grantee_of(&detail.share)?;
        let mut change = ShareChange {
            share_id: id,
            expected_version: detail.share.version,
            ..Default::default()
        };
        let mut newly_unhealthy = Vec::new();
        for v in &verdicts {
            let what = super::items::describe_item_plain(&v.item);
            if v.problems.is_empty() {
                log.info(format!("{what}: healthy"));
                change.item_health.push(health_of(v, now));
                continue;
            }
            let repairable = v.expected.problems.is_empty();
            if reapply && repairable {
                let (g, f) = grants_for(&v.item, grantee, detail.share.product_id, &v.expected);
                log.warn(format!(
                    "{what}: was unhealthy ({}); grants re-made",
                    v.problems.join("; ")
                ));
                change.grants_to_remove.push(v.item.id);
                change.grants_to_add.extend(g);
                change.file_grants_to_add.extend(f);
                change.item_health.push(ItemHealth {
                    item_id: v.item.id,
                    health: Health::Healthy,
                    message: Some(format!("re-applied after: {}", v.problems.join("; "))),
                    verified_at: now,
                });
                continue;
            }
            log.error(format!("{what}: unhealthy: {}", v.problems.join("; ")));
            if v.item.health != Some(Health::Unhealthy) {
                newly_unhealthy.push(v);
            }
            change.item_health.push(health_of(v, now));
        }
        let unhealthy = change
            .item_health
            .iter()
            .filter(|h| h.health == Health::Unhealthy)
            .count();
        change.audit.push(
            NewAuditEvent::new(
                None,
                format!("share.{}", if reapply { "reapply" } else { "verify" }),
                "share",
                Some(id.to_string()),
            )
            .with_detail(json!({"extra": {
                "items": verdicts.len(), "unhealthy": unhealthy,
                "reapplied": change.grants_to_remove.len(),
            }})),
        );
        if !newly_unhealthy.is_empty() {
            change.audit.push(unhealthy_event(id, &newly_unhealthy));
        }
        if change.grants_to_add.is_empty() && change.grants_to_remove.is_empty() {
            // Health only: no version moves, so a verification never races a decision.
            state
                .store
                .set_item_health(&change.item_health, change.audit)
                .await?;
        } else {
            state.store.apply_share_change(change).await?;
        }
        log.info(format!(
            "verified {} item(s): {} unhealthy",
            verdicts.len(),
            unhealthy
        ));
        Ok(())
    })
    .await
}

/// What a bulk verification found.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct BulkVerify {
    pub shares: usize,
    pub items: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    /// Shares with unhealthy items for which a re-apply run was enqueued.
    pub reapply_enqueued: usize,
}

/// Verifies every shared item of every share of a product in one pass (one read of the
/// shares, one of the grants, one write of the results); with `reapply`, enqueues a re-apply
/// run for each share with unhealthy items.
pub async fn verify_product(
    state: &AppState,
    product_id: Uuid,
    actor: Option<Uuid>,
    reapply: bool,
) -> meshgate_core::Result<BulkVerify> {
    let shares = state
        .store
        .list_shares(&meshgate_store::ShareFilter {
            product_id: Some(product_id),
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await?;
    let (grants, files) = state.store.grants_of_product(product_id).await?;
    let mut grants_by_item: HashMap<Uuid, Vec<Grant>> = HashMap::new();
    for g in grants {
        grants_by_item.entry(g.share_item_id).or_default().push(g);
    }
    let mut files_by_item: HashMap<Uuid, Vec<FileGrant>> = HashMap::new();
    for f in files {
        files_by_item.entry(f.share_item_id).or_default().push(f);
    }
    let mut targets = Targets::new(state);
    let now = Utc::now();
    let mut out = BulkVerify::default();
    let mut health = Vec::new();
    let mut audit = Vec::new();
    let mut jobs = Vec::new();
    for detail in &shares {
        if !detail.items.iter().any(verifiable) {
            continue;
        }
        out.shares += 1;
        let mine: Vec<Grant> = detail
            .items
            .iter()
            .flat_map(|i| grants_by_item.get(&i.id).cloned().unwrap_or_default())
            .collect();
        let my_files: Vec<FileGrant> = detail
            .items
            .iter()
            .flat_map(|i| files_by_item.get(&i.id).cloned().unwrap_or_default())
            .collect();
        let verdicts = verdicts(&mut targets, detail, &mine, &my_files).await?;
        let mut newly = Vec::new();
        for v in &verdicts {
            out.items += 1;
            if v.problems.is_empty() {
                out.healthy += 1;
            } else {
                out.unhealthy += 1;
                if v.item.health != Some(Health::Unhealthy) {
                    newly.push(v);
                }
            }
            health.push(health_of(v, now));
        }
        if !newly.is_empty() {
            audit.push(unhealthy_event(detail.share.id, &newly));
        }
        if reapply && verdicts.iter().any(|v| !v.problems.is_empty()) {
            jobs.push(share_job(JobKind::ReapplyShare, &detail.share));
        }
    }
    out.reapply_enqueued = jobs.len();
    audit.push(
        NewAuditEvent::new(
            actor,
            "product.verify",
            "product",
            Some(product_id.to_string()),
        )
        .with_detail(serde_json::to_value(&out).unwrap_or_default()),
    );
    state.store.set_item_health(&health, audit).await?;
    if !jobs.is_empty() {
        state
            .store
            .enqueue_jobs(
                &jobs,
                NewAuditEvent::new(
                    actor,
                    "product.reapply",
                    "product",
                    Some(product_id.to_string()),
                )
                .with_detail(json!({"shares": jobs.len()})),
            )
            .await?;
        state.wake_worker.notify_one();
    }
    Ok(out)
}
