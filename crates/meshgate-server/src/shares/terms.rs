//! The terms of a share around its decision: expiry and extensions, auto-approval, the
//! consumer's local name, archiving (delete), and the product's share settings.

use chrono::{DateTime, Duration, Utc};
use meshgate_authz::Action;
use meshgate_core::lifecycle::{
    ItemAction, ItemStatus, ItemTarget, ShareAction, ShareStatus, Step, item_step, item_transition,
    share_step,
};
use meshgate_core::model::{JobKind, NewAuditEvent, ShareDetail, ShareSettings, ShareTerms};
use meshgate_store::ShareChange;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::change::{enqueue_and_wait, load_for, share_job, transition_event};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::{ProductRef, audit, authorize};
use crate::state::AppState;
use crate::views::ShareView;

/// Checks a requested expiry against a product's settings at `now`.
pub fn check_expiry(
    settings: &ShareSettings,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let Some(at) = expires_at else {
        if settings.expiry_required {
            return Err(ApiError::bad_request(format!(
                "this product only grants expiring access: ask for an expiry (`expires_at`){}",
                bounds_hint(settings)
            )));
        }
        return Ok(());
    };
    if at <= now {
        return Err(ApiError::bad_request(format!(
            "the requested expiry {at} has already passed"
        )));
    }
    let days = (at - now).num_seconds() as f64 / 86_400.0;
    if let Some(min) = settings.min_days
        && days < f64::from(min)
    {
        return Err(ApiError::bad_request(format!(
            "the requested expiry is {days:.1} days away; this product grants at least {min} days"
        )));
    }
    if let Some(max) = settings.max_days
        && days > f64::from(max)
    {
        return Err(ApiError::bad_request(format!(
            "the requested expiry is {days:.1} days away; this product grants at most {max} days"
        )));
    }
    Ok(())
}

fn bounds_hint(settings: &ShareSettings) -> String {
    match (settings.min_days, settings.max_days) {
        (Some(a), Some(b)) => format!(" between {a} and {b} days away"),
        (Some(a), None) => format!(" at least {a} days away"),
        (None, Some(b)) => format!(" at most {b} days away"),
        (None, None) => String::new(),
    }
}

/// The terms an approval gives: the requested expiry (refused if it has passed), or the
/// approver's earlier one.
pub async fn approved_terms(
    state: &AppState,
    detail: &ShareDetail,
    approver_expiry: Option<DateTime<Utc>>,
) -> ApiResult<ShareTerms> {
    let now = Utc::now();
    // A share approved before (items added since) keeps the expiry in force, which an
    // approved extension may have moved past the one first requested.
    let requested = detail
        .share
        .terms
        .expires_at
        .or(detail.share.requested_expiry);
    if let Some(at) = requested
        && at <= now
    {
        return Err(ApiError::conflict(format!(
            "the requested expiry {at} has passed; the requester must ask again with a later one"
        )));
    }
    let expires_at = match (requested, approver_expiry) {
        (_, Some(a)) if a <= now => {
            return Err(ApiError::bad_request(format!(
                "`expires_at` {a} has already passed"
            )));
        }
        (Some(r), Some(a)) if a > r => {
            return Err(ApiError::bad_request(format!(
                "`expires_at` {a} is later than the requested {r}; an approver may only shorten it"
            )));
        }
        (_, Some(a)) => Some(a),
        (r, None) => r,
    };
    let settings = state.store.share_settings(detail.share.product_id).await?;
    if expires_at.is_none() && settings.expiry_required {
        return Err(ApiError::conflict(
            "this product only grants expiring access and the request has no expiry; approve with `expires_at`",
        ));
    }
    Ok(ShareTerms {
        expires_at,
        expiry_reminded_at: None,
        ..detail.share.terms.clone()
    })
}

