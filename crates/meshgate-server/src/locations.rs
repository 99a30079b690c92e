//! External locations: the URL prefixes under which an admin lets named teams register
//! existing Delta tables, and the rules every registration and every write to a registered
//! table pass (see `docs/design/EXTERNAL_LOCATIONS.md`).
//!
//! - A table can be registered only under an external location that lists the product's team.
//! - Nothing inside (or containing) the managed data root can be registered, nor anything that
//!   overlaps another product's table: compared as normalized locations, segment by segment.
//! - A registered table is read-only unless its external location is `writable`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{DataProduct, ExternalLocation, ProductTable, Team, new_id};
use meshgate_core::names;
use meshgate_engine::storage::Location;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

/// The routes of this module, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/external-locations", get(list).post(create))
        .route("/external-locations/{name}", get(show).delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewExternalLocation {
    pub name: String,
    pub url: String,
    /// Teams (`domain.team`) that may register tables under it.
    pub teams: Vec<String>,
    /// Whether tables registered under it accept writes (default: read-only).
    #[serde(default)]
    pub writable: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExternalLocationView {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// `domain.team`
    pub teams: Vec<String>,
    pub writable: bool,
    pub description: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<Utc>,
}

impl ExternalLocationView {
    async fn load(state: &AppState, l: ExternalLocation) -> ApiResult<Self> {
        let mut teams = Vec::with_capacity(l.teams.len());
        for id in &l.teams {
            teams.push(crate::views::qualified_team(state, *id).await?);
        }
        Ok(ExternalLocationView {
            id: l.id,
            name: l.name,
            url: l.url,
            teams,
            writable: l.writable,
            description: l.description,
            created_by: crate::views::name_of_principal(state, l.created_by).await?,
            created_at: l.created_at,
        })
    }
}

fn admit(state: &AppState, caller: &Caller, what: &str) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::ManageExternalLocations,
        &Resource::Mesh,
        what,
    )
}

/// A stored location (a table's, an external location's) in comparable form; `None` for one
/// that is no location of a known store (it can overlap nothing this build can read).
fn stored(url: &str) -> Option<Location> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| Location::of_stored(&u))
}

/// Whether `loc` is inside the managed data root or contains it.
fn touches_data_root(state: &AppState, loc: &Location) -> bool {
    state
        .data_root
        .location()
        .is_some_and(|root| root.overlaps(loc))
}

pub async fn create_location(
    state: &AppState,
    caller: &Caller,
    req: NewExternalLocation,
) -> ApiResult<ExternalLocationView> {
    admit(state, caller, "declare external locations")?;
    names::validate("external location name", &req.name)?;
    let loc = Location::parse(&req.url)?;
    if touches_data_root(state, &loc) {
        return Err(ApiError::bad_request(format!(
            "`{}` overlaps the data root, where meshgate keeps its managed tables; an external location must lie outside it",
            req.url
        )));
    }
    for other in state.store.list_external_locations().await? {
        if stored(&other.url).is_some_and(|o| o.overlaps(&loc)) {
            return Err(ApiError::conflict(format!(
                "`{}` overlaps external location `{}`; external locations may not nest",
                req.url, other.name
            )));
        }
    }
    if req.teams.is_empty() {
        return Err(ApiError::bad_request(
            "an external location needs at least one team (`domain.team`) that may register under it",
        ));
    }
    let mut teams = Vec::with_capacity(req.teams.len());
    for qualified in &req.teams {
        let (_, team) = lookup::team_by_qualified_name(state, qualified).await?;
        if !teams.contains(&team.id) {
            teams.push(team.id);
        }
    }
    let location = ExternalLocation {
        id: new_id(),
        name: req.name,
        url: loc.url().to_string(),
        teams,
        writable: req.writable,
        description: req.description,
        created_by: caller.id(),
        created_at: Utc::now(),
    };
    let event = audit(
        caller,
        "external_location.create",
        "external_location",
        location.id,
    )
    .with_detail(json!({
        "name": location.name, "url": location.url, "teams": req.teams,
        "writable": location.writable,
    }));
    state
        .store
        .create_external_location(&location, event)
        .await?;
    ExternalLocationView::load(state, location).await
}

async fn location_by_name(state: &AppState, name: &str) -> ApiResult<ExternalLocation> {
    state
        .store
        .get_external_location_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("external location", name))
}

