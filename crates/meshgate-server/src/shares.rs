//! The share lifecycle (docs/design/LIFECYCLE.md): people's actions on shares, and the worker that turns
//! approvals and revocations into grants.
//!
//! Every action loads the share, asks the authorizer, computes the new states with the state
//! machines of `meshgate_core::lifecycle`, and commits the change with its audit event and
//! follow-up jobs in one store transaction, guarded by the share's version (a lost race is a
//! 409). The worker leases jobs from that outbox; its steps are idempotent, so a job repeated
//! after a crash resumes where the last run stopped.

use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::lifecycle::{
    ItemAction, ItemStatus, ItemTarget, ShareAction, ShareStatus, Step, item_step, share_step,
};
use meshgate_core::model::{JobKind, Share, ShareDetail, ShareItem, new_id};
use meshgate_store::{ShareChange, ShareFilter};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

mod change;
mod items;
mod preview;
mod process;
mod schedule;
mod terms;
mod verify;

use change::{WAIT_FOR, enqueue_and_wait, grantee_of, load_for, share_job, transition_event};
pub use items::{ItemSelection, ModifyRequest, add_items, modify, remove_item};
use items::{describe_item_plain, new_items};
pub use preview::{Preview, PreviewRequest, preview};
pub use process::{cleanup_share, process_share, revoke_share};
pub use schedule::{run as run_scheduler, tick as run_scheduled_tasks};
pub use terms::{
    DeleteRequest, ExtendRequest, ExtensionDecision, FinalizeRequest, decide_extension, delete,
    extend, finalize, get_settings, put_settings,
};
use terms::{approved_terms, auto_approve, check_expiry};
pub use verify::{BulkVerify, verify_product, verify_share};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::{audit, product_by_name, split_qualified, team_by_qualified_name};
use crate::state::AppState;
use crate::views::ShareView;

