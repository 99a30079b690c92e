//! Tag masks (the default mask of every column carrying a tag, mesh-wide or for one
//! domain's products) and the key of the `hash` mask.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::access::{Mask, TagMask};
use meshgate_engine::secure::MaskKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

/// The routes of tag masks and the mask key, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/tag-masks", get(list_tag_masks).put(put_tag_mask))
        .route("/tag-masks/{id}", delete(delete_tag_mask))
        .route("/mesh/mask-key/rotate", post(rotate_mask_key))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TagMaskRequest {
    pub tag: String,
    pub mask: Mask,
    /// A domain name: the default applies to that domain's products only; absent = mesh-wide.
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagMaskView {
    #[serde(flatten)]
    pub mask: TagMask,
    #[schema(required)]
    pub domain: Option<String>,
}

async fn tag_mask_view(state: &AppState, mask: TagMask) -> ApiResult<TagMaskView> {
    let domain = match mask.domain_id {
        Some(id) => Some(crate::views::name_of_domain(state, id).await?),
        None => None,
    };
    Ok(TagMaskView { mask, domain })
}

#[utoipa::path(
    get,
    path = "/tag-masks",
    operation_id = "list_tag_masks",
    tag = "tag-masks",
    responses(
        (status = 200, description = "OK", body = Vec<TagMaskView>),
        crate::error::ApiErrors,
    ),
)]
async fn list_tag_masks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TagMaskView>>> {
    Ok(Json(list_masks(&state, &caller).await?))
}

/// Every tag mask, for whoever may view the mesh.
async fn list_masks(state: &AppState, caller: &Caller) -> ApiResult<Vec<TagMaskView>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view tag masks",
    )?;
    let mut out = Vec::new();
    for m in state.store.list_tag_masks().await? {
        out.push(tag_mask_view(state, m).await?);
    }
    Ok(out)
}

#[utoipa::path(
    put,
    path = "/tag-masks",
    operation_id = "put_tag_mask",
    tag = "tag-masks",
    request_body = TagMaskRequest,
    responses(
        (status = 200, description = "OK", body = TagMaskView),
        crate::error::ApiErrors,
    ),
)]
async fn put_tag_mask(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<TagMaskRequest>,
) -> ApiResult<Json<TagMaskView>> {
    Ok(Json(put_mask(&state, &caller, req).await?))
}

/// Sets the mask of a tag, mesh-wide (admins) or for one domain (whoever may change it).
async fn put_mask(
    state: &AppState,
    caller: &Caller,
    req: TagMaskRequest,
) -> ApiResult<TagMaskView> {
    meshgate_core::names::validate("tag", &req.tag).map_err(ApiError::from)?;
    let domain_id = match &req.domain {
        Some(name) => {
            let d = lookup::domain_by_name(state, name).await?;
            authorize(
                state,
                caller,
                Action::UpdateDomain,
                &Resource::Domain { id: d.id },
                "set tag masks for this domain",
            )?;
            Some(d.id)
        }
        None => {
            authorize(
                state,
                caller,
                Action::CreateDomain,
                &Resource::Mesh,
                "set mesh-wide tag masks",
            )?;
            None
        }
    };
    let existing = state
        .store
        .list_tag_masks()
        .await?
        .into_iter()
        .find(|m| m.domain_id == domain_id && m.tag == req.tag);
    let mask = TagMask {
        id: existing.as_ref().map_or_else(Uuid::now_v7, |m| m.id),
        domain_id,
        tag: req.tag,
        mask: req.mask,
        created_at: existing.map_or_else(Utc::now, |m| m.created_at),
    };
    let event = audit(caller, "tag_mask.put", "tag_mask", mask.id)
        .with_detail(json!({"tag": mask.tag, "mask": mask.mask, "domain": req.domain}));
    state.store.put_tag_mask(&mask, event).await?;
    tag_mask_view(state, mask).await
}

#[utoipa::path(
    delete,
    path = "/tag-masks/{id}",
    operation_id = "delete_tag_mask",
    tag = "tag-masks",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_tag_mask(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    delete_mask(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a tag mask, for whoever may set it.
async fn delete_mask(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let parsed = Uuid::parse_str(id).map_err(|_| ApiError::not_found("tag mask", id))?;
    let mask = state
        .store
        .list_tag_masks()
        .await?
        .into_iter()
        .find(|m| m.id == parsed)
        .ok_or_else(|| ApiError::not_found("tag mask", id))?;
    match mask.domain_id {
        Some(d) => authorize(
            state,
            caller,
            Action::UpdateDomain,
            &Resource::Domain { id: d },
            "remove tag masks of this domain",
        )?,
        None => authorize(
            state,
            caller,
            Action::CreateDomain,
            &Resource::Mesh,
            "remove mesh-wide tag masks",
        )?,
    }
    let event =
        audit(caller, "tag_mask.delete", "tag_mask", mask.id).with_detail(json!({"tag": mask.tag}));
    state.store.delete_tag_mask(mask.id, event).await?;
    Ok(())
}

// ----- the mask key -----

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RotatedKey {
    /// A public id of the new key (a digest of it, not the key), as the audit log records.
    key_id: String,
    rotated_at: chrono::DateTime<Utc>,
}

/// `POST /mesh/mask-key/rotate` (admins): replaces the key of the `hash` mask. Every value
/// masked with `hash` reads differently from now on (joins across the rotation no longer
/// match); the policy version moves, so every replica resolves access again with the new key,
/// and the access fingerprints of hashed items change, so no Delta Sharing snapshot or file
/// URL made under the old key is served again.
#[utoipa::path(
    post,
    path = "/mesh/mask-key/rotate",
    operation_id = "rotate_mask_key",
    tag = "mesh",
    responses(
        (status = 200, description = "OK", body = RotatedKey),
        crate::error::ApiErrors,
    ),
)]
async fn rotate_mask_key(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<RotatedKey>> {
    Ok(Json(rotate_key(&state, &caller).await?))
}

/// Replaces the key of the `hash` mask (admins) and forgets every snapshot made under the old one.
async fn rotate_key(state: &AppState, caller: &Caller) -> ApiResult<RotatedKey> {
    // Mesh-wide mask settings are the admins', as mesh-wide tag masks are.
    authorize(
        state,
        caller,
        Action::CreateDomain,
        &Resource::Mesh,
        "rotate the mesh's mask key",
    )?;
    let event = audit(caller, "mesh.mask_key.rotate", "mesh", "mask_key");
    state.store.rotate_mask_key(event).await?;
    let key_id = MaskKey::new(state.store.mask_key().await?).id();
    crate::snapshot::forget_all(state);
    tracing::info!(key_id = %key_id, by = %caller.principal.name, "the mask key was rotated");
    Ok(RotatedKey {
        key_id,
        rotated_at: Utc::now(),
    })
}
