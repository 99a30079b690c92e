//! Column tags: the tags on a table's columns, which tag masks apply to (see
//! [`super::masks`]) and search finds.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use meshgate_authz::Action;
use meshgate_core::access::ColumnTags;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::{audit, authorize, product_resource, table_ref};
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
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<ColumnTags>),
        crate::error::ApiErrors,
    ),
)]
async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<ColumnTags>>> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    // A draft's metadata is its team's (see `catalog`).
    if !crate::lookup::can_see(&caller, &t.product) {
        return Err(ApiError::not_found(
            "data product",
            &format!("{domain}.{product}"),
        ));
    }
    authorize(
        &state,
        &caller,
        Action::ViewProduct,
        &product_resource(&t.product),
        "view this product",
    )?;
    Ok(Json(state.store.column_tags(t.table.id).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/tags",
    operation_id = "set_tags",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("column" = String, Path, description = "Column name", example = "region"),
    ),
    request_body = TagsRequest,
    responses(
        (status = 200, description = "OK", body = ColumnTags),
        crate::error::ApiErrors,
    ),
)]
async fn set_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, column)): Path<(String, String, String, String)>,
    JsonBody(req): JsonBody<TagsRequest>,
) -> ApiResult<Json<ColumnTags>> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
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
    let event = audit(&caller, "column.tag", "table", t.table.id)
        .with_detail(json!({"table": t.qualified(), "column": column, "tags": value.tags}));
    state.store.set_column_tags(&value, event).await?;
    Ok(Json(value))
}
