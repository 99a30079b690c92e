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
pub mod search;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use meshgate_authz::{Action, Resource};
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{
    self as model, Classification, FormTargetKind, ListingAction, ListingState, MetadataForm,
    RelationKind, RuleAction, TableTags, TermLink, listing_step,
};
use meshgate_core::model::{DataProduct, Domain, ProductTable, Share, ShareItem};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::{JsonBody, Params};
use crate::service::{self, audit, authorize, product_resource};
use crate::state::AppState;
use search::{CatalogEntry, SearchIndex, SearchQuery, SearchResults, Viewer};

/// The catalog's search index and the lock that orders its updates: each update reads the
/// store and writes the index under it, so an older read never overwrites a newer one.
pub struct Catalog {
    pub index: SearchIndex,
    pub(crate) updates: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub fn new() -> Result<Catalog, String> {
        Ok(Catalog {
            index: SearchIndex::new().map_err(|e| e.to_string())?,
            updates: tokio::sync::Mutex::new(()),
        })
    }
}

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

// ----- visibility -----

/// Whether the caller may see a product's catalog entry: a published product, or any product
/// of a team the caller belongs to, or anything for an admin.
pub fn can_see(caller: &Caller, product: &DataProduct) -> bool {
    product.listing == ListingState::Published
        || caller.actor.is_admin
        || caller
            .actor
            .teams
            .iter()
            .any(|m| m.team_id == product.team_id)
}

/// A product by `domain.product` name that the caller may see; 404 otherwise (a draft does
/// not exist for outsiders).
pub async fn visible_product(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
) -> ApiResult<(Domain, DataProduct)> {
    let (d, p) = service::find_product(state, domain, product).await?;
    if !can_see(caller, &p) {
        return Err(ApiError::not_found(
            "data product",
            &format!("{domain}.{product}"),
        ));
    }
    Ok((d, p))
}

/// A visible product whose catalog metadata the caller may change (owners and stewards).
async fn editable_product(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
) -> ApiResult<(Domain, DataProduct)> {
    let (d, p) = visible_product(state, caller, domain, product).await?;
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &product_resource(&p),
        &format!("change the catalog metadata of `{domain}.{product}`"),
    )?;
    Ok((d, p))
}

async fn table_of(
    state: &AppState,
    domain: &Domain,
    product: &DataProduct,
    table: &str,
) -> ApiResult<ProductTable> {
    state
        .store
        .list_tables(product.id)
        .await?
        .into_iter()
        .find(|t| t.name == table)
        .ok_or_else(|| {
            ApiError::not_found(
                "table",
                &format!("{}.{}.{table}", domain.name, product.name),
            )
        })
}

/// Refuses a request for a product the caller may not see (404) or that is not published
/// (409). Called by `shares::request_access`.
pub fn check_requestable(caller: &Caller, qualified: &str, product: &DataProduct) -> ApiResult<()> {
    if !can_see(caller, product) {
        return Err(ApiError::not_found("data product", qualified));
    }
    if product.listing != ListingState::Published {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "data product `{qualified}` is `{}`; only published products can be requested",
                product.listing
            ),
        ));
    }
    Ok(())
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

#[derive(Debug, Serialize)]
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
    let (d, p) = visible_product(state, caller, domain, product).await?;
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
    reindex(state, p.id).await;
    Ok(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    })
}

async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(
        change_listing(&state, &caller, &domain, &product, ListingAction::Publish).await?,
    ))
}

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
pub struct ProductPatch {
    pub description: Option<String>,
}

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
    reindex(&state, p.id).await;
    Ok(Json(ListingView {
        product: qualified,
        listing: after.listing,
        revision: after.revision,
    }))
}

// ----- classification, tags and terms on tables and columns -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    reindex(state, table.product_id).await;
    Ok(TagsView {
        table: qualified,
        column: None,
        classification: Classification::of_tags(&value.tags),
        tags: value.tags,
    })
}

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
    reindex(&state, p.id).await;
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
    reindex(state, p.id).await;
    Ok(Json(
        json!({"term": qualified_term, "target": target, "attached": attach}),
    ))
}