/// The longest a reason may be.
const MAX_REASON: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct AccessRequest {
    /// `domain.product`
    pub product: String,
    /// `domain.team`; default: the caller's only team.
    #[serde(default)]
    pub team: Option<String>,
    /// Table names; default (with no folders and no `whole_product`): all of the product's
    /// tables.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// File prefixes of the product (`reports/2026/`).
    #[serde(default)]
    pub folders: Vec<String>,
    /// One item for the whole product: every table and every file, now and later.
    #[serde(default)]
    pub whole_product: bool,
    /// When the access should end (required if the product demands expiring shares).
    #[serde(default)]
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub reason: String,
    /// Keep the share as a draft instead of submitting it.
    #[serde(default)]
    pub draft: bool,
    /// Metadata forms for the request (form type name → field values), as the enforcement
    /// rules of the product's domain demand (see `catalog`).
    #[serde(default)]
    pub forms:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Decision {
    #[serde(default)]
    pub notes: Option<String>,
    /// Answer after the worker has put the grants in force (default true).
    #[serde(default)]
    pub wait: Option<bool>,
    /// On approval: narrowing of table items (data filters, kept columns, masks).
    #[serde(default)]
    pub items: Vec<crate::access::ItemScopeRequest>,
    /// On approval: an earlier expiry than the requester asked for.
    #[serde(default)]
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct RevokeRequest {
    /// Item ids; default: every revokable item.
    #[serde(default)]
    pub items: Option<Vec<Uuid>>,
    #[serde(default)]
    pub wait: Option<bool>,
}

pub async fn request_access(
    state: &AppState,
    caller: &Caller,
    req: AccessRequest,
) -> ApiResult<ShareView> {
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required: say why you need this data",
        ));
    }
    if reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "the reason is {} bytes long; keep it within {MAX_REASON}",
            reason.len()
        )));
    }
    let (pd, pn) = split_qualified(&req.product, "product")?;
    let (product_domain, product) = product_by_name(state, caller, pd, pn).await?;
    crate::catalog::requests::check_requestable(caller, &req.product, &product)?;

    // Who asks: a team the caller belongs to, or a service principal for itself.
    let (team_id, principal_id) = match &req.team {
        Some(q) => {
            let (d, t) = team_by_qualified_name(state, q).await?;
            crate::lookup::authorize(
                state,
                caller,
                Action::RequestAccess,
                &Resource::Team {
                    id: t.id,
                    domain_id: d.id,
                },
                &format!("request access for team `{q}`"),
            )?;
            if !d.consumer {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "domain `{}` is not enabled as a consumer; an admin can run `meshgate domain enable {} --consumer`",
                        d.name, d.name
                    ),
                ));
            }
            (Some(t.id), None)
        }
        None => {
            let mut teams = caller.team_ids();
            teams.dedup();
            match teams.as_slice() {
                [one] => {
                    let t = state
                        .store
                        .get_team(*one)
                        .await?
                        .ok_or_else(|| ApiError::internal("team vanished"))?;
                    let q = crate::views::qualified_team(state, t.id).await?;
                    return Box::pin(request_access(
                        state,
                        caller,
                        AccessRequest {
                            team: Some(q),
                            ..req
                        },
                    ))
                    .await;
                }
                [] if caller.principal.kind == meshgate_core::model::PrincipalKind::Service => {
                    crate::lookup::authorize(
                        state,
                        caller,
                        Action::RequestAccessForSelf,
                        &Resource::Principal { id: caller.id() },
                        "request access for itself",
                    )?;
                    (None, Some(caller.id()))
                }
                [] => {
                    return Err(ApiError::bad_request(
                        "you are not a member of any team; ask a team owner to add you, then request access for that team",
                    ));
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "you are a member of several teams; say which one asks with `team` (`--team <domain>.<team>`)",
                    ));
                }
            }
        }
    };
    if team_id == Some(product.team_id) {
        return Err(ApiError::bad_request(format!(
            "team already owns `{}`; owners read their products without a share",
            req.product
        )));
    }
    if !product_domain.producer {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            format!(
                "domain `{}` is not enabled as a producer",
                product_domain.name
            ),
        ));
    }
    let settings = state.store.share_settings(product.id).await?;
    let now = Utc::now();
    check_expiry(&settings, req.expires_at, now)?;
    let share_id = new_id();
    let selection = ItemSelection {
        tables: req.tables.clone(),
        folders: req.folders.clone(),
        whole_product: req.whole_product,
    };
    let items = new_items(state, &req.product, product.id, share_id, &selection, &[]).await?;
    let status = if req.draft {
        ShareStatus::Draft
    } else {
        share_step(
            &share_id.to_string(),
            ShareStatus::Draft,
            ShareAction::Submit,
        )?
        .resulting(ShareStatus::Draft)
    };
    let share = Share {
        id: share_id,
        product_id: product.id,
        requester_team_id: team_id,
        requester_principal_id: principal_id,
        created_by: caller.id(),
        reason: reason.to_string(),
        status,
        requested_expiry: req.expires_at,
        decision_notes: None,
        decided_by: None,
        version: 1,
        created_at: now,
        updated_at: now,
        deleted_reason: None,
        terms: meshgate_core::model::ShareTerms {
            submitted_at: (status == ShareStatus::Submitted).then_some(now),
            ..Default::default()
        },
    };
    let wanted: Vec<String> = items.iter().map(describe_item_plain).collect();
    let event = audit(caller, "share.request", "share", share_id).with_detail(json!({
        "product": req.product, "requester_team": req.team, "to": status,
        "items": wanted, "reason": reason, "expires_at": req.expires_at,
    }));
    let forms = crate::catalog::requests::request_forms(
        state,
        caller,
        &product_domain,
        &req.product,
        &req.forms,
        share_id,
        req.draft,
    )
    .await?;
    crate::catalog::requests::create_share(state, &share, &items, &forms, event).await?;
    if status == ShareStatus::Submitted {
        auto_approve(state, share_id).await?;
    }
    get(state, caller, share_id).await
}