#[utoipa::path(
    post,
    path = "/external-locations",
    operation_id = "locations_create",
    tag = "external-locations",
    request_body = NewExternalLocation,
    responses(
        (status = 201, description = "Created", body = ExternalLocationView),
        crate::error::ApiErrors,
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewExternalLocation>,
) -> ApiResult<(StatusCode, Json<ExternalLocationView>)> {
    let view = create_location(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(
    get,
    path = "/external-locations",
    operation_id = "locations_list",
    tag = "external-locations",
    responses(
        (status = 200, description = "OK", body = Vec<ExternalLocationView>),
        crate::error::ApiErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ExternalLocationView>>> {
    Ok(Json(list_locations(&state, &caller).await?))
}

/// Every external location, for whoever may manage them.
async fn list_locations(state: &AppState, caller: &Caller) -> ApiResult<Vec<ExternalLocationView>> {
    admit(state, caller, "list external locations")?;
    let mut out = Vec::new();
    for l in state.store.list_external_locations().await? {
        out.push(ExternalLocationView::load(state, l).await?);
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/external-locations/{name}",
    operation_id = "show",
    tag = "external-locations",
    params(
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 200, description = "OK", body = ExternalLocationView),
        crate::error::ApiErrors,
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ExternalLocationView>> {
    admit(&state, &caller, "read external locations")?;
    let l = location_by_name(&state, &name).await?;
    Ok(Json(ExternalLocationView::load(&state, l).await?))
}

#[utoipa::path(
    delete,
    path = "/external-locations/{name}",
    operation_id = "remove",
    tag = "external-locations",
    params(
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    remove_location(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an external location, for whoever may manage them.
async fn remove_location(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    admit(state, caller, "delete external locations")?;
    let l = location_by_name(state, name).await?;
    let event = audit(
        caller,
        "external_location.delete",
        "external_location",
        l.id,
    )
    .with_detail(json!({"name": l.name, "url": l.url}));
    state.store.delete_external_location(l.id, event).await?;
    Ok(())
}

// ----- the rules of registration and writes -----

/// The location a table of `team`'s product may be registered at, normalized, or why not:
/// 400 for something that is no location this build reads, 403 inside the data root or
/// outside every external location listing the team, 409 over another table (or one of
/// `pending`, the other tables of the same request).
pub async fn registrable(
    state: &AppState,
    qualified_team: &str,
    team: &Team,
    input: &str,
    pending: &[Location],
) -> ApiResult<Location> {
    let loc = Location::parse(input)?;
    if touches_data_root(state, &loc) {
        return Err(ApiError::forbidden(format!(
            "`{input}` lies in the data root (or contains it), where meshgate keeps its managed tables; a managed table is read through a share, never registered"
        )));
    }
    let external = state.store.list_external_locations().await?;
    let covering: Vec<&ExternalLocation> = external
        .iter()
        .filter(|l| stored(&l.url).is_some_and(|o| o.contains(&loc)))
        .collect();
    if covering.is_empty() {
        return Err(ApiError::forbidden(format!(
            "`{input}` is under no external location; registering an existing table takes an external location that lists team `{qualified_team}` (an admin declares one with `meshgate external-location create`)"
        )));
    }
    if !covering.iter().any(|l| l.teams.contains(&team.id)) {
        let names: Vec<&str> = covering.iter().map(|l| l.name.as_str()).collect();
        return Err(ApiError::forbidden(format!(
            "team `{qualified_team}` may not register tables under external location `{}`: it is not one of the location's teams",
            names.join("`, `")
        )));
    }
    let taken = pending.iter().any(|p| p.overlaps(&loc))
        || state
            .store
            .list_all_tables()
            .await?
            .iter()
            .any(|t| stored(&t.location).is_some_and(|o| o.overlaps(&loc)));
    if taken {
        return Err(ApiError::conflict(format!(
            "`{input}` overlaps the location of another table (it lies inside it or contains it); a location belongs to one table"
        )));
    }
    Ok(loc)
}

/// Why `table` of `product` may not be written, if it may not: a registered table accepts
/// writes only under a `writable` external location that lists the product's team.
pub async fn write_refusal(
    state: &AppState,
    product: &DataProduct,
    table: &ProductTable,
) -> ApiResult<Option<String>> {
    if table.managed {
        return Ok(None);
    }
    let Some(loc) = stored(&table.location) else {
        return Ok(Some(
            "it is a registered table at no location this build reads".into(),
        ));
    };
    let writable = state
        .store
        .list_external_locations()
        .await?
        .iter()
        .any(|l| {
            l.writable
                && l.teams.contains(&product.team_id)
                && stored(&l.url).is_some_and(|o| o.contains(&loc))
        });
    Ok((!writable).then(|| {
        "it is a registered table, read-only: no writable external location that lists the product's team contains it (an admin can declare one with `--writable`)".to_string()
    }))
}
