//! Who sees what: how many rows of each table of a product a given principal reads now, for
//! the product's owners and stewards checking their rules (row rules, filters, grants) —
//! counted through that principal's own access snapshot and the engine, like its queries.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use meshgate_authz::Action;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::Params;
use crate::lookup::{ProductPath, ProductRef, audit, authorize, principal_by_name};
use crate::state::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/products/{domain}/{product}/who-sees", get(who_sees))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WhoSeesQuery {
    /// The principal (by name) whose reads are counted.
    pub principal: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoSees {
    pub principal: String,
    pub tables: Vec<TableReach>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableReach {
    pub table: String,
    /// Whether the principal may read the table at all.
    pub readable: bool,
    /// How many rows it reads (null when it may not read the table).
    pub rows: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/who-sees",
    operation_id = "who_sees",
    tag = "products",
    params(ProductPath, WhoSeesQuery),
    responses(
        (status = 200, description = "How many rows of each table the principal reads now", body = WhoSees),
        crate::error::ApiErrors,
    ),
)]
async fn who_sees(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<WhoSeesQuery>,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<WhoSees>> {
    Ok(Json(count(&state, &caller, &p, &q.principal).await?))
}

/// For the product's owners and stewards (who may change it and read it in full).
pub async fn count(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    principal: &str,
) -> ApiResult<WhoSees> {
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &p.resource(),
        "see what others read of this product",
    )?;
    crate::sample::reads_all_of(
        state,
        caller,
        p.product.id,
        "see what others read of this product",
    )
    .await?;
    let who = principal_by_name(state, principal).await?;
    let (actor, at) = crate::auth::view_of(state, &who).await?;
    let access = crate::snapshot::of_actor(state, &who, &actor, at).await?;
    let mut tables = Vec::new();
    for t in state.store.list_tables(p.product.id).await? {
        let rows = match access.find(&p.domain.name, &p.product.name, &t.name) {
            Some((_, visible)) => Some(crate::sample::count(state, visible).await?),
            None => None,
        };
        tables.push(TableReach {
            table: t.name,
            readable: rows.is_some(),
            rows,
        });
    }
    let event = audit(caller, "product.who_sees", "product", p.product.id)
        .with_detail(json!({"principal": who.name}));
    state.store.append_audit(event).await?;
    Ok(WhoSees {
        principal: who.name,
        tables,
    })
}