async fn attach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, term)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(&state, &caller, (domain, product, None), &term, true).await
}

async fn detach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, term)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    term_link(&state, &caller, (domain, product, None), &term, false).await
}

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

async fn product_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<ProductCatalog>> {
    let (d, p) = visible_product(&state, &caller, &domain, &product).await?;
    let rows = state.store.catalog_rows(Some(p.id)).await?;
    let names = Names::load(&state).await?;
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
pub struct ParentBody {
    /// The parent domain's name; null makes the domain top-level.
    pub parent: Option<String>,
}

async fn set_parent(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(body): JsonBody<ParentBody>,
) -> ApiResult<Json<Domain>> {
    let d = service::domain_by_name(&state, &domain).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "change the domain hierarchy",
    )?;
    let parent = match &body.parent {
        Some(name) => Some(service::domain_by_name(&state, name).await.map_err(|_| {
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
    // Domain paths are in every document of the subtree: rebuild.
    if let Err(e) = rebuild_index(&state).await {
        tracing::error!(error = %e.message, "cannot rebuild the search index");
    }
    Ok(Json(service::domain_by_name(&state, &domain).await?))
}

// ----- search -----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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
        let d = service::domain_by_name(state, domain).await?;
        let names = Names::load(state).await?;
        query.domain_path = Some(names.domain_path(d.id));
    }
    if let Some(team) = &p.team {
        service::split_qualified(team, "team")?;
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
        let names = Names::load(state).await?;
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

// ----- keeping the index in step with the store -----

/// Names by id, for turning store rows into catalog entries.
pub(crate) struct Names {
    domains: HashMap<Uuid, Domain>,
    teams: HashMap<Uuid, String>,
    terms: HashMap<Uuid, (String, String)>,
    /// Term → its broader terms (`is_a`).
    broader: HashMap<Uuid, Vec<Uuid>>,
    form_types: HashMap<Uuid, String>,
}

impl Names {
    pub(crate) async fn load(state: &AppState) -> ApiResult<Names> {
        let domains: HashMap<Uuid, Domain> = state
            .store
            .list_domains()
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let teams = state
            .store
            .list_teams(None)
            .await?
            .into_iter()
            .map(|t| {
                let domain = domains
                    .get(&t.domain_id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                (t.id, format!("{domain}.{}", t.name))
            })
            .collect();
        let glossaries: HashMap<Uuid, String> = state
            .store
            .list_glossaries()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        let terms = state
            .store
            .list_terms(None)
            .await?
            .into_iter()
            .map(|t| {
                let g = glossaries.get(&t.glossary_id).cloned().unwrap_or_default();
                (t.id, (format!("{g}.{}", t.name), t.description))
            })
            .collect();
        let mut broader: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in state.store.term_relations().await? {
            if r.kind == RelationKind::IsA {
                broader.entry(r.term_id).or_default().push(r.target_id);
            }
        }
        let form_types = state
            .store
            .list_form_types()
            .await?
            .into_iter()
            .map(|f| (f.id, f.name))
            .collect();
        Ok(Names {
            domains,
            teams,
            terms,
            broader,
            form_types,
        })
    }

    pub(crate) fn term(&self, id: Uuid) -> String {
        self.terms
            .get(&id)
            .map(|t| t.0.clone())
            .unwrap_or_else(|| id.to_string())
    }

    fn team(&self, id: Uuid) -> String {
        self.teams
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn domain_path(&self, id: Uuid) -> Vec<String> {
        let parents: HashMap<Uuid, Option<Uuid>> =
            self.domains.values().map(|d| (d.id, d.parent_id)).collect();
        let mut path: Vec<String> = model::ancestors(&parents, id)
            .iter()
            .filter_map(|d| self.domains.get(d).map(|d| d.name.clone()))
            .collect();
        path.reverse();
        path
    }

    /// The catalog entries of the products in `rows`.
    fn entries(&self, rows: &meshgate_store::CatalogRows) -> Vec<CatalogEntry> {
        let mut tables: HashMap<Uuid, Vec<&ProductTable>> = HashMap::new();
        for t in &rows.tables {
            tables.entry(t.product_id).or_default().push(t);
        }
        let table_product: HashMap<Uuid, Uuid> =
            rows.tables.iter().map(|t| (t.id, t.product_id)).collect();
        let mut tags: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for t in &rows.table_tags {
            if let Some(p) = table_product.get(&t.table_id) {
                tags.entry(*p).or_default().extend(t.tags.iter().cloned());
            }
        }
        for c in &rows.column_tags {
            if let Some(p) = table_product.get(&c.table_id) {
                tags.entry(*p).or_default().extend(c.tags.iter().cloned());
            }
        }
        let mut links: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        for l in &rows.term_links {
            links.entry(l.product_id).or_default().insert(l.term_id);
        }
        let mut forms: HashMap<Uuid, Vec<&MetadataForm>> = HashMap::new();
        for f in &rows.forms {
            if let Some(p) = f.product_id {
                forms.entry(p).or_default().push(f);
            }
        }
        rows.products
            .iter()
            .map(|p| {
                let domain = self
                    .domains
                    .get(&p.domain_id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                let product_tables = tables.get(&p.id).map(Vec::as_slice).unwrap_or_default();
                let tags: Vec<String> = tags
                    .get(&p.id)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
                let term_ids: Vec<Uuid> = links
                    .get(&p.id)
                    .map(|t| t.iter().copied().collect())
                    .unwrap_or_default();
                let mut term_text = Vec::new();
                let mut seen = HashSet::new();
                let mut stack = term_ids.clone();
                while let Some(t) = stack.pop() {
                    if !seen.insert(t) {
                        continue;
                    }
                    if let Some((name, description)) = self.terms.get(&t) {
                        if !term_ids.contains(&t) {
                            term_text.push(name.clone());
                        }
                        term_text.push(description.clone());
                    }
                    stack.extend(self.broader.get(&t).into_iter().flatten().copied());
                }
                let mut form_text = Vec::new();
                for f in forms.get(&p.id).map(Vec::as_slice).unwrap_or_default() {
                    if let Some(name) = self.form_types.get(&f.form_type_id) {
                        form_text.push(name.clone());
                    }
                    form_text.extend(model::values_text(&f.values));
                }
                CatalogEntry {
                    product_id: p.id,
                    team_id: p.team_id,
                    product: format!("{domain}.{}", p.name),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    domain_path: self.domain_path(p.domain_id),
                    domain,
                    team: self.team(p.team_id),
                    listing: p.listing,
                    revision: p.revision,
                    updated_at: p.updated_at,
                    tables: product_tables
                        .iter()
                        .flat_map(|t| [t.name.clone(), t.description.clone()])
                        .collect(),
                    columns: product_tables
                        .iter()
                        .flat_map(|t| t.columns.iter())
                        .flat_map(|c| [c.name.clone(), c.description.clone()])
                        .collect(),
                    classification: Classification::of_tags(&tags),
                    tags,
                    terms: term_ids.iter().map(|t| self.term(*t)).collect(),
                    term_text,
                    forms: form_text,
                }
            })
            .collect()
    }
}

/// Rebuilds the whole search index from the store (at start-up, after the demo seed, after a
/// change to the domain hierarchy).
pub async fn rebuild_index(state: &AppState) -> ApiResult<()> {
    let _updating = state.catalog.updates.lock().await;
    let rows = state.store.catalog_rows(None).await?;
    let entries = Names::load(state).await?.entries(&rows);
    let catalog = state.catalog.clone();
    tokio::task::spawn_blocking(move || catalog.index.replace_all(&entries))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    tracing::debug!(products = rows.products.len(), "search index rebuilt");
    Ok(())
}

/// Brings the index entries of `products` up to date with the store (a product that is gone
/// is removed). A failure is logged and repaired by a full rebuild: the store write it
/// follows has been committed, so the API call still succeeds.
pub async fn reindex_many(state: &AppState, products: &[Uuid]) {
    if products.is_empty() {
        return;
    }
    let result: ApiResult<()> = async {
        let _updating = state.catalog.updates.lock().await;
        let names = Names::load(state).await?;
        let mut entries = Vec::new();
        for id in products {
            let rows = state.store.catalog_rows(Some(*id)).await?;
            entries.extend(names.entries(&rows));
        }
        let catalog = state.catalog.clone();
        let remove = products.to_vec();
        tokio::task::spawn_blocking(move || catalog.index.apply(&remove, &entries))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e.message, "cannot update the search index; rebuilding it");
        if let Err(e) = rebuild_index(state).await {
            tracing::error!(error = %e.message, "cannot rebuild the search index");
        }
    }
}

/// [`reindex_many`] for one product.
pub async fn reindex(state: &AppState, product: Uuid) {
    reindex_many(state, &[product]).await;
}

// ----- share requests (called by `shares`) -----

/// Checks the forms sent with an access request (form type name → values) and, unless the
/// request is a draft, that they include every form the request rules of the product's
/// domain require. Returns them as forms of the share, for `create_share_with_forms`.
pub async fn request_forms(
    state: &AppState,
    caller: &Caller,
    domain: &Domain,
    qualified: &str,
    sent: &BTreeMap<String, BTreeMap<String, Value>>,
    share_id: Uuid,
    draft: bool,
) -> ApiResult<Vec<MetadataForm>> {
    let mut out = Vec::new();
    for (name, values) in sent {
        let (form_type, values) = forms::fill(state, name, values).await?;
        out.push(MetadataForm {
            target_kind: FormTargetKind::Share,
            target_id: share_id,
            product_id: None,
            form_type_id: form_type.id,
            revision: form_type.revision,
            values,
            updated_by: caller.id(),
            updated_at: chrono::Utc::now(),
        });
    }
    if !draft {
        let present: Vec<Uuid> = out.iter().map(|f| f.form_type_id).collect();
        let missing =
            forms::missing_for(state, domain.id, RuleAction::RequestAccess, &present).await?;
        if !missing.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_forms",
                format!(
                    "forms: a request for `{qualified}` needs metadata form(s) {missing}; send them in `forms` (`--form <form>.<field>=<value>`)"
                ),
            ));
        }
    }
    Ok(out)
}

/// Creates a share with the forms of its request, atomically.
pub async fn create_share(
    state: &AppState,
    share: &Share,
    items: &[ShareItem],
    forms: &[MetadataForm],
    event: meshgate_core::model::NewAuditEvent,
) -> ApiResult<()> {
    Ok(state
        .store
        .create_share_with_forms(share, items, forms, event)
        .await?)
}

/// Refuses to submit a share that lacks forms the request rules require (409). Called by
/// `shares::submit`.
pub async fn check_share_forms(state: &AppState, share: &Share) -> ApiResult<()> {
    let Some(product) = state.store.get_product(share.product_id).await? else {
        return Ok(());
    };
    let present: Vec<Uuid> = state
        .store
        .forms_of(FormTargetKind::Share, share.id)
        .await?
        .iter()
        .map(|f| f.form_type_id)
        .collect();
    let missing = forms::missing_for(
        state,
        product.domain_id,
        RuleAction::RequestAccess,
        &present,
    )
    .await?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "missing_forms",
        format!(
            "cannot submit share `{}`: missing metadata form(s) {missing}; fill them with `meshgate form set --share {} <form> …`",
            share.id, share.id
        ),
    ))
}

// ----- the quickstart's demo catalog -----

/// Seeds a small catalog for the quickstart's demo mesh (idempotent: skipped once the
/// `business` glossary exists) and brings the search index up to date: a glossary, a form
/// type filled for both demo products, glossary terms on them, and a classification of each
/// table. No rules, so the demo's products stay requestable without forms. Kept out of
/// `mesh::seed_demo`, which tests build on, so their catalogs start empty.
pub async fn seed_demo(state: &AppState) -> ApiResult<()> {
    seed_demo_catalog(state).await?;
    rebuild_index(state).await
}

async fn seed_demo_catalog(state: &AppState) -> ApiResult<()> {
    use chrono::Utc;
    use meshgate_core::catalog::{FieldKind, FormField, FormType, Glossary, GlossaryTerm};
    use meshgate_core::model::NewAuditEvent;

    if state
        .store
        .get_glossary_by_name("business")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let seed = |action: &str, object: &str, id: Uuid| {
        NewAuditEvent::new(None, action, object, Some(id.to_string()))
            .with_detail(json!({"by": "seed"}))
    };
    let now = Utc::now();
    let glossary = Glossary {
        id: Uuid::now_v7(),
        name: "business".into(),
        description: "the words the business uses".into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_glossary(&glossary, seed("glossary.create", "glossary", glossary.id))
        .await?;
    let mut terms = HashMap::new();
    for (name, description) in [
        ("party", "a person or organisation the company deals with"),
        ("customer", "a party that buys from the web shop"),
        ("order", "a customer's purchase, paid or not"),
        ("revenue", "income from orders, net of refunds"),
    ] {
        let t = GlossaryTerm {
            id: Uuid::now_v7(),
            glossary_id: glossary.id,
            name: name.into(),
            description: description.into(),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        state
            .store
            .create_term(&t, seed("term.create", "glossary_term", t.id))
            .await?;
        terms.insert(name, t.id);
    }
    let term = |name: &str| terms.get(name).copied().unwrap_or_default();
    let relation = model::TermRelation {
        term_id: term("customer"),
        kind: RelationKind::IsA,
        target_id: term("party"),
    };
    state
        .store
        .add_term_relation(
            &relation,
            seed("term.relate", "glossary_term", relation.term_id),
        )
        .await?;
    let field = |name: &str, kind: FieldKind, required: bool, values: &[&str]| FormField {
        name: name.into(),
        kind,
        required,
        description: String::new(),
        values: values.iter().map(|v| v.to_string()).collect(),
        glossary: None,
    };
    let ownership = FormType {
        id: Uuid::now_v7(),
        name: "ownership".into(),
        description: "who answers for a data product, and how good it is".into(),
        revision: 1,
        fields: vec![
            field("owner", FieldKind::Principal, true, &[]),
            field(
                "tier",
                FieldKind::Enum,
                false,
                &["gold", "silver", "bronze"],
            ),
            field("reviewed", FieldKind::Date, false, &[]),
        ],
        created_by: Uuid::nil(),
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_form_type(
            &ownership,
            seed("form_type.create", "form_type", ownership.id),
        )
        .await?;
    let Some(sales) = state.store.get_domain_by_name("sales").await? else {
        return Ok(());
    };
    let demo = [
        (
            "orders",
            "alice",
            "gold",
            &["order", "revenue"][..],
            Classification::Internal,
        ),
        (
            "customers",
            "carol",
            "silver",
            &["customer"][..],
            Classification::Confidential,
        ),
    ];
    for (name, owner, tier, product_terms, classification) in demo {
        let Some(product) = state.store.get_product_by_name(sales.id, name).await? else {
            continue;
        };
        let form = MetadataForm {
            target_kind: FormTargetKind::Product,
            target_id: product.id,
            product_id: Some(product.id),
            form_type_id: ownership.id,
            revision: 1,
            values: [
                ("owner".to_string(), json!(owner)),
                ("tier".to_string(), json!(tier)),
                ("reviewed".to_string(), json!("2025-01-15")),
            ]
            .into(),
            updated_by: Uuid::nil(),
            updated_at: now,
        };
        state
            .store
            .put_form(&form, seed("form.put", "product", product.id))
            .await?;
        for t in product_terms {
            let link = TermLink {
                term_id: term(t),
                product_id: product.id,
                table_id: None,
                column: None,
            };
            state
                .store
                .link_term(&link, seed("term.attach", "data_product", product.id))
                .await?;
        }
        for table in state.store.list_tables(product.id).await? {
            let tags = TableTags {
                table_id: table.id,
                tags: vec![classification.as_str().to_string()],
            };
            state
                .store
                .set_table_tags(&tags, seed("table.tag", "table", table.id))
                .await?;
        }
    }
    Ok(())
}