pub async fn get(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::ViewShare, "view").await?;
    ShareView::load(state, detail).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<String>,
    /// `domain.product`
    pub product: Option<String>,
    /// `domain.team`
    pub requester: Option<String>,
    /// Only shares the caller may decide on.
    #[serde(default)]
    pub pending_for_me: bool,
    pub limit: Option<u32>,
}

pub async fn list(state: &AppState, caller: &Caller, q: ListQuery) -> ApiResult<Vec<ShareView>> {
    let mut filter = ShareFilter {
        limit: Some(q.limit.unwrap_or(500).min(5000)),
        ..Default::default()
    };
    if let Some(s) = &q.status {
        filter.status = Some(s.parse()?);
    }
    if let Some(p) = &q.product {
        let (d, n) = split_qualified(p, "product")?;
        filter.product_id = Some(product_by_name(state, caller, d, n).await?.1.id);
    }
    if let Some(r) = &q.requester {
        filter.requester_team_id = Some(team_by_qualified_name(state, r).await?.1.id);
    }
    if !caller.actor.is_admin {
        filter.visible_to_teams = Some(caller.team_ids());
        filter.visible_to_principal = Some(caller.id());
    }
    let mut out = Vec::new();
    for detail in state.store.list_shares(&filter).await? {
        let resource = crate::lookup::share_resource(state, &detail.share).await?;
        if !state
            .authz
            .is_allowed(&caller.actor, Action::ViewShare, &resource)
        {
            continue;
        }
        if q.pending_for_me
            && !state
                .authz
                .is_allowed(&caller.actor, Action::ApproveShare, &resource)
        {
            continue;
        }
        out.push(ShareView::load(state, detail).await?);
    }
    Ok(out)
}

/// Applies an item action to the items `select` picks; errors if an item cannot move.
fn items_to(
    detail: &ShareDetail,
    action: ItemAction,
    select: impl Fn(&ShareItem) -> bool,
) -> ApiResult<Vec<(Uuid, ItemStatus)>> {
    let mut out = Vec::new();
    for item in detail.items.iter().filter(|i| select(i)) {
        if let ItemTarget::Status(to) = item_step(&item.id.to_string(), item.status, action)? {
            out.push((item.id, to));
        }
    }
    Ok(out)
}

pub async fn submit(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::SubmitShare, "submit").await?;
    let step = share_step(&id.to_string(), detail.share.status, ShareAction::Submit)?;
    let Step::Moved(to) = step else {
        return ShareView::load(state, detail).await;
    };
    crate::catalog::requests::check_share_forms(state, &detail.share).await?;
    let resubmitted = items_to(&detail, ItemAction::Submit, |i| {
        matches!(
            i.status,
            ItemStatus::ShareRejected | ItemStatus::ShareFailed
        )
    })?;
    let pending = detail
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::PendingApproval)
        .count()
        + resubmitted.len();
    if pending == 0 {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "invalid_transition",
            format!("share `{id}` has no item pending approval; add an item before submitting"),
        ));
    }
    let settings = state.store.share_settings(detail.share.product_id).await?;
    check_expiry(&settings, detail.share.requested_expiry, Utc::now())?;
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        item_status: resubmitted,
        terms: Some(meshgate_core::model::ShareTerms {
            submitted_at: Some(Utc::now()),
            pending_reminded_at: None,
            ..detail.share.terms.clone()
        }),
        audit: vec![transition_event(caller, "submit", &detail, to, json!(null))],
        ..Default::default()
    };
    state.store.apply_share_change(change).await?;
    auto_approve(state, id).await?;
    get(state, caller, id).await
}

pub async fn approve(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    d: Decision,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::ApproveShare, "approve").await?;
    // The worker moves an approved share on (`share_in_progress`, `processed`): repeating the
    // approval then is the same decision again, a no-op like repeating it while `approved`.
    let taken_up = matches!(
        detail.share.status,
        ShareStatus::ShareInProgress | ShareStatus::Processed
    ) && !detail
        .items
        .iter()
        .any(|i| i.status == ItemStatus::PendingApproval)
        && detail.items.iter().any(|i| {
            matches!(
                i.status,
                ItemStatus::ShareApproved
                    | ItemStatus::ShareInProgress
                    | ItemStatus::ShareSucceeded
            )
        });
    if taken_up {
        return ShareView::load(state, detail).await;
    }
    decide(state, caller, detail, Verdict::Approve, d).await
}

