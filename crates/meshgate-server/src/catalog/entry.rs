//! A product's catalog entry: its listing, classification, tags, terms and forms, those of
//! its tables and columns, and what its domain's rules require of it.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use meshgate_core::catalog::{Classification, FormTargetKind, ListingState, RuleAction, TermLink};
use serde::Serialize;
use uuid::Uuid;

use super::forms;
use super::index::Names;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::lookup::{ProductPath, ProductRef};
use crate::state::AppState;

/// The route of catalog entries, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/products/{domain}/{product}/catalog", get(product_catalog))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ColumnCatalog {
    pub name: String,
    pub data_type: String,
    pub description: String,
    pub tags: Vec<String>,
    #[schema(required)]
    pub classification: Option<Classification>,
    pub terms: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableCatalog {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    #[schema(required)]
    pub classification: Option<Classification>,
    pub forms: Vec<forms::FormView>,
    pub columns: Vec<ColumnCatalog>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Requirement {
    pub form: String,
    pub present: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductCatalog {
    pub product: String,
    pub domain: String,
    pub team: String,
    pub description: String,
    pub listing: ListingState,
    pub revision: i64,
    #[schema(required)]
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
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = ProductCatalog),
        crate::error::ApiErrors,
    ),
)]
async fn product_catalog(
    State(state): State<AppState>,
    _caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<ProductCatalog>> {
    Ok(Json(entry(&state, p).await?))
}

/// The catalog entry of a product the caller may see (whoever may see a product may see its
/// entry).
pub async fn entry(state: &AppState, p: ProductRef) -> ApiResult<ProductCatalog> {
    let ProductRef {
        domain: d,
        product: p,
    } = p;
    let rows = state.store.catalog_rows(Some(p.id)).await?;
    let names = Names::load(state.store.as_ref()).await?;
    let form_views = forms::views(state, &rows.forms).await?;
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
    let publish_requirements = forms::required(state, d.id, RuleAction::PublishProduct)
        .await?
        .into_iter()
        .map(|(id, name)| Requirement {
            form: name,
            present: present.contains(&id),
        })
        .collect();
    let request_requirements = forms::required(state, d.id, RuleAction::RequestAccess)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let tags: Vec<String> = all_tags.into_iter().collect();
    Ok(ProductCatalog {
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
    })
}
