//! Glossary terms attached to products and to columns (the glossary itself is in
//! [`super::glossary`]).

use axum::Json;
use axum::extract::State;
use axum::routing::put;
use meshgate_core::catalog::TermLink;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::glossary;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::lookup::{ColumnName, ProductPath, ProductRef, TableName, audit};
use crate::state::AppState;

/// What attaching or detaching a term did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TermLinkView {
    /// `glossary.term`
    pub term: String,
    /// `domain.product`, or `domain.product.table.column`.
    pub target: String,
    /// Whether the term is now attached (`false`: it was detached).
    pub attached: bool,
}

/// The route's `{term}`: the glossary term to attach or detach.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct TermName {
    /// Glossary term (`glossary.term` where not under a glossary)
    #[param(example = "party")]
    term: String,
}

/// The routes of term links, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/products/{domain}/{product}/terms/{term}",
            put(attach_product_term).delete(detach_product_term),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
            put(attach_column_term).delete(detach_column_term),
        )
}

/// Attaches (`attach`) or detaches glossary term `term` to or from product `p`, or a column
/// of one of its tables (`column`: the table and the column). Owners and stewards of the
/// product; a caller who may not change it is refused before the term or the table is looked
/// up.
pub async fn term_link(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    column: Option<(String, String)>,
    term: &str,
    attach: bool,
) -> ApiResult<TermLinkView> {
    p.check_editable(state, caller)?;
    let ProductRef {
        domain: d,
        product: p,
    } = p;
    let (g, t) = glossary::term_by_qualified(state, term).await?;
    let mut target = format!("{}.{}", d.name, p.name);
    let mut link = TermLink {
        term_id: t.id,
        product_id: p.id,
        table_id: None,
        column: None,
    };
    if let Some((table, column)) = column {
        let tbl = crate::lookup::table_of(state, d, p, &table).await?;
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
    Ok(TermLinkView {
        term: qualified_term,
        target,
        attached: attach,
    })
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/terms/{term}",
    operation_id = "attach_product_term",
    tag = "products",
    params(ProductPath, TermName),
    responses(
        (status = 200, description = "OK", body = TermLinkView),
        crate::error::ApiErrors,
    ),
)]
async fn attach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TermName { term }): PathParams<TermName>,
) -> ApiResult<Json<TermLinkView>> {
    Ok(Json(
        term_link(&state, &caller, &p, None, &term, true).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/terms/{term}",
    operation_id = "detach_product_term",
    tag = "products",
    params(ProductPath, TermName),
    responses(
        (status = 200, description = "OK", body = TermLinkView),
        crate::error::ApiErrors,
    ),
)]
async fn detach_product_term(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TermName { term }): PathParams<TermName>,
) -> ApiResult<Json<TermLinkView>> {
    Ok(Json(
        term_link(&state, &caller, &p, None, &term, false).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
    operation_id = "attach_column_term",
    tag = "products",
    params(ProductPath, TableName, ColumnName, TermName),
    responses(
        (status = 200, description = "OK", body = TermLinkView),
        crate::error::ApiErrors,
    ),
)]
async fn attach_column_term(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    PathParams(TermName { term }): PathParams<TermName>,
) -> ApiResult<Json<TermLinkView>> {
    Ok(Json(
        term_link(&state, &caller, &p, Some((table, column)), &term, true).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/terms/{term}",
    operation_id = "detach_column_term",
    tag = "products",
    params(ProductPath, TableName, ColumnName, TermName),
    responses(
        (status = 200, description = "OK", body = TermLinkView),
        crate::error::ApiErrors,
    ),
)]
async fn detach_column_term(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    PathParams(TermName { term }): PathParams<TermName>,
) -> ApiResult<Json<TermLinkView>> {
    Ok(Json(
        term_link(&state, &caller, &p, Some((table, column)), &term, false).await?,
    ))
}
