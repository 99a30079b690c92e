//! Data filters: named row filters and column lists on a table, which approvers attach to
//! share items by name (docs/design/ACCESS.md).

use axum::Json;
use axum::extract::State;
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
use crate::extract::{Created, JsonBody, PathParams};
use crate::lookup::{TablePath, TableRef, audit, authorize, product_resource};
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

/// The route's `{name}`: a data filter of the table in the path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct FilterName {
    /// Name
    #[param(example = "alice")]
    name: String,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/data-filters",
    operation_id = "list_filters",
    tag = "products",
    params(TablePath),
    responses(
        (status = 200, description = "OK", body = Vec<DataFilter>),
        crate::error::ApiErrors,
    ),
)]
async fn list_filters(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
) -> ApiResult<Json<Vec<DataFilter>>> {
    Ok(Json(filters_of(&state, &caller, &t).await?))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "get_filter",
    tag = "products",
    params(TablePath, FilterName),
    responses(
        (status = 200, description = "OK", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn get_filter(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    PathParams(FilterName { name }): PathParams<FilterName>,
) -> ApiResult<Json<DataFilter>> {
    Ok(Json(filter(&state, &caller, &t, &name).await?))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/data-filters",
    operation_id = "create_filter",
    tag = "products",
    params(TablePath),
    request_body = FilterRequest,
    responses(
        (status = 201, description = "Created", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn create_filter(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    JsonBody(req): JsonBody<FilterRequest>,
) -> ApiResult<Created<DataFilter>> {
    Ok(Created(create(&state, &caller, &t, req).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "update_filter",
    tag = "products",
    params(TablePath, FilterName),
    request_body = FilterRequest,
    responses(
        (status = 200, description = "OK", body = DataFilter),
        crate::error::ApiErrors,
    ),
)]
async fn update_filter(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    PathParams(FilterName { name }): PathParams<FilterName>,
    JsonBody(req): JsonBody<FilterRequest>,
) -> ApiResult<Json<DataFilter>> {
    Ok(Json(update(&state, &caller, &t, &name, req).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/data-filters/{name}",
    operation_id = "delete_filter",
    tag = "products",
    params(TablePath, FilterName),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_filter(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    PathParams(FilterName { name }): PathParams<FilterName>,
) -> ApiResult<StatusCode> {
    delete(&state, &caller, &t, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fails with 403 unless the caller may manage the data filters of `t` (owners and
/// stewards); `what` says what it tried, for the message.
fn check_manager(state: &AppState, caller: &Caller, t: &TableRef, what: &str) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &product_resource(&t.product),
        what,
    )
}

async fn filter_by_name(state: &AppState, t: &TableRef, name: &str) -> ApiResult<DataFilter> {
    state
        .store
        .get_data_filter_by_name(t.table.id, name)
        .await?
        .ok_or_else(|| ApiError::not_found("data filter", &format!("{}/{name}", t.qualified())))
}

/// The data filters of `t`.
pub async fn filters_of(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
) -> ApiResult<Vec<DataFilter>> {
    check_manager(state, caller, t, "view the data filters of this product")?;
    Ok(state.store.list_data_filters(t.table.id).await?)
}

/// The data filter `name` of `t`.
pub async fn filter(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    name: &str,
) -> ApiResult<DataFilter> {
    check_manager(state, caller, t, "view the data filters of this product")?;
    filter_by_name(state, t, name).await
}

/// Creates a data filter on `t`, checked against the table's current schema.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    req: FilterRequest,
) -> ApiResult<DataFilter> {
    check_manager(state, caller, t, "create data filters on this product")?;
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
    let event = audit(caller, "data_filter.create", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.create_data_filter(&filter, event).await?;
    Ok(filter)
}

/// Changes the data filter `name` of `t` (it cannot be renamed).
pub async fn update(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    name: &str,
    req: FilterRequest,
) -> ApiResult<DataFilter> {
    check_manager(state, caller, t, "change data filters on this product")?;
    let mut filter = filter_by_name(state, t, name).await?;
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
    let event = audit(caller, "data_filter.update", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.update_data_filter(&filter, event).await?;
    Ok(filter)
}

/// Deletes the data filter `name` of `t`.
pub async fn delete(state: &AppState, caller: &Caller, t: &TableRef, name: &str) -> ApiResult<()> {
    check_manager(state, caller, t, "delete data filters on this product")?;
    let filter = filter_by_name(state, t, name).await?;
    let event = audit(caller, "data_filter.delete", "data_filter", filter.id)
        .with_detail(json!({"table": t.qualified(), "name": filter.name}));
    state.store.delete_data_filter(filter.id, event).await?;
    Ok(())
}
