//! The governed catalog (issue 7): listing states of products, catalog metadata (description,
//! table and column classification and tags, glossary terms), the domain hierarchy, and
//! search; metadata forms and enforcement rules are in [`forms`], the business glossary in
//! [`glossary`], the search index in [`search`].
//!
//! **Listing states.** A product is `draft`, `published` or `unpublished`. Published products
//! are visible to everyone (their metadata, never their data) and can be requested; drafts and
//! unpublished products only to their owning team's members and admins, and cannot be
//! requested. Products are created published, as before the catalog existed, unless created
//! with `draft: true` or in a domain where a publish rule applies (then they start as drafts).
//! Every change to a product's catalog metadata bumps its revision; what is published is
//! always the latest revision, and a published product must keep satisfying its publish rules
//! (removing a form one requires is refused until it is unpublished). Unpublishing keeps
//! existing shares: grants stay in force, only new requests are refused.
//!
//! **The search index follows the store.** It is rebuilt from the store at start-up, and each
//! write here (and each product create, append, tag or delete elsewhere) reindexes the
//! products it touched before the API call returns, so a search after a write sees it.

pub mod forms;
pub mod glossary;
pub mod index;
pub mod requests;
pub mod search;

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use meshgate_authz::{Action, Resource};
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{
    self as model, Classification, FormTargetKind, ListingAction, ListingState, RuleAction,
    TableTags, TermLink, listing_step,
};
use meshgate_core::model::{Domain, ProductTable};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::lookup;
use crate::lookup::{audit, authorize, editable_product, product_resource, table_of};
use crate::state::AppState;
pub use index::Catalog;
use index::Names;
use search::{SearchQuery, SearchResults, Viewer};

/// The routes of the catalog, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/search", get(search_catalog))
        .route("/products/{domain}/{product}", patch(update_product))
        .route("/products/{domain}/{product}/catalog", get(product_catalog))
        .route("/products/{domain}/{product}/publish", post(publish))
        .route("/products/{domain}/{product}/unpublish", post(unpublish))
        .route(
            "/products/{domain}/{product}/terms/{term}",
            put(attach_product_term).delete(detach_product_term),
        )
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
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
            put(attach_column_term).delete(detach_column_term),
        )
        .route("/domains/{domain}/parent", put(set_parent))
        .merge(forms::routes())
        .merge(glossary::routes())
}

// ----- creation and listing states -----

/// The listing a new product starts in: `draft` when asked for, or when a publish rule
/// applies to its domain (its forms cannot be filled before it exists); else `published`.
pub async fn initial_listing(
    state: &AppState,
    domain: &Domain,
    draft: bool,
) -> ApiResult<ListingState> {
    if draft {
        return Ok(ListingState::Draft);
    }
    let rules = state.store.list_rules().await?;
    let parents = forms::domain_parents(state).await?;
    let applies = !model::applicable_rules(&rules, &parents, domain.id, RuleAction::PublishProduct)
        .is_empty();
    Ok(if applies {
        ListingState::Draft
    } else {
        ListingState::Published
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListingView {
    pub product: String,
    pub listing: ListingState,
    pub revision: i64,
}

async fn change_listing(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    action: ListingAction,
) -> ApiResult<ListingView> {
    let (d, p) = crate::lookup::product_by_name(state, caller, domain, product).await?;
    let qualified = format!("{}.{}", d.name, p.name);
    authorize(
        state,
        caller,
        Action::PublishProduct,
        &product_resource(&p),
        &format!("{action} `{qualified}`"),
    )?;
    let Some(to) = listing_step(&qualified, p.listing, action)? else {
        return Ok(ListingView {
            product: qualified,
            listing: p.listing,
            revision: p.revision,
        });
    };
    if to == ListingState::Published {
        let present: Vec<Uuid> = state
            .store
            .forms_of(FormTargetKind::Product, p.id)
            .await?
            .iter()
            .map(|f| f.form_type_id)
            .collect();
        let missing = forms::missing_for(state, d.id, RuleAction::PublishProduct, &present).await?;
        if !missing.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "missing_forms",
                format!(
                    "cannot publish `{qualified}`: missing metadata form(s) {missing}; fill them with `meshgate form set --product {qualified} <form> …`"
                ),
            ));
        }
    }
    let event = audit(caller, &format!("product.{action}"), "data_product", p.id).with_detail(
        json!({"product": qualified, "from": p.listing, "to": to, "revision": p.revision}),
    );
    let after = state.store.set_listing(p.id, p.listing, to, event).await?;
    Ok(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    })
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/publish",
    operation_id = "publish",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::openapi::ApiErrors,
    ),
)]
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(
        change_listing(&state, &caller, &domain, &product, ListingAction::Publish).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/unpublish",
    operation_id = "unpublish",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::openapi::ApiErrors,
    ),
)]
async fn unpublish(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(
        change_listing(&state, &caller, &domain, &product, ListingAction::Unpublish).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ProductPatch {
    pub description: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/products/{domain}/{product}",
    operation_id = "update_product",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "OK", body = ListingView),
        crate::openapi::ApiErrors,
    ),
)]
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> ApiResult<Json<ListingView>> {
    let (d, p) = editable_product(&state, &caller, &domain, &product).await?;
    let qualified = format!("{}.{}", d.name, p.name);
    let Some(description) = patch.description else {
        return Err(ApiError::bad_request(
            "nothing to change: send `description`",
        ));
    };
    if description.len() > model::MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "description: longer than {} bytes",
            model::MAX_TEXT
        )));
    }
    let event = audit(&caller, "product.update", "data_product", p.id)
        .with_detail(json!({"product": qualified, "description": description}));
    let after = state
        .store
        .update_product_description(p.id, &description, event)
        .await?;
    Ok(Json(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    }))
}

