//! Data filters: named row filters and column lists on a table, which approvers attach to
//! share items by name (docs/design/ACCESS.md).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use meshgate_authz::Action;
use meshgate_core::access::DataFilter;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::schema::{check_columns, check_filter_text, invalid, schema_of};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::{TableRef, audit, authorize, product_resource, table_ref};
use crate::state::AppState;

/// The routes of data filters, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/products/{domain}/{product}/tables/{table}/data-filters",
            get(list_filters).post(create_filter),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
            get(get_filter).put(update_filter).delete(delete_filter),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct FilterRequest {
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The row filter; absent or null = all rows.
    #[serde(default)]
    pub row_filter: Option<String>,
    /// The columns; absent or null = all.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/data-filters",
    operation_id = "list_filters",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<DataFilter>),
        crate::error::ApiErrors,
    ),
)]
async fn list_filters(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<DataFilter>>> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "view the data filters of this product",
    )?;
    Ok(Json(state.store.list_data_filters(t.table.id).await?))
}

async fn filter_by_name(state: &AppState, t: &TableRef, name: &str) -> ApiResult<DataFilter> {
    state
        .store
        .get_data_filter_by_name(t.table.id, name)
        .await?
        .ok_or_else(|| ApiError::not_found("data filter", &format!("{}/{name}", t.qualified())))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "get_filter",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 200, description = "OK", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn get_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<DataFilter>> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "view the data filters of this product",
    )?;
    Ok(Json(filter_by_name(&state, &t, &name).await?))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/data-filters",
    operation_id = "create_filter",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = FilterRequest,
    responses(
        (status = 201, description = "Created", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn create_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
    JsonBody(req): JsonBody<FilterRequest>,
) -> ApiResult<(StatusCode, Json<DataFilter>)> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "create data filters on this product",
    )?;
    let name = req
        .name
        .clone()
        .ok_or_else(|| invalid("name", "is required"))?;
    meshgate_core::names::validate("data filter", &name).map_err(ApiError::from)?;
    let schema = schema_of(&t.table).await?;
    if let Some(text) = &req.row_filter {
        check_filter_text(&schema, text)?;
    }
    if let Some(columns) = &req.columns {
        check_columns(&schema, columns, "columns")?;
    }
    let now = Utc::now();
    let filter = DataFilter {
        id: Uuid::now_v7(),
        product_id: t.product.id,
        table_id: t.table.id,
        name,
        description: req.description.unwrap_or_default(),
        row_filter: req.row_filter,
        columns: req.columns,
        created_by: caller.id(),
        created_at: now,
        updated_at: now,
    };
    let event = audit(&caller, "data_filter.create", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.create_data_filter(&filter, event).await?;
    Ok((StatusCode::CREATED, Json(filter)))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "update_filter",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    request_body = FilterRequest,
    responses(
        (status = 200, description = "OK", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn update_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, name)): Path<(String, String, String, String)>,
    JsonBody(req): JsonBody<FilterRequest>,
) -> ApiResult<Json<DataFilter>> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "change data filters on this product",
    )?;
    let mut filter = filter_by_name(&state, &t, &name).await?;
    if req.name.as_deref().is_some_and(|n| n != name) {
        return Err(invalid("name", "a data filter cannot be renamed"));
    }
    let schema = schema_of(&t.table).await?;
    if let Some(text) = &req.row_filter {
        check_filter_text(&schema, text)?;
    }
    if let Some(columns) = &req.columns {
        check_columns(&schema, columns, "columns")?;
    }
    if let Some(d) = req.description {
        filter.description = d;
    }
    filter.row_filter = req.row_filter;
    filter.columns = req.columns;
    filter.updated_at = Utc::now();
    let event = audit(&caller, "data_filter.update", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.update_data_filter(&filter, event).await?;
    Ok(Json(filter))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "delete_filter",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("name" = String, Path, description = "Name", example = "alice"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, name)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let t = table_ref(&state, &caller, &domain, &product, &table).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        "delete data filters on this product",
    )?;
    let filter = filter_by_name(&state, &t, &name).await?;
    let event = audit(&caller, "data_filter.delete", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.delete_data_filter(filter.id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
