//! Item scopes: what an approver attaches to a share's table item (data filters by name,
//! kept columns, masks), checked against the table and the grantee's other grants.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use meshgate_core::access::{GrantScope, Mask};
use meshgate_core::model::{Grant, Grantee, ProductTable};
use serde::Deserialize;
use uuid::Uuid;

use super::schema::{check_columns, check_masks, invalid, schema_of};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
