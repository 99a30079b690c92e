//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes` and
//! `/Schemas`, for a SCIM token like every other SCIM endpoint.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::error::{ScimError, ScimResult};
use super::reply::Scim;
use super::request::ScimCaller;
use super::resource::base_url;
use super::schema::{self, GROUP, LIST_URN, ResourceDef, USER};
use crate::state::AppState;

const RESOURCES: [&ResourceDef; 2] = [&USER, &GROUP];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_URN],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

async fn service_provider_config(State(state): State<AppState>, _: ScimCaller) -> Scim {
    Scim(schema::service_provider_config(&base_url(&state)))
}

async fn resource_types(State(state): State<AppState>, _: ScimCaller) -> Scim {
    let base = base_url(&state);
    Scim(list(
        RESOURCES
            .iter()
            .map(|d| schema::resource_type_json(d, &base))
            .collect(),
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    _: ScimCaller,
    Path(id): Path<String>,
) -> ScimResult<Scim> {
    let def = RESOURCES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "resource type `{id}` not found: there are User and Group"
            ))
        })?;
    Ok(Scim(schema::resource_type_json(def, &base_url(&state))))
}

async fn schemas(State(state): State<AppState>, _: ScimCaller) -> Scim {
    let base = base_url(&state);
    Scim(list(
        RESOURCES
            .iter()
            .map(|d| schema::schema_json(d, &base))
            .collect(),
    ))
}

async fn schema(
    State(state): State<AppState>,
    _: ScimCaller,
    Path(id): Path<String>,
) -> ScimResult<Scim> {
    let def = RESOURCES
        .iter()
        .find(|d| d.urn.eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "schema `{id}` not found: there are {} and {}",
                USER.urn, GROUP.urn
            ))
        })?;
    Ok(Scim(schema::schema_json(def, &base_url(&state))))
}
