//! The domain hierarchy: a domain's parent (its units are its child domains). Rules that
//! include children apply down the hierarchy, and search filters by domain path.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::put;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::Domain;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

/// The route of the domain hierarchy, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/domains/{domain}/parent", put(set_parent))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ParentBody {
    /// The parent domain's name; null makes the domain top-level.
    pub parent: Option<String>,
}

#[utoipa::path(
    put,
    path = "/domains/{domain}/parent",
    operation_id = "set_parent",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = ParentBody,
    responses(
        (status = 200, description = "OK", body = Domain),
        crate::error::ApiErrors,
    ),
)]
async fn set_parent(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(body): JsonBody<ParentBody>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(reparent(&state, &caller, &domain, body).await?))
}

/// Sets (or, with none, clears) the domain's parent, for whoever may change the domain.
async fn reparent(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    body: ParentBody,
) -> ApiResult<Domain> {
    let d = lookup::domain_by_name(state, domain).await?;
    authorize(
        state,
        caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "change the domain hierarchy",
    )?;
    let parent = match &body.parent {
        Some(name) => Some(lookup::domain_by_name(state, name).await.map_err(|_| {
            ApiError::bad_request(format!("parent: domain `{name}` does not exist"))
        })?),
        None => None,
    };
    let event = audit(caller, "domain.set_parent", "domain", d.id)
        .with_detail(json!({"domain": d.name, "parent": body.parent}));
    state
        .store
        .set_domain_parent(d.id, parent.as_ref().map(|p| p.id), event)
        .await?;
    lookup::domain_by_name(state, domain).await
}