// ----- classification, tags and terms on tables and columns -----

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

fn parse_classification(raw: Option<&str>) -> ApiResult<Option<Classification>> {
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

#[derive(Debug, Serialize)]
pub struct TagsView {
    pub table: String,
    pub column: Option<String>,
    pub tags: Vec<String>,
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
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = TagsBody,
    responses(
        (status = 200, description = "OK: `TagsView`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn set_table_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<TagsBody>,
) -> ApiResult<Json<TagsView>> {
    let (d, p) = editable_product(&state, &caller, &domain, &product).await?;
    let t = table_of(&state, &d, &p, &table).await?;
    let tags = model::normalize_tags(body.tags)?;
    let qualified = format!("{}.{}.{}", d.name, p.name, t.name);
    Ok(Json(
        write_table_tags(&state, &caller, qualified, &t, tags).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/classification",
    operation_id = "classify_table",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = ClassificationBody,
    responses(
        (status = 200, description = "OK: `TagsView`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn classify_table(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ClassificationBody>,
) -> ApiResult<Json<TagsView>> {
    let (d, p) = editable_product(&state, &caller, &domain, &product).await?;
    let t = table_of(&state, &d, &p, &table).await?;
    let to = parse_classification(body.classification.as_deref())?;
    let tags = Classification::set_in(&current_table_tags(&state, &t).await?, to);
    let qualified = format!("{}.{}.{}", d.name, p.name, t.name);
    Ok(Json(
        write_table_tags(&state, &caller, qualified, &t, tags).await?,
    ))
}

/// A column's classification is a tag of its (existing) column tags, so tag masks apply to
/// it like to any tag.
#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/classification",
    operation_id = "classify_column",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("column" = String, Path, description = "Column name", example = "region"),
    ),
    request_body = ClassificationBody,
    responses(
        (status = 200, description = "OK: `TagsView`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn classify_column(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, column)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody<ClassificationBody>,
) -> ApiResult<Json<TagsView>> {
    let (d, p) = editable_product(&state, &caller, &domain, &product).await?;
    let t = table_of(&state, &d, &p, &table).await?;
    let qualified = format!("{}.{}.{}", d.name, p.name, t.name);
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
    let event = audit(&caller, "column.classify", "table", t.id).with_detail(
        json!({"table": qualified, "column": column, "classification": to, "tags": value.tags}),
    );
    state.store.set_column_tags(&value, event).await?;
    Ok(Json(TagsView {
        table: qualified,
        column: Some(column),
        classification: to,
        tags: value.tags,
    }))
}

async fn term_link(
    state: &AppState,
    caller: &Caller,
    path: (String, String, Option<(String, String)>),
    term: &str,
    attach: bool,
) -> ApiResult<Json<Value>> {
    let (domain, product, column) = path;
    let (d, p) = editable_product(state, caller, &domain, &product).await?;
    let (g, t) = glossary::term_by_qualified(state, term).await?;
    let mut target = format!("{}.{}", d.name, p.name);
    let mut link = TermLink {
        term_id: t.id,
        product_id: p.id,
        table_id: None,
        column: None,
    };
    if let Some((table, column)) = column {
        let tbl = table_of(state, &d, &p, &table).await?;
        target = format!("{target}.{}.{column}", tbl.name);
        if !tbl.columns.iter().any(|c| c.name == column) {
            return Err(ApiError::not_found("column", &target));
        }
        link.table_id = Some(tbl.id);
        link.column = Some(column);
    }
    let qualified_term = format!("{}.{}", g.name, t.name);
    if attach {
        if !g.enabled || !t.enabled {
            return Err(ApiError::bad_request(format!(
                "term: glossary term `{qualified_term}` is disabled{}; enable it to attach it",
                if g.enabled { "" } else { " (its glossary is)" }
            )));
        }
        let event = audit(caller, "term.attach", "data_product", p.id)
            .with_detail(json!({"term": qualified_term, "to": target}));
        state.store.link_term(&link, event).await?;
    } else {
        let event = audit(caller, "term.detach", "data_product", p.id)
            .with_detail(json!({"term": qualified_term, "from": target}));
        state
            .store
            .unlink_term(&link, event)
            .await
            .map_err(|e| match e {
                meshgate_core::Error::NotFound { .. } => ApiError::not_found(
                    "glossary term link",
                    &format!("{qualified_term} on {target}"),
                ),
                other => other.into(),
            })?;
    }
    Ok(Json(
        json!({"term": qualified_term, "target": target, "attached": attach}),
    ))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/terms/{term}",
    operation_id = "attach_product_term",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn attach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, term)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(&state, &caller, (domain, product, None), &term, true).await
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/terms/{term}",
    operation_id = "detach_product_term",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn detach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, term)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(&state, &caller, (domain, product, None), &term, false).await
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
    operation_id = "attach_column_term",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("column" = String, Path, description = "Column name", example = "region"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn attach_column_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, column, term)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(
        &state,
        &caller,
        (domain, product, Some((table, column))),
        &term,
        true,
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
    operation_id = "detach_column_term",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("column" = String, Path, description = "Column name", example = "region"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 200, description = "OK", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn detach_column_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, column, term)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(
        &state,
        &caller,
        (domain, product, Some((table, column))),
        &term,
        false,
    )
    .await
}

// ----- a product's catalog entry -----

#[derive(Debug, Serialize)]
pub struct ColumnCatalog {
    pub name: String,
    pub data_type: String,
    pub description: String,
    pub tags: Vec<String>,
    pub classification: Option<Classification>,
    pub terms: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TableCatalog {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub classification: Option<Classification>,
    pub forms: Vec<forms::FormView>,
    pub columns: Vec<ColumnCatalog>,
}

#[derive(Debug, Serialize)]
pub struct Requirement {
    pub form: String,
    pub present: bool,
}

#[derive(Debug, Serialize)]
pub struct ProductCatalog {
    pub product: String,
    pub domain: String,
    pub team: String,
    pub description: String,
    pub listing: ListingState,
    pub revision: i64,
    pub classification: Option<Classification>,
    pub tags: Vec<String>,
    pub terms: Vec<String>,
    pub forms: Vec<forms::FormView>,
    /// The forms the publish rules of the product's domain require, and whether each is
    /// filled.
    pub publish_requirements: Vec<Requirement>,
    /// The forms a request for the product must carry.
    pub request_requirements: Vec<String>,
    pub tables: Vec<TableCatalog>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/catalog",
    operation_id = "product_catalog",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK: `ProductCatalog`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn product_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ProductCatalog>> {
    let (d, p) = crate::lookup::product_by_name(&state, &caller, &domain, &product).await?;
    let rows = state.store.catalog_rows(Some(p.id)).await?;
    let names = Names::load(state.store.as_ref()).await?;
    let form_views = forms::views(&state, &rows.forms).await?;
    let term_names = |links: Vec<&TermLink>| -> Vec<String> {
        links.iter().map(|l| names.term(l.term_id)).collect()
    };
    let mut tables = Vec::new();
    let mut all_tags: BTreeSet<String> = BTreeSet::new();
    for t in &rows.tables {
        let table_tags = rows
            .table_tags
            .iter()
            .find(|g| g.table_id == t.id)
            .map(|g| g.tags.clone())
            .unwrap_or_default();
        all_tags.extend(table_tags.iter().cloned());
        let mut columns = Vec::new();
        for c in &t.columns {
            let tags = rows
                .column_tags
                .iter()
                .find(|x| x.table_id == t.id && x.column == c.name)
                .map(|x| x.tags.clone())
                .unwrap_or_default();
            all_tags.extend(tags.iter().cloned());
            columns.push(ColumnCatalog {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                description: c.description.clone(),
                classification: Classification::of_tags(&tags),
                tags,
                terms: term_names(
                    rows.term_links
                        .iter()
                        .filter(|l| {
                            l.table_id == Some(t.id) && l.column.as_deref() == Some(&c.name)
                        })
                        .collect(),
                ),
            });
        }
        tables.push(TableCatalog {
            name: t.name.clone(),
            description: t.description.clone(),
            classification: Classification::of_tags(&table_tags),
            tags: table_tags,
            forms: form_views
                .iter()
                .filter(|f| f.target_id == t.id)
                .cloned()
                .collect(),
            columns,
        });
    }
    let present: Vec<Uuid> = rows
        .forms
        .iter()
        .filter(|f| f.target_kind == FormTargetKind::Product)
        .map(|f| f.form_type_id)
        .collect();
    let publish_requirements = forms::required(&state, d.id, RuleAction::PublishProduct)
        .await?
        .into_iter()
        .map(|(id, name)| Requirement {
            form: name,
            present: present.contains(&id),
        })
        .collect();
    let request_requirements = forms::required(&state, d.id, RuleAction::RequestAccess)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let tags: Vec<String> = all_tags.into_iter().collect();
    Ok(Json(ProductCatalog {
        product: format!("{}.{}", d.name, p.name),
        domain: d.name.clone(),
        team: names.team(p.team_id),
        description: p.description.clone(),
        listing: p.listing,
        revision: p.revision,
        classification: Classification::of_tags(&tags),
        tags,
        terms: term_names(
            rows.term_links
                .iter()
                .filter(|l| l.table_id.is_none())
                .collect(),
        ),
        forms: form_views
            .into_iter()
            .filter(|f| f.target_kind == FormTargetKind::Product)
            .collect(),
        publish_requirements,
        request_requirements,
        tables,
    }))
}

// ----- the domain hierarchy -----

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
        crate::openapi::ApiErrors,
    ),
)]
async fn set_parent(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(body): JsonBody<ParentBody>,
) -> ApiResult<Json<Domain>> {
    let d = lookup::domain_by_name(&state, &domain).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "change the domain hierarchy",
    )?;
    let parent = match &body.parent {
        Some(name) => Some(lookup::domain_by_name(&state, name).await.map_err(|_| {
            ApiError::bad_request(format!("parent: domain `{name}` does not exist"))
        })?),
        None => None,
    };
    let event = audit(&caller, "domain.set_parent", "domain", d.id)
        .with_detail(json!({"domain": d.name, "parent": body.parent}));
    state
        .store
        .set_domain_parent(d.id, parent.as_ref().map(|p| p.id), event)
        .await?;
    Ok(Json(lookup::domain_by_name(&state, &domain).await?))
}

// ----- search -----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text; empty lists everything visible.
    #[serde(default)]
    pub q: String,
    pub domain: Option<String>,
    /// `domain.team`
    pub team: Option<String>,
    /// Comma-separated; every one must be present.
    pub tag: Option<String>,
    pub classification: Option<String>,
    /// `glossary.term`; narrower (`is_a`) terms count too.
    pub term: Option<String>,
    pub listing: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/search",
    operation_id = "search_catalog",
    tag = "search",
    params(
        SearchParams,
    ),
    responses(
        (status = 200, description = "OK: `SearchResults`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn search_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    Ok(Json(search(&state, &caller, p).await?))
}

/// Searches the catalog as `caller` (see [`search`]).
pub async fn search(
    state: &AppState,
    caller: &Caller,
    p: SearchParams,
) -> ApiResult<SearchResults> {
    if p.q.len() > 1024 {
        return Err(ApiError::bad_request(
            "q: the search text is longer than 1024 bytes",
        ));
    }
    let limit = p.limit.unwrap_or(search::DEFAULT_LIMIT);
    if limit == 0 || limit > search::MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {}",
            search::MAX_LIMIT
        )));
    }
    let mut query = SearchQuery {
        text: p.q,
        limit,
        offset: p.offset.unwrap_or(0).min(10_000),
        ..Default::default()
    };
    if let Some(domain) = &p.domain {
        let d = lookup::domain_by_name(state, domain).await?;
        let names = Names::load(state.store.as_ref()).await?;
        query.domain_path = Some(names.domain_path(d.id));
    }
    if let Some(team) = &p.team {
        lookup::split_qualified(team, "team")?;
        query.team = Some(team.clone());
    }
    if let Some(tags) = &p.tag {
        query.tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
    }
    query.classification = parse_classification(p.classification.as_deref())?;
    if let Some(term) = &p.term {
        let (g, t) = glossary::term_by_qualified(state, term).await?;
        let names = Names::load(state.store.as_ref()).await?;
        let relations = state.store.term_relations().await?;
        let mut terms = vec![format!("{}.{}", g.name, t.name)];
        for narrower in glossary::narrower_closure(&relations, t.id) {
            terms.push(names.term(narrower));
        }
        query.terms = terms;
    }
    if let Some(l) = &p.listing {
        query.listing = Some(l.parse::<ListingState>().map_err(|_| {
            ApiError::bad_request(format!(
                "listing: unknown listing state `{l}`; use draft, published or unpublished"
            ))
        })?);
    }
    let viewer = if caller.actor.is_admin {
        Viewer::Admin
    } else {
        Viewer::Member {
            teams: caller.team_ids(),
        }
    };
    let catalog = state.catalog.clone();
    tokio::task::spawn_blocking(move || catalog.index.search(&viewer, &query))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}
