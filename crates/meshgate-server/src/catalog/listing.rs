//! Listing states (see [`crate::catalog`]): the state a new product starts in, publishing
//! and unpublishing (a product is published only while its publish rules are satisfied),
//! and changing a product's description.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{patch, post};
use meshgate_authz::Action;
use meshgate_core::catalog::{
    self as model, FormTargetKind, ListingAction, ListingState, RuleAction, listing_step,
};
use meshgate_core::model::Domain;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::forms;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::{ProductPath, ProductRef, audit, authorize};
use crate::state::AppState;

/// The routes of listing states and product descriptions, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/products/{domain}/{product}", patch(update_product))
        .route("/products/{domain}/{product}/publish", post(publish))
        .route("/products/{domain}/{product}/unpublish", post(unpublish))
}

/// The listing a new product starts in: `draft` when asked for, or when a publish rule
/// applies to its domain (its forms cannot be filled before it exists); else `published`.
pub async fn initial_listing(
    state: &AppState,
    domain: &Domain,
    draft: bool,
) -> ApiResult<ListingState> {
    if draft {
        return Ok(ListingState::Draft);
    }
    let rules = state.store.list_rules().await?;
    let parents = forms::domain_parents(state).await?;
    let applies = !model::applicable_rules(&rules, &parents, domain.id, RuleAction::PublishProduct)
        .is_empty();
    Ok(if applies {
        ListingState::Draft
    } else {
        ListingState::Published
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListingView {
    pub product: String,
    pub listing: ListingState,
    pub revision: i64,
}

/// Publishes or unpublishes a product (a product is published only while the publish rules
/// of its domain are satisfied).
async fn change_listing(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    action: ListingAction,
) -> ApiResult<ListingView> {
    let ProductRef {
        domain: d,
        product: p,
    } = p;
    let qualified = format!("{}.{}", d.name, p.name);
    authorize(
        state,
        caller,
        Action::PublishProduct,
        &crate::lookup::product_resource(p),
        &format!("{action} `{qualified}`"),
    )?;
    let Some(to) = listing_step(&qualified, p.listing, action)? else {
        return Ok(ListingView {
            product: qualified,
            listing: p.listing,
            revision: p.revision,
        });
    };
    if to == ListingState::Published {
        let present: Vec<Uuid> = state
            .store
            .forms_of(FormTargetKind::Product, p.id)
            .await?
            .iter()
            .map(|f| f.form_type_id)
            .collect();
        let missing = forms::missing_for(state, d.id, RuleAction::PublishProduct, &present).await?;
        if !missing.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "missing_forms",
                format!(
                    "cannot publish `{qualified}`: missing metadata form(s) {missing}; fill them with `meshgate form set --product {qualified} <form> …`"
                ),
            ));
        }
    }
    let event = audit(caller, &format!("product.{action}"), "data_product", p.id).with_detail(
        json!({"product": qualified, "from": p.listing, "to": to, "revision": p.revision}),
    );
    let after = state.store.set_listing(p.id, p.listing, to, event).await?;
    Ok(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    })
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/publish",
    operation_id = "publish",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::error::ApiErrors,
    ),
)]
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(
        change_listing(&state, &caller, &p, ListingAction::Publish).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/unpublish",
    operation_id = "unpublish",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::error::ApiErrors,
    ),
)]
async fn unpublish(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(
        change_listing(&state, &caller, &p, ListingAction::Unpublish).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ProductPatch {
    pub description: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/products/{domain}/{product}",
    operation_id = "update_product",
    tag = "products",
    params(ProductPath),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::error::ApiErrors,
    ),
)]
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(update_description(&state, &caller, &p, patch).await?))
}

/// Changes a product's description (owners and stewards).
async fn update_description(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    patch: ProductPatch,
) -> ApiResult<ListingView> {
    p.check_editable(state, caller)?;
    let qualified = p.qualified();
    let Some(description) = patch.description else {
        return Err(ApiError::bad_request(
            "nothing to change: send `description`",
        ));
    };
    if description.len() > model::MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "description: longer than {} bytes",
            model::MAX_TEXT
        )));
    }
    let event = audit(caller, "product.update", "data_product", p.product.id)
        .with_detail(json!({"product": qualified, "description": description}));
    let after = state
        .store
        .update_product_description(p.product.id, &description, event)
        .await?;
    Ok(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    })
}