pub async fn reject(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    d: Decision,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::RejectShare, "reject").await?;
    decide(state, caller, detail, Verdict::Reject, d).await
}

/// An approver's decision on a submitted share.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Approve,
    Reject,
}

/// Applies a decision to the share and to every item pending approval, with the approver's
/// notes; an approval also enqueues the processing job and (unless `wait: false`) waits for it.
async fn decide(
    state: &AppState,
    caller: &Caller,
    detail: ShareDetail,
    verdict: Verdict,
    d: Decision,
) -> ApiResult<ShareView> {
    let (share_action, item_action, verb) = match verdict {
        Verdict::Approve => (ShareAction::Approve, ItemAction::Approve, "approve"),
        Verdict::Reject => (ShareAction::Reject, ItemAction::Reject, "reject"),
    };
    let id = detail.share.id;
    let Step::Moved(to) = share_step(&id.to_string(), detail.share.status, share_action)? else {
        return ShareView::load(state, detail).await;
    };
    let items = items_to(&detail, item_action, |i| {
        i.status == ItemStatus::PendingApproval
    })?;
    let terms = match verdict {
        Verdict::Approve => Some(approved_terms(state, &detail, d.expires_at).await?),
        Verdict::Reject if d.expires_at.is_some() => {
            return Err(ApiError::bad_request(
                "`expires_at` sets an approval's expiry; a rejection takes none",
            ));
        }
        Verdict::Reject => None,
    };
    let item_scopes = match verdict {
        Verdict::Approve => scopes_of(state, &detail, &d.items).await?,
        Verdict::Reject if !d.items.is_empty() => {
            return Err(ApiError::bad_request(
                "`items` narrows an approval; a rejection takes none",
            ));
        }
        Verdict::Reject => Vec::new(),
    };
    let jobs = match verdict {
        Verdict::Approve => vec![share_job(JobKind::ProcessShare, &detail.share)],
        Verdict::Reject => Vec::new(),
    };
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        decision_notes: d.notes.clone(),
        decided_by: Some(caller.id()),
        item_status: items,
        terms,
        audit: vec![transition_event(
            caller,
            verb,
            &detail,
            to,
            json!({"notes": d.notes, "scopes": item_scopes.iter().map(|(id, s)| json!({"item": id, "scope": s})).collect::<Vec<_>>()}),
        )],
        item_scopes,
        jobs,
        ..Default::default()
    };
    let after = match verdict {
        Verdict::Approve => enqueue_and_wait(state, change, d.wait.unwrap_or(true)).await?,
        Verdict::Reject => state.store.apply_share_change(change).await?,
    };
    ShareView::load(state, after).await
}

/// The scopes an approver attaches, by item: each request names a table whose item is
/// pending approval in this share.
async fn scopes_of(
    state: &AppState,
    detail: &ShareDetail,
    requests: &[crate::access::ItemScopeRequest],
) -> ApiResult<Vec<(Uuid, meshgate_core::access::GrantScope)>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let grantee = grantee_of(&detail.share)?;
    let tables = state.store.list_tables(detail.share.product_id).await?;
    let mut out = Vec::new();
    for req in requests {
        let table = tables.iter().find(|t| t.name == req.table).ok_or_else(|| {
            ApiError::bad_request(format!("items: the product has no table `{}`", req.table))
        })?;
        let item = detail
            .items
            .iter()
            .find(|i| i.table_id == Some(table.id) && i.status == ItemStatus::PendingApproval)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "items: table `{}` has no item pending approval in this share",
                    req.table
                ))
            })?;
        if out.iter().any(|(id, _)| *id == item.id) {
            return Err(ApiError::bad_request(format!(
                "items: table `{}` is named twice",
                req.table
            )));
        }
        let scope = crate::access::scope_for(state, table, grantee, req).await?;
        out.push((item.id, scope));
    }
    Ok(out)
}

pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    r: RevokeRequest,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::RevokeShare, "revoke").await?;
    if let Some(wanted) = &r.items
        && let Some(unknown) = wanted
            .iter()
            .find(|w| !detail.items.iter().any(|i| i.id == **w))
    {
        return Err(ApiError::bad_request(format!(
            "share `{id}` has no item `{unknown}`"
        )));
    }
    let selected = |i: &ShareItem| r.items.as_ref().is_none_or(|w| w.contains(&i.id));
    let revokable: Vec<_> = detail
        .items
        .iter()
        .filter(|i| selected(i) && i.status.is_revokable())
        .collect();
    if revokable.is_empty() {
        let already = detail.items.iter().filter(|i| selected(i)).all(|i| {
            matches!(
                i.status,
                ItemStatus::RevokeSucceeded
                    | ItemStatus::RevokeApproved
                    | ItemStatus::RevokeInProgress
            )
        });
        if already && !detail.items.is_empty() {
            return ShareView::load(state, detail).await;
        }
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "invalid_transition",
            format!(
                "share `{id}` has nothing to revoke: no selected item is shared (it is `{}`)",
                detail.share.status
            ),
        ));
    }
    let Step::Moved(to) = share_step(
        &id.to_string(),
        detail.share.status,
        ShareAction::RevokeItems,
    )?
    else {
        return ShareView::load(state, detail).await;
    };
    let items = items_to(&detail, ItemAction::RevokeItems, |i| {
        selected(i) && i.status.is_revokable()
    })?;
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        item_status: items,
        audit: vec![transition_event(
            caller,
            "revoke",
            &detail,
            to,
            json!({"items": r.items}),
        )],
        jobs: vec![share_job(JobKind::RevokeShare, &detail.share)],
        ..Default::default()
    };
    let after = enqueue_and_wait(state, change, r.wait.unwrap_or(true)).await?;
    ShareView::load(state, after).await
}

/// Options of `verify` and `reapply`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct RunRequest {
    #[serde(default)]
    pub wait: Option<bool>,
}

