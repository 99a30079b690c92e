//! Tags and classification of tables and columns. A classification is one of the tags
//! (`public`, `internal`, `confidential`, `restricted`), so tag masks apply to it like to any
//! tag.

use axum::Json;
use axum::extract::State;
use axum::routing::put;
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{self as model, Classification, TableTags};
use meshgate_core::model::ProductTable;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams};
use crate::lookup::{ColumnName, ProductPath, ProductRef, TableName, audit};
use crate::state::AppState;

/// The routes of table and column tags and classification, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/products/{domain}/{product}/tables/{table}/table-tags",
            put(set_table_tags),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/classification",
            put(classify_table),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/classification",
            put(classify_column),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TagsBody {
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ClassificationBody {
    /// `public`, `internal`, `confidential`, `restricted`, or null to remove it.
    pub classification: Option<String>,
}

pub(super) fn parse_classification(raw: Option<&str>) -> ApiResult<Option<Classification>> {
    raw.map(|c| {
        c.parse::<Classification>().map_err(|_| {
            ApiError::bad_request(format!(
                "classification: unknown classification `{c}`; use one of: {}",
                Classification::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    })
    .transpose()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagsView {
    pub table: String,
    #[schema(required)]
    pub column: Option<String>,
    pub tags: Vec<String>,
    #[schema(required)]
    pub classification: Option<Classification>,
}

async fn current_table_tags(state: &AppState, table: &ProductTable) -> ApiResult<Vec<String>> {
    Ok(state
        .store
        .table_tags(table.product_id)
        .await?
        .into_iter()
        .find(|t| t.table_id == table.id)
        .map(|t| t.tags)
        .unwrap_or_default())
}

async fn write_table_tags(
    state: &AppState,
    caller: &Caller,
    qualified: String,
    table: &ProductTable,
    tags: Vec<String>,
) -> ApiResult<TagsView> {
    let value = TableTags {
        table_id: table.id,
        tags,
    };
    let event = audit(caller, "table.tag", "table", table.id)
        .with_detail(json!({"table": qualified, "tags": value.tags}));
    state.store.set_table_tags(&value, event).await?;
    Ok(TagsView {
        table: qualified,
        column: None,
        classification: Classification::of_tags(&value.tags),
        tags: value.tags,
    })
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/table-tags",
    operation_id = "set_table_tags",
    tag = "products",
    params(ProductPath, TableName),
    request_body = TagsBody,
    responses(
        (status = 200, description = "OK", body = TagsView),
        crate::error::ApiErrors,
    ),
)]
async fn set_table_tags(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    JsonBody(body): JsonBody<TagsBody>,
) -> ApiResult<Json<TagsView>> {
    Ok(Json(tag_table(&state, &caller, p, &table, body).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/classification",
    operation_id = "classify_table",
    tag = "products",
    params(ProductPath, TableName),
    request_body = ClassificationBody,
    responses(
        (status = 200, description = "OK", body = TagsView),
        crate::error::ApiErrors,
    ),
)]
async fn classify_table(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    JsonBody(body): JsonBody<ClassificationBody>,
) -> ApiResult<Json<TagsView>> {
    Ok(Json(
        set_table_classification(&state, &caller, p, &table, body).await?,
    ))
}

/// A column's classification is a tag of its (existing) column tags, so tag masks apply to
/// it like to any tag.
#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/classification",
    operation_id = "classify_column",
    tag = "products",
    params(ProductPath, TableName, ColumnName),
    request_body = ClassificationBody,
    responses(
        (status = 200, description = "OK", body = TagsView),
        crate::error::ApiErrors,
    ),
)]
async fn classify_column(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    JsonBody(body): JsonBody<ClassificationBody>,
) -> ApiResult<Json<TagsView>> {
    Ok(Json(
        set_column_classification(&state, &caller, p, &table, column, body).await?,
    ))
}

/// Replaces the tags of table `table` of `p` (owners and stewards; a caller who may not change
/// the product is refused whether or not the table exists).
pub async fn tag_table(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
    table: &str,
    body: TagsBody,
) -> ApiResult<TagsView> {
    p.check_editable(state, caller)?;
    let t = p.table(state, table).await?;
    let tags = model::normalize_tags(body.tags)?;
    write_table_tags(state, caller, t.qualified(), &t.table, tags).await
}

/// Sets (or, with null, removes) the classification of table `table` of `p`.
pub async fn set_table_classification(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
    table: &str,
    body: ClassificationBody,
) -> ApiResult<TagsView> {
    p.check_editable(state, caller)?;
    let t = p.table(state, table).await?;
    let to = parse_classification(body.classification.as_deref())?;
    let tags = Classification::set_in(&current_table_tags(state, &t.table).await?, to);
    write_table_tags(state, caller, t.qualified(), &t.table, tags).await
}

/// Sets (or, with null, removes) the classification of a column: a tag of its column tags.
pub async fn set_column_classification(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
    table: &str,
    column: String,
    body: ClassificationBody,
) -> ApiResult<TagsView> {
    p.check_editable(state, caller)?;
    let t = p.table(state, table).await?;
    let qualified = t.qualified();
    let t = t.table;
    if !t.columns.iter().any(|c| c.name == column) {
        return Err(ApiError::not_found(
            "column",
            &format!("{qualified}.{column}"),
        ));
    }
    let to = parse_classification(body.classification.as_deref())?;
    let current = state
        .store
        .column_tags(t.id)
        .await?
        .into_iter()
        .find(|c| c.column == column)
        .map(|c| c.tags)
        .unwrap_or_default();
    let value = ColumnTags {
        table_id: t.id,
        column: column.clone(),
        tags: Classification::set_in(&current, to),
    };
    let event = audit(caller, "column.classify", "table", t.id).with_detail(
        json!({"table": qualified, "column": column, "classification": to, "tags": value.tags}),
    );
    state.store.set_column_tags(&value, event).await?;
    Ok(TagsView {
        table: qualified,
        column: Some(column),
        classification: to,
        tags: value.tags,
    })
}
