//! The steps every share operation shares: load the share and check the action (with
//! separation of duties), describe a transition in the audit log, and hand the follow-up
//! work to the worker as jobs, waiting for it where the caller asked to.

use std::time::Duration;

use meshgate_authz::{Action, Resource};
use meshgate_core::lifecycle::ShareStatus;
use meshgate_core::model::{Grantee, JobKind, NewAuditEvent, Share, ShareDetail};
use meshgate_store::{NewJob, ShareChange};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::audit;
use crate::state::AppState;
use crate::views::ShareView;

/// How long `wait` waits for the worker before answering with the share as it is.
pub const WAIT_FOR: Duration = Duration::from_secs(30);

/// Loads a share the caller may act on: 404 if it may not even see it, 403 if it may see it
/// but not do `action`.
pub async fn load_for(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: Action,
    verb: &str,
) -> ApiResult<(ShareDetail, Resource)> {
    let (detail, resource) = crate::lookup::visible_share(state, caller, id).await?;
    if !state.authz.is_allowed(&caller.actor, action, &resource) {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {verb} share `{id}`",
            caller.principal.name
        )));
    }
    separate_duties(state, caller, &detail.share, action, verb).await?;
    Ok((detail, resource))
}

/// Separation of duties (docs/design/SECURITY.md): the acts that widen what a share gives —
/// approving it or its extension, modifying a grant's scope — are refused to the requester
/// and to members of the requesting team, stewards and admins included, unless the mesh's
/// `lifecycle.allow_self_approval` is on; then the act is audited `share.self_decision`.
async fn separate_duties(
    state: &AppState,
    caller: &Caller,
    share: &Share,
    action: Action,
    verb: &str,
) -> ApiResult<()> {
    if !matches!(action, Action::ApproveShare | Action::ModifyShare) {
        return Ok(());
    }
    let own = share.created_by == caller.id()
        || share.requester_principal_id == Some(caller.id())
        || share
            .requester_team_id
            .is_some_and(|t| caller.team_ids().contains(&t));
    if !own {
        return Ok(());
    }
    if !state.config.lifecycle.allow_self_approval {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {verb} share `{}`: it was requested by the principal or by a team it belongs to (separation of duties; an admin can allow it with `lifecycle.allow_self_approval`)",
            caller.principal.name, share.id
        )));
    }
    let event = audit(caller, "share.self_decision", "share", share.id)
        .with_detail(json!({"action": verb}));
    state.store.append_audit(event).await?;
    Ok(())
}

pub fn transition_event(
    caller: &Caller,
    verb: &str,
    detail: &ShareDetail,
    to: ShareStatus,
    extra: serde_json::Value,
) -> NewAuditEvent {
    audit(caller, &format!("share.{verb}"), "share", detail.share.id).with_detail(json!({
        "from": detail.share.status, "to": to, "extra": extra,
    }))
}

/// Who a share's grants go to: the requesting team, else the requesting principal.
pub fn grantee_of(share: &Share) -> meshgate_core::Result<Grantee> {
    match (share.requester_team_id, share.requester_principal_id) {
        (Some(t), _) => Ok(Grantee::Team(t)),
        (None, Some(p)) => Ok(Grantee::Principal(p)),
        (None, None) => Err(meshgate_core::Error::internal("share has no requester")),
    }
}

/// Commits a change that enqueues a job, wakes the worker, and (if `wait`) waits until the
/// worker has finished this share.
pub async fn enqueue_and_wait(
    state: &AppState,
    change: ShareChange,
    wait: bool,
) -> ApiResult<ShareDetail> {
    let id = change.share_id;
    let after = state.store.apply_share_change(change).await?;
    state.wake_worker.notify_one();
    if !wait {
        return Ok(after);
    }
    waited(state, id).await
}

/// The answer to a decision, revocation or modification repeated while the first one's job
/// may still be under way: a client retrying after a timeout, or after the replica that took
/// the first call died holding the job's lease. It changes nothing, and answers as the first
/// call would have: with `wait`, once the share's jobs are done on whichever replica runs them
/// (a killed replica's lease runs out first).
pub async fn repeated(state: &AppState, detail: ShareDetail, wait: bool) -> ApiResult<ShareView> {
    if !wait {
        return ShareView::load(state, detail).await;
    }
    ShareView::load(state, waited(state, detail.share.id).await?).await
}

/// The share once its jobs are done (they may run on any replica: the store says when), or
/// as it stands after [`WAIT_FOR`].
pub async fn waited(state: &AppState, id: Uuid) -> ApiResult<ShareDetail> {
    if !crate::replicas::feed::wait_for_jobs(state, id, WAIT_FOR).await {
        tracing::warn!(share = %id, "share processing did not finish within the wait; answering with its current state");
    }
    state
        .store
        .get_share(id)
        .await?
        .ok_or_else(|| ApiError::not_found("share", &id.to_string()))
}

/// A job on a share, locked per product and per grantee.
pub fn share_job(kind: JobKind, share: &Share) -> NewJob {
    NewJob {
        kind,
        subject_id: share.id,
        lock_product: Some(share.product_id),
        lock_grantee: share.requester_team_id.or(share.requester_principal_id),
    }
}
