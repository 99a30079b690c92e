//! Fine-grained access (docs/design/ACCESS.md) on the control plane: data filters, row rules, column
//! tags and tag-driven masks, the scopes approvers attach to share items, and the resolution
//! of a principal's grants into the [`TableAccess`] the query engine enforces.
//!
//! Every write is checked against the table's current schema when it is saved (a filter that
//! does not compile is refused with its position), bumps the policy version (so it takes
//! effect on everyone's next query) and is audited.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::access::{ColumnTags, DataFilter, GrantScope, Mask, RowRule, TagMask};
use meshgate_core::model::{DataProduct, Grant, Grantee, ProductTable};
use meshgate_engine::arrow::datatypes::SchemaRef;
use meshgate_engine::datafusion::common::ScalarValue;
use meshgate_engine::ingest;
use meshgate_engine::policy::{self};
use meshgate_engine::secure::MaskKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::lookup;
use crate::lookup::{TableRef, audit, authorize, product_by_name, product_resource, table_ref};
use crate::state::AppState;

/// The routes of this module, under `/api/v1`.
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
        .route(
            "/products/{domain}/{product}/tables/{table}/tags",
            get(list_tags),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/tags",
            put(set_tags),
        )
        .route(
            "/products/{domain}/{product}/row-rules",
            get(export_rules).put(import_rules),
        )
        .route("/tag-masks", get(list_tag_masks).put(put_tag_mask))
        .route("/tag-masks/{id}", delete(delete_tag_mask))
        .route("/mesh/mask-key/rotate", post(rotate_mask_key))
}

/// The table's current Arrow schema, read from its Delta log.
async fn schema_of(table: &ProductTable) -> ApiResult<SchemaRef> {
    let location = url::Url::parse(&table.location).map_err(ApiError::internal)?;
    let delta = ingest::open(&location).await.map_err(ApiError::internal)?;
    ingest::arrow_schema(&delta).map_err(ApiError::internal)
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{field}: {message}"))
}