/// Approves a just-submitted share by itself if one of its product's auto-approval rules
/// matches (requester's domain listed, or every table of the product classified `public`).
pub async fn auto_approve(state: &AppState, id: Uuid) -> ApiResult<()> {
    let Some(detail) = state.store.get_share(id).await? else {
        return Ok(());
    };
    if detail.share.status != ShareStatus::Submitted {
        return Ok(());
    }
    let settings = state.store.share_settings(detail.share.product_id).await?;
    let rule = &settings.auto_approve;
    if rule.is_off() {
        return Ok(());
    }
    let mut matched = None;
    if !rule.requester_domains.is_empty() {
        let domain = match detail.share.requester_team_id {
            Some(t) => match state.store.get_team(t).await? {
                Some(team) => state
                    .store
                    .get_domain(team.domain_id)
                    .await?
                    .map(|d| d.name),
                None => None,
            },
            None => None,
        };
        if let Some(d) = domain
            && rule.requester_domains.contains(&d)
        {
            matched = Some(format!("requester domain `{d}` is listed"));
        }
    }
    if matched.is_none()
        && rule.when_public
        && product_is_public(state, detail.share.product_id).await?
    {
        matched = Some("the product is classified `public`".into());
    }
    let Some(why) = matched else {
        return Ok(());
    };
    // The requested expiry must still be acceptable; if not, an approver decides.
    let Ok(terms) = approved_terms(state, &detail, None).await else {
        return Ok(());
    };
    let Step::Moved(to) = share_step(&id.to_string(), detail.share.status, ShareAction::Approve)?
    else {
        return Ok(());
    };
    let mut items = Vec::new();
    for i in detail
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::PendingApproval)
    {
        if let ItemTarget::Status(next) =
            item_step(&i.id.to_string(), i.status, ItemAction::Approve)?
        {
            items.push((i.id, next));
        }
    }
    let event = NewAuditEvent::new(None, "share.approve", "share", Some(id.to_string()))
        .with_detail(json!({
            "from": detail.share.status, "to": to,
            "extra": {"auto": true, "rule": why},
        }));
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        decision_notes: Some(format!("approved automatically: {why}")),
        item_status: items,
        terms: Some(terms),
        audit: vec![event],
        jobs: vec![share_job(JobKind::ProcessShare, &detail.share)],
        ..Default::default()
    };
    match enqueue_and_wait(state, change, true).await {
        Ok(_) => Ok(()),
        // Someone else moved the share meanwhile (e.g. an approver was quicker): fine.
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a product's classification (the most sensitive of its tables' and columns') is
/// `public`. A product with an unclassified table is not public.
async fn product_is_public(state: &AppState, product_id: Uuid) -> ApiResult<bool> {
    use meshgate_core::catalog::Classification;
    let tables = state.store.list_tables(product_id).await?;
    if tables.is_empty() {
        return Ok(false);
    }
    let table_tags = state.store.table_tags(product_id).await?;
    for t in &tables {
        let tags = table_tags
            .iter()
            .find(|g| g.table_id == t.id)
            .map(|g| g.tags.as_slice())
            .unwrap_or_default();
        let mut most = Classification::of_tags(tags.iter());
        for c in state.store.column_tags(t.id).await? {
            most = most.max(Classification::of_tags(c.tags.iter()));
        }
        if most != Some(Classification::Public) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The body of `extend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ExtendRequest {
    pub expires_at: DateTime<Utc>,
    pub reason: String,
}

/// `POST /shares/{id}/extend`: the requester asks for a later expiry. The share goes to
/// `submitted_for_extension`, its shared items to `pending_extension` (they keep giving
/// access meanwhile).
pub async fn extend(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: ExtendRequest,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::ExtendShare, "extend").await?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required: say why the access should last longer",
        ));
    }
    if reason.len() > 4096 {
        return Err(ApiError::bad_request("keep the reason within 4096 bytes"));
    }
    let Step::Moved(to) = share_step(&id.to_string(), detail.share.status, ShareAction::Extend)?
    else {
        return ShareView::load(state, detail).await;
    };
    if detail
        .items
        .iter()
        .any(|i| i.status == ItemStatus::PendingApproval)
    {
        return Err(ApiError::conflict(format!(
            "share `{id}` has items pending approval; submit or remove them before asking for an extension"
        )));
    }
    let now = Utc::now();
    let current = detail.share.terms.expires_at;
    if current.is_some_and(|c| req.expires_at <= c) {
        return Err(ApiError::bad_request(format!(
            "`expires_at` {} is not later than the current expiry {}",
            req.expires_at,
            current.map(|c| c.to_string()).unwrap_or_default()
        )));
    }
    let settings = state.store.share_settings(detail.share.product_id).await?;
    check_expiry(&settings, Some(req.expires_at), now)?;
    let items: Vec<_> = detail
        .items
        .iter()
        .filter_map(|i| match item_transition(i.status, ItemAction::Extend) {
            Some(ItemTarget::Status(next)) => Some((i.id, next)),
            _ => None,
        })
        .collect();
    if items.is_empty() {
        return Err(ApiError::conflict(format!(
            "share `{id}` gives nothing to extend: no item is `share_succeeded`"
        )));
    }
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        item_status: items,
        terms: Some(ShareTerms {
            extension_expiry: Some(req.expires_at),
            extension_reason: Some(reason.to_string()),
            submitted_at: Some(now),
            pending_reminded_at: None,
            ..detail.share.terms.clone()
        }),
        audit: vec![transition_event(
            caller,
            "extend",
            &detail,
            to,
            json!({"expires_at": req.expires_at, "current": current, "reason": reason}),
        )],
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    ShareView::load(state, after).await
}

/// A decision on an open extension request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionDecision {
    Approve,
    Reject,
    Cancel,
}

impl std::str::FromStr for ExtensionDecision {
    type Err = ApiError;

    fn from_str(s: &str) -> ApiResult<Self> {
        match s {
            "approve" => Ok(ExtensionDecision::Approve),
            "reject" => Ok(ExtensionDecision::Reject),
            "cancel" => Ok(ExtensionDecision::Cancel),
            other => Err(ApiError::bad_request(format!(
                "unknown extension decision `{other}`; use approve, reject or cancel"
            ))),
        }
    }
}

/// `POST /shares/{id}/extension/{approve|reject|cancel}`: approvers approve or reject, the
/// requester may cancel. Items go back to `share_succeeded` in every case; an approval moves
/// the expiry.
pub async fn decide_extension(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    decision: ExtensionDecision,
    notes: Option<String>,
) -> ApiResult<ShareView> {
    let (action, share_action, verb) = match decision {
        ExtensionDecision::Approve => (
            Action::ApproveShare,
            ShareAction::ApproveExtension,
            "approve_extension",
        ),
        ExtensionDecision::Reject => (
            Action::RejectShare,
            ShareAction::RejectExtension,
            "reject_extension",
        ),
        ExtensionDecision::Cancel => (
            Action::CancelShare,
            ShareAction::CancelExtension,
            "cancel_extension",
        ),
    };
    let (detail, _) = load_for(state, caller, id, action, &verb.replace('_', " ")).await?;
    let Step::Moved(to) = share_step(&id.to_string(), detail.share.status, share_action)? else {
        return ShareView::load(state, detail).await;
    };
    let mut items = Vec::new();
    for i in detail
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::PendingExtension)
    {
        if let ItemTarget::Status(next) =
            item_step(&i.id.to_string(), i.status, ItemAction::ExtensionDecided)?
        {
            items.push((i.id, next));
        }
    }
    let old = &detail.share.terms;
    let terms = ShareTerms {
        expires_at: match decision {
            ExtensionDecision::Approve => old.extension_expiry.or(old.expires_at),
            _ => old.expires_at,
        },
        expiry_reminded_at: match decision {
            ExtensionDecision::Approve => None,
            _ => old.expiry_reminded_at,
        },
        extension_expiry: None,
        extension_reason: None,
        ..old.clone()
    };
    let (notes_field, decided_by) = match decision {
        ExtensionDecision::Cancel => (None, None),
        _ => (notes.clone(), Some(caller.id())),
    };
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        decision_notes: notes_field,
        decided_by,
        item_status: items,
        audit: vec![transition_event(
            caller,
            verb,
            &detail,
            to,
            json!({"requested": old.extension_expiry, "expires_at": terms.expires_at, "notes": notes}),
        )],
        terms: Some(terms),
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    ShareView::load(state, after).await
}

/// The body of `finalize-subscription`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct FinalizeRequest {
    pub local_name: String,
}

/// Schema names the consumer may not take.
const RESERVED: &[&str] = &["default", "information_schema", "public", "meshgate"];

/// `POST /shares/{id}/finalize`: the consumer names the schema under which the share's tables
/// appear in its SQL namespace (`<local_name>.<table>`, besides `<domain>.<product>.<table>`).
pub async fn finalize(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: FinalizeRequest,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::SubmitShare, "finalize").await?;
    let name = req.local_name.trim().to_string();
    meshgate_core::names::validate("local name", &name)?;
    if RESERVED.contains(&name.as_str()) {
        return Err(ApiError::bad_request(format!(
            "`{name}` is reserved; choose another local name"
        )));
    }
    if detail.share.status == ShareStatus::Deleted {
        return Err(ApiError::conflict(format!(
            "share `{id}` is deleted (archived)"
        )));
    }
    if detail.share.terms.local_name.as_deref() == Some(name.as_str()) {
        return ShareView::load(state, detail).await;
    }
    // The same requester may not use one local name for two shares.
    let filter = meshgate_store::ShareFilter {
        requester_team_id: detail.share.requester_team_id,
        requester_principal_id: detail
            .share
            .requester_team_id
            .is_none()
            .then_some(detail.share.requester_principal_id)
            .flatten(),
        limit: Some(5000),
        ..Default::default()
    };
    if let Some(other) = state
        .store
        .list_shares(&filter)
        .await?
        .into_iter()
        .find(|s| s.share.id != id && s.share.terms.local_name.as_deref() == Some(name.as_str()))
    {
        return Err(ApiError::conflict(format!(
            "local name `{name}` is already used by share `{}` of the same requester",
            other.share.id
        )));
    }
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        terms: Some(ShareTerms {
            local_name: Some(name.clone()),
            ..detail.share.terms.clone()
        }),
        audit: vec![transition_event(
            caller,
            "finalize",
            &detail,
            detail.share.status,
            json!({"local_name": name, "was": detail.share.terms.local_name}),
        )],
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    // Grants did not change, but the names the consumer's SQL sees did.
    crate::snapshot::forget_all(state);
    ShareView::load(state, after).await
}

/// The body of `delete-subscription`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct DeleteRequest {
    pub reason: String,
    /// Revoke what is still shared first (best effort), then delete.
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /shares/{id}`: archives the share (status `deleted`, the record stays readable,
/// with the reason). Refused while an item is in a shared state unless `force`, which
/// revokes those items first, in the same change.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: DeleteRequest,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::DeleteShare, "delete").await?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "a reason is required to delete (archive) a share",
        ));
    }
    if reason.len() > 4096 {
        return Err(ApiError::bad_request("keep the reason within 4096 bytes"));
    }
    let Step::Moved(to) = share_step(&id.to_string(), detail.share.status, ShareAction::Delete)?
    else {
        return ShareView::load(state, detail).await;
    };
    let shared: Vec<_> = detail
        .items
        .iter()
        .filter(|i| i.status.is_shared())
        .collect();
    let mut item_status = Vec::new();
    let mut revoked = Vec::new();
    if !shared.is_empty() {
        if !req.force {
            return Err(ApiError::conflict(format!(
                "share `{id}` still gives access through {} item(s) ({}); revoke them first or delete with `force`",
                shared.len(),
                shared
                    .iter()
                    .map(|i| i.status.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for item in &shared {
            // Walk the item through the revocation steps; the grants go in this change.
            let mut status = item.status;
            for action in [
                ItemAction::ExtensionDecided,
                ItemAction::RevokeItems,
                ItemAction::Start,
                ItemAction::Success,
            ] {
                if let Some(ItemTarget::Status(next)) = item_transition(status, action) {
                    status = next;
                }
            }
            if status != ItemStatus::RevokeSucceeded {
                return Err(ApiError::conflict(format!(
                    "item `{}` is `{}` (being processed); wait for the worker, then delete",
                    item.id, item.status
                )));
            }
            item_status.push((item.id, status));
            revoked.push(item.id);
        }
    }
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        deleted_reason: Some(reason.to_string()),
        item_status,
        grants_to_remove: revoked.clone(),
        audit: vec![transition_event(
            caller,
            "delete",
            &detail,
            to,
            json!({"reason": reason, "force": req.force, "revoked_items": revoked}),
        )],
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    ShareView::load(state, after).await
}

/// `GET /products/{domain}/{product}/share-settings`: anyone who may see the product.
pub async fn get_settings(
    state: &AppState,
    caller: &Caller,
    product: &ProductRef,
) -> ApiResult<ShareSettings> {
    authorize(
        state,
        caller,
        Action::ViewProduct,
        &product.resource(),
        "view the product",
    )?;
    Ok(state.store.share_settings(product.product.id).await?)
}

/// `PUT /products/{domain}/{product}/share-settings`: the product's owners and stewards.
pub async fn put_settings(
    state: &AppState,
    caller: &Caller,
    target: &ProductRef,
    settings: ShareSettings,
) -> ApiResult<ShareSettings> {
    let product_name = target.qualified();
    let product = &target.product;
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &target.resource(),
        &format!("change the share settings of `{product_name}`"),
    )?;
    if let (Some(a), Some(b)) = (settings.min_days, settings.max_days)
        && a > b
    {
        return Err(ApiError::bad_request(format!(
            "min_days ({a}) is more than max_days ({b})"
        )));
    }
    if settings.max_days == Some(0) {
        return Err(ApiError::bad_request("max_days must be at least 1"));
    }
    for d in &settings.auto_approve.requester_domains {
        if state.store.get_domain_by_name(d).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "auto_approve.requester_domains: no domain `{d}`"
            )));
        }
    }
    let event = audit(caller, "product.share_settings", "product", product.id)
        .with_detail(json!({"product": product_name, "settings": settings}));
    state
        .store
        .put_share_settings(product.id, &settings, event)
        .await?;
    Ok(settings)
}

/// Days as a duration, for settings given in days.
pub fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}