/// `POST /shares/{id}/verify` (approvers and requesters) and `POST /shares/{id}/reapply`
/// (approvers): enqueue a verification run — with `reapply`, one that also re-makes the
/// grants of unhealthy items — and wait for it.
pub async fn run_check(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    reapply: bool,
    r: RunRequest,
) -> ApiResult<ShareView> {
    let (action, verb, kind) = if reapply {
        (Action::ReapplyShare, "reapply", JobKind::ReapplyShare)
    } else {
        (Action::VerifyShare, "verify", JobKind::VerifyShare)
    };
    let (detail, _) = load_for(state, caller, id, action, verb).await?;
    if !detail.items.iter().any(|i| i.status.is_shared()) {
        return Err(ApiError::conflict(format!(
            "share `{id}` gives nothing to {verb}: no item is in a shared state"
        )));
    }
    let mut done = state.processed.subscribe();
    state
        .store
        .enqueue_jobs(
            &[share_job(kind, &detail.share)],
            audit(caller, &format!("share.{verb}_requested"), "share", id),
        )
        .await?;
    state.wake_worker.notify_one();
    if r.wait.unwrap_or(true) {
        let _ = tokio::time::timeout(WAIT_FOR, async {
            loop {
                match done.recv().await {
                    Ok(finished) if finished == id => return,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
        .await;
    }
    get(state, caller, id).await
}

/// Query of `share-logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /shares/{id}/logs`: the processors' log lines, oldest first.
pub async fn logs(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    q: LogQuery,
) -> ApiResult<Vec<meshgate_core::model::ShareLog>> {
    load_for(state, caller, id, Action::ReadShareLogs, "read the logs of").await?;
    Ok(state
        .store
        .share_logs(id, q.after.unwrap_or(0), q.limit.unwrap_or(1000))
        .await?)
}

/// `POST /products/{domain}/{product}/verify`: approvers verify every shared item of the
/// product at once; with `reapply`, unhealthy shares get a re-apply run.
pub async fn verify_all(
    state: &AppState,
    caller: &Caller,
    product: &crate::lookup::ProductRef,
    reapply: bool,
) -> ApiResult<BulkVerify> {
    crate::lookup::authorize(
        state,
        caller,
        Action::UpdateProduct,
        &product.resource(),
        &format!("verify the shares of `{}`", product.qualified()),
    )?;
    Ok(verify_product(state, product.product.id, Some(caller.id()), reapply).await?)
}

/// One table, folder or product the caller can read through a share.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AccessEntry {
    pub share_id: Uuid,
    pub product: String,
    pub kind: meshgate_core::model::ItemKind,
    pub table: Option<String>,
    pub folder: Option<String>,
    /// The SQL names it is read under.
    pub sql_names: Vec<String>,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub local_name: Option<String>,
    pub health: Option<meshgate_core::model::Health>,
}

/// `GET /access` (`list-product-access`): what the caller reads through shares given to it
/// or its teams.
pub async fn list_access(state: &AppState, caller: &Caller) -> ApiResult<Vec<AccessEntry>> {
    let teams = caller.team_ids();
    let mut item_ids: Vec<Uuid> = state
        .store
        .grants_for(caller.id(), &teams)
        .await?
        .into_iter()
        .map(|g| g.share_item_id)
        .chain(
            state
                .store
                .file_grants_for(caller.id(), &teams)
                .await?
                .into_iter()
                .map(|g| g.share_item_id),
        )
        .collect();
    item_ids.sort_unstable();
    item_ids.dedup();
    let mut shares: std::collections::BTreeMap<Uuid, ShareDetail> = Default::default();
    let mut out = Vec::new();
    let mut share_of_item = std::collections::HashMap::new();
    let filter = ShareFilter {
        visible_to_teams: Some(teams.clone()),
        visible_to_principal: Some(caller.id()),
        limit: Some(5000),
        ..Default::default()
    };
    for d in state.store.list_shares(&filter).await? {
        for i in &d.items {
            share_of_item.insert(i.id, d.share.id);
        }
        shares.insert(d.share.id, d);
    }
    for item_id in item_ids {
        let Some(detail) = share_of_item.get(&item_id).and_then(|s| shares.get(s)) else {
            continue;
        };
        let Some(item) = detail.items.iter().find(|i| i.id == item_id) else {
            continue;
        };
        let Some(product) = state.store.get_product(detail.share.product_id).await? else {
            continue;
        };
        let domain = crate::views::name_of_domain(state, product.domain_id).await?;
        let qualified = format!("{domain}.{}", product.name);
        let table = match item.table_id {
            Some(t) => state.store.get_table(t).await?.map(|t| t.name),
            None => None,
        };
        let mut sql_names = Vec::new();
        let names: Vec<String> = match item.kind {
            meshgate_core::model::ItemKind::Table => table.iter().cloned().collect(),
            meshgate_core::model::ItemKind::Product => state
                .store
                .list_tables(product.id)
                .await?
                .into_iter()
                .map(|t| t.name)
                .collect(),
            meshgate_core::model::ItemKind::Folder => Vec::new(),
        };
        for n in &names {
            sql_names.push(format!("{qualified}.{n}"));
            if let Some(local) = &detail.share.terms.local_name {
                sql_names.push(format!("{local}.{n}"));
            }
        }
        out.push(AccessEntry {
            share_id: detail.share.id,
            product: qualified,
            kind: item.kind,
            table,
            folder: item.path.clone(),
            sql_names,
            expires_at: detail.share.terms.expires_at,
            local_name: detail.share.terms.local_name.clone(),
            health: item.health,
        });
    }
    Ok(out)
}
