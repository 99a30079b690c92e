//! The catalog's side of an access request (called by `shares`): whether a product may be
//! requested, and the metadata forms that the domain's request rules ask for.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use meshgate_core::catalog::{FormTargetKind, ListingState, MetadataForm, RuleAction};
use meshgate_core::model::{DataProduct, Domain, Share, ShareItem};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Refuses a request for a product the caller may not see (404) or that is not published
/// (409). Called by `shares::request_access`.
pub fn check_requestable(caller: &Caller, qualified: &str, product: &DataProduct) -> ApiResult<()> {
    if !crate::lookup::can_see(caller, product) {
        return Err(ApiError::not_found("data product", qualified));
    }
    if product.listing != ListingState::Published {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "data product `{qualified}` is `{}`; only published products can be requested",
                product.listing
            ),
        ));
    }
    Ok(())
}

/// Checks the forms sent with an access request (form type name → values) and, unless the
/// request is a draft, that they include every form the request rules of the product's
/// domain require. Returns them as forms of the share, for `create_share_with_forms`.
pub async fn request_forms(
    state: &AppState,
    caller: &Caller,
    domain: &Domain,
    qualified: &str,
    sent: &BTreeMap<String, BTreeMap<String, Value>>,
    share_id: Uuid,
    draft: bool,
) -> ApiResult<Vec<MetadataForm>> {
    let mut out = Vec::new();
    for (name, values) in sent {
        let (form_type, values) = super::forms::fill(state, name, values).await?;
        out.push(MetadataForm {
            target_kind: FormTargetKind::Share,
            target_id: share_id,
            product_id: None,
            form_type_id: form_type.id,
            revision: form_type.revision,
            values,
            updated_by: caller.id(),
            updated_at: chrono::Utc::now(),
        });
    }
    if !draft {
        let present: Vec<Uuid> = out.iter().map(|f| f.form_type_id).collect();
        let missing =
            super::forms::missing_for(state, domain.id, RuleAction::RequestAccess, &present)
                .await?;
        if !missing.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_forms",
                format!(
                    "forms: a request for `{qualified}` needs metadata form(s) {missing}; send them in `forms` (`--form <form>.<field>=<value>`)"
                ),
            ));
        }
    }
    Ok(out)
}

/// Creates a share with the forms of its request, atomically.
pub async fn create_share(
    state: &AppState,
    share: &Share,
    items: &[ShareItem],
    forms: &[MetadataForm],
    event: meshgate_core::model::NewAuditEvent,
) -> ApiResult<()> {
    Ok(state
        .store
        .create_share_with_forms(share, items, forms, event)
        .await?)
}

/// Refuses to submit a share that lacks forms the request rules require (409). Called by
/// `shares::submit`.
pub async fn check_share_forms(state: &AppState, share: &Share) -> ApiResult<()> {
    let Some(product) = state.store.get_product(share.product_id).await? else {
        return Ok(());
    };
    let present: Vec<Uuid> = state
        .store
        .forms_of(FormTargetKind::Share, share.id)
        .await?
        .iter()
        .map(|f| f.form_type_id)
        .collect();
    let missing = super::forms::missing_for(
        state,
        product.domain_id,
        RuleAction::RequestAccess,
        &present,
    )
    .await?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "missing_forms",
        format!(
            "cannot submit share `{}`: missing metadata form(s) {missing}; fill them with `meshgate form set --share {} <form> …`",
            share.id, share.id
        ),
    ))
}