/// Columns named in a list must exist; reports every unknown one.
fn check_columns(schema: &SchemaRef, columns: &[String], field: &str) -> ApiResult<()> {
    let unknown: Vec<&str> = columns
        .iter()
        .filter(|c| schema.field_with_name(c).is_err())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(
            field,
            format!(
                "unknown column(s) {}; the table has: {}",
                quoted(&unknown),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if columns.is_empty() {
        return Err(invalid(
            field,
            "must name at least one column (omit it for all)",
        ));
    }
    Ok(())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_filter_text(schema: &SchemaRef, text: &str) -> ApiResult<()> {
    policy::validate_filter(text, schema).map_err(|e| invalid("row_filter", e))
}

fn check_masks(schema: &SchemaRef, masks: &BTreeMap<String, Mask>) -> ApiResult<()> {
    for (column, mask) in masks {
        let field = schema
            .field_with_name(column)
            .map_err(|_| invalid("masks", format!("unknown column `{column}`")))?;
        policy::validate_mask(mask, field, schema)
            .map_err(|e| invalid("masks", format!("column `{column}`: {e}")))?;
    }
    Ok(())
}

// ----- data filters -----

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
        (status = 200, description = "OK: `Vec<DataFilter>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        (status = 200, description = "OK: `DataFilter`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        (status = 201, description = "Created: `DataFilter`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        (status = 200, description = "OK: `DataFilter`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        crate::openapi::ApiErrors,
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

// ----- column tags and tag masks -----

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
        (status = 200, description = "OK: `Vec<ColumnTags>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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
        (status = 200, description = "OK: `ColumnTags`", body = serde_json::Value),
        crate::openapi::ApiErrors,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TagMaskRequest {
    pub tag: String,
    #[schema(value_type = String)]
    pub mask: Mask,
    /// A domain name: the default applies to that domain's products only; absent = mesh-wide.
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TagMaskView {
    #[serde(flatten)]
    pub mask: TagMask,
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
        (status = 200, description = "OK: `Vec<TagMaskView>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_tag_masks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TagMaskView>>> {
    authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view tag masks",
    )?;
    let mut out = Vec::new();
    for m in state.store.list_tag_masks().await? {
        out.push(tag_mask_view(&state, m).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(
    put,
    path = "/tag-masks",
    operation_id = "put_tag_mask",
    tag = "tag-masks",
    request_body = TagMaskRequest,
    responses(
        (status = 200, description = "OK: `TagMaskView`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_tag_mask(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<TagMaskRequest>,
) -> ApiResult<Json<TagMaskView>> {
    meshgate_core::names::validate("tag", &req.tag).map_err(ApiError::from)?;
    let domain_id = match &req.domain {
        Some(name) => {
            let d = lookup::domain_by_name(&state, name).await?;
            authorize(
                &state,
                &caller,
                Action::UpdateDomain,
                &Resource::Domain { id: d.id },
                "set tag masks for this domain",
            )?;
            Some(d.id)
        }
        None => {
            authorize(
                &state,
                &caller,
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
    let event = audit(&caller, "tag_mask.put", "tag_mask", mask.id)
        .with_detail(json!({"tag": mask.tag, "mask": mask.mask, "domain": req.domain}));
    state.store.put_tag_mask(&mask, event).await?;
    Ok(Json(tag_mask_view(&state, mask).await?))
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
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_tag_mask(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let parsed = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("tag mask", &id))?;
    let mask = state
        .store
        .list_tag_masks()
        .await?
        .into_iter()
        .find(|m| m.id == parsed)
        .ok_or_else(|| ApiError::not_found("tag mask", &id))?;
    match mask.domain_id {
        Some(d) => authorize(
            &state,
            &caller,
            Action::UpdateDomain,
            &Resource::Domain { id: d },
            "remove tag masks of this domain",
        )?,
        None => authorize(
            &state,
            &caller,
            Action::CreateDomain,
            &Resource::Mesh,
            "remove mesh-wide tag masks",
        )?,
    }
    let event = audit(&caller, "tag_mask.delete", "tag_mask", mask.id)
        .with_detail(json!({"tag": mask.tag}));
    state.store.delete_tag_mask(mask.id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- the mask key -----

#[derive(Debug, Serialize)]
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
        (status = 200, description = "OK: `RotatedKey`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn rotate_mask_key(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<RotatedKey>> {
    // Mesh-wide mask settings are the admins', as mesh-wide tag masks are.
    authorize(
        &state,
        &caller,
        Action::CreateDomain,
        &Resource::Mesh,
        "rotate the mesh's mask key",
    )?;
    let event = audit(&caller, "mesh.mask_key.rotate", "mesh", "mask_key");
    state.store.rotate_mask_key(event).await?;
    let key_id = MaskKey::new(state.store.mask_key().await?).id();
    crate::snapshot::forget_all(&state);
    tracing::info!(key_id = %key_id, by = %caller.principal.name, "the mask key was rotated");
    Ok(Json(RotatedKey {
        key_id,
        rotated_at: Utc::now(),
    }))
}

// ----- row rules (QuickSight format) -----

const USER_NAME: &str = "UserName";
const GROUP_NAME: &str = "GroupName";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RulesQuery {
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/row-rules",
    operation_id = "export_rules",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        RulesQuery,
    ),
    responses(
        (
            status = 200,
            description = "The product's row rules: JSON (the default) or CSV (`format=csv` or `Accept: text/csv`)",
            content((serde_json::Value = "application/json"), ("text/csv")),
        ),
        crate::openapi::ApiErrors,
    ),
)]
async fn export_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    Params(q): Params<RulesQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (_, p) = product_by_name(&state, &caller, &domain, &product).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&p),
        "view the row rules of this product",
    )?;
    let rules = state.store.row_rules(p.id).await?;
    let csv = q.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if csv {
        let body = rules_to_csv(&rules).map_err(ApiError::internal)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(rules).into_response())
}

/// Replaces the product's row rules: a QuickSight rules CSV (`Content-Type: text/csv`) or a
/// JSON list of rules. An empty CSV (header only) or `[]` removes them.
#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/row-rules",
    operation_id = "import_rules",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body(description = "The row rules: a JSON array, or CSV (`Content-Type: text/csv`)", content((Vec<serde_json::Value> = "application/json"), ("text/csv"))),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn import_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (d, p) = product_by_name(&state, &caller, &domain, &product).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateProduct,
        &product_resource(&p),
        "set the row rules of this product",
    )?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/csv") || c.starts_with("text/plain"));
    let rules = if is_csv {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("the rules CSV must be UTF-8"))?;
        rules_from_csv(text)?
    } else {
        serde_json::from_slice::<Vec<RowRule>>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?
    };
    validate_rules(&state, &p, &rules).await?;
    let event = audit(&caller, "row_rules.replace", "product", p.id).with_detail(json!({
        "product": format!("{}.{}", d.name, p.name), "rules": rules.len(),
    }));
    state.store.replace_row_rules(p.id, &rules, event).await?;
    Ok(Json(json!({"rules": rules.len()})))
}

/// Parses the QuickSight rules format: a header with `UserName` and/or `GroupName` and one
/// column per field; values are comma-separated lists inside a (quoted) cell; empty = all.
pub fn rules_from_csv(text: &str) -> ApiResult<Vec<RowRule>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("rules CSV: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let user_col = header.iter().position(|h| h == USER_NAME);
    let group_col = header.iter().position(|h| h == GROUP_NAME);
    if user_col.is_none() && group_col.is_none() {
        return Err(ApiError::bad_request(format!(
            "rules CSV: the header must have a `{USER_NAME}` or a `{GROUP_NAME}` column (or both)"
        )));
    }
    let mut seen = BTreeSet::new();
    for h in &header {
        if h.is_empty() || !seen.insert(h) {
            return Err(ApiError::bad_request(format!(
                "rules CSV: header columns must be named and unique; `{h}` is not"
            )));
        }
    }
    let mut rules = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ApiError::bad_request(format!("rules CSV: {e}")))?;
        let line = i + 2;
        let cell = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let user_name = cell(user_col);
        let group_name = cell(group_col);
        if user_name.is_none() && group_name.is_none() {
            return Err(ApiError::bad_request(format!(
                "rules CSV line {line}: a rule needs a {USER_NAME} or a {GROUP_NAME}"
            )));
        }
        let mut values = BTreeMap::new();
        for (c, h) in header.iter().enumerate() {
            if Some(c) == user_col || Some(c) == group_col {
                continue;
            }
            let raw = record.get(c).unwrap_or("");
            let list: Vec<String> = raw
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect();
            values.insert(h.clone(), list);
        }
        rules.push(RowRule {
            user_name,
            group_name,
            values,
        });
    }
    Ok(rules)
}

/// Writes rules in the QuickSight format (the inverse of [`rules_from_csv`]).
pub fn rules_to_csv(rules: &[RowRule]) -> Result<String, csv::Error> {
    let mut fields: Vec<&String> = rules.iter().flat_map(|r| r.values.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![USER_NAME.to_string(), GROUP_NAME.to_string()];
    header.extend(fields.iter().map(|f| f.to_string()));
    writer.write_record(&header)?;
    for r in rules {
        let mut row = vec![
            r.user_name.clone().unwrap_or_default(),
            r.group_name.clone().unwrap_or_default(),
        ];
        for f in &fields {
            row.push(r.values.get(*f).map(|v| v.join(",")).unwrap_or_default());
        }
        writer.write_record(&row)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Every user and group must exist, every field must be a column of one of the product's
/// tables, and every value must be valid for that column; all offenders are listed.
async fn validate_rules(
    state: &AppState,
    product: &DataProduct,
    rules: &[RowRule],
) -> ApiResult<()> {
    let mut types: HashMap<String, meshgate_engine::arrow::datatypes::DataType> = HashMap::new();
    for t in state.store.list_tables(product.id).await? {
        let schema = schema_of(&t).await?;
        for f in schema.fields() {
            types
                .entry(f.name().clone())
                .or_insert_with(|| f.data_type().clone());
        }
    }
    let mut problems = Vec::new();
    let mut unknown_users = BTreeSet::new();
    let mut unknown_groups = BTreeSet::new();
    let mut unknown_fields = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.user_name.is_none() && rule.group_name.is_none() {
            problems.push(format!(
                "rule {}: needs a {USER_NAME} or a {GROUP_NAME}",
                i + 1
            ));
        }
        if let Some(u) = &rule.user_name {
            match state.store.get_principal_by_name(u).await? {
                Some(p) if p.kind != meshgate_core::model::PrincipalKind::Group => {}
                _ => {
                    unknown_users.insert(u.clone());
                }
            }
        }
        if let Some(g) = &rule.group_name {
            match state.store.get_principal_by_name(g).await? {
                Some(p) if p.kind == meshgate_core::model::PrincipalKind::Group => {}
                _ => {
                    unknown_groups.insert(g.clone());
                }
            }
        }
        for (field, values) in &rule.values {
            let Some(data_type) = types.get(field) else {
                unknown_fields.insert(field.clone());
                continue;
            };
            for v in values {
                if ScalarValue::try_from_string(v.clone(), data_type).is_err() {
                    problems.push(format!(
                        "rule {}: `{v}` is not a valid {data_type} for field `{field}`",
                        i + 1
                    ));
                }
            }
        }
    }
    if !unknown_users.is_empty() {
        problems.push(format!(
            "unknown user(s): {}",
            unknown_users.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !unknown_groups.is_empty() {
        problems.push(format!(
            "unknown group(s): {}",
            unknown_groups.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !unknown_fields.is_empty() {
        problems.push(format!(
            "unknown field(s): {} (fields must be columns of the product's tables)",
            unknown_fields.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the row rules are invalid: {}",
            problems.join("; ")
        )))
    }
}

// ----- item scopes (what an approver attaches) -----

/// An approver's narrowing of one table item: data filters (by name), kept columns, masks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ItemScopeRequest {
    /// The table the item is for.
    pub table: String,
    #[serde(default)]
    pub data_filters: Vec<String>,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    pub masks: BTreeMap<String, Mask>,
}

/// Validates an approver's scope for `table` and turns filter names into ids. A mask that
/// conflicts with a mask the same grantee already holds on the table is refused (docs/design/ACCESS.md §Resolution,
/// at most one mask per column).
pub async fn scope_for(
    state: &AppState,
    table: &ProductTable,
    grantee: Grantee,
    req: &ItemScopeRequest,
) -> ApiResult<GrantScope> {
    let schema = schema_of(table).await?;
    let mut data_filters = Vec::new();
    for name in &req.data_filters {
        let f = state
            .store
            .get_data_filter_by_name(table.id, name)
            .await?
            .ok_or_else(|| {
                invalid(
                    "data_filters",
                    format!("table `{}` has no data filter `{name}`", table.name),
                )
            })?;
        data_filters.push(f.id);
    }
    if let Some(columns) = &req.columns {
        check_columns(&schema, columns, "columns")?;
    }
    check_masks(&schema, &req.masks)?;
    let held = grants_of_grantee(state, grantee, table.id).await?;
    for (column, mask) in &req.masks {
        if let Some(other) = held.iter().find_map(|g| g.scope.masks.get(column))
            && other != mask
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "column `{column}` of `{}` is already masked with `{other}` for this grantee; a column has at most one mask",
                    table.name
                ),
            ));
        }
    }
    Ok(GrantScope {
        data_filters,
        columns: req.columns.clone(),
        masks: req.masks.clone(),
    })
}

async fn grants_of_grantee(
    state: &AppState,
    grantee: Grantee,
    table: Uuid,
) -> ApiResult<Vec<Grant>> {
    let grants = match grantee {
        Grantee::Principal(p) => state.store.grants_for(p, &[]).await?,
        Grantee::Team(t) => state.store.grants_for(Uuid::nil(), &[t]).await?,
    };
    Ok(grants.into_iter().filter(|g| g.table_id == table).collect())
}
