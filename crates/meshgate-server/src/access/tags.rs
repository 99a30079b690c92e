//! Column tags: the tags on a table's columns, which tag masks apply to (see
//! [`super::masks`]) and search finds.

use axum::Json;
use axum::extract::State;
use axum::routing::{get, put};
use meshgate_authz::Action;
use meshgate_core::access::ColumnTags;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams};
use crate::lookup::{ColumnName, TablePath, TableRef, audit, authorize, product_resource};
use crate::state::AppState;

/// The routes of column tags, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/products/{domain}/{product}/tables/{table}/tags",
            get(list_tags),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/tags",
            put(set_tags),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TagsRequest {
    pub tags: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/tags",
    operation_id = "list_tags",
    tag = "products",
    params(TablePath),
    responses(
        (status = 200, description = "OK", body = Vec<ColumnTags>),
        crate::error::ApiErrors,
    ),
)]
async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
) -> ApiResult<Json<Vec<ColumnTags>>> {
    Ok(Json(column_tags(&state, &caller, &t).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/tags",
    operation_id = "set_tags",
    tag = "products",
    params(TablePath, ColumnName),
    request_body = TagsRequest,
    responses(
        (status = 200, description = "OK", body = ColumnTags),
        crate::error::ApiErrors,
    ),
)]
async fn set_tags(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    JsonBody(req): JsonBody<TagsRequest>,
) -> ApiResult<Json<ColumnTags>> {
    Ok(Json(tag_column(&state, &caller, &t, column, req).await?))
}

/// The tags of the columns of `t`, for whoever may view its product (a draft's metadata is
/// its team's: [`TablePath`] found the table only if the caller may see the product).
pub async fn column_tags(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
) -> ApiResult<Vec<ColumnTags>> {
    authorize(
        state,
        caller,
        Action::ViewProduct,
        &product_resource(&t.product),
        "view this product",
    )?;
    Ok(state.store.column_tags(t.table.id).await?)
}

/// Replaces the tags of `column` of `t` (owners and stewards).
pub async fn tag_column(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    column: String,
    req: TagsRequest,
) -> ApiResult<ColumnTags> {
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "tag columns of this product",
    )?;
    if !t.table.columns.iter().any(|c| c.name == column) {
        return Err(ApiError::not_found(
            "column",
            &format!("{}.{column}", t.qualified()),
        ));
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in req.tags {
        meshgate_core::names::validate("tag", &tag).map_err(ApiError::from)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let value = ColumnTags {
        table_id: t.table.id,
        column: column.clone(),
        tags,
    };
    let event = audit(caller, "column.tag", "table", t.table.id)
        .with_detail(json!({"table": t.qualified(), "column": column, "tags": value.tags}));
    state.store.set_column_tags(&value, event).await?;
    Ok(value)
}
