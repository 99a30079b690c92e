//! Listing a product's files: pages of the files under a prefix, showing only those the
//! caller may read.

use axum::Json;
use axum::extract::State;
use meshgate_core::files as core_files;
use meshgate_engine::files::{FileMeta, ProductFiles};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rights::{Target, caller_readable, deny, event};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::lookup::ProductPath;
use crate::state::AppState;

/// Default and largest page of a listing.
const DEFAULT_LIST: u32 = 1000;
const MAX_LIST: u32 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Files whose path starts with this (`reports/`, or part of a name).
    #[serde(default)]
    prefix: Option<String>,
    limit: Option<u32>,
    /// Files after this path (the previous page's `next_after`).
    after: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Listing {
    files: Vec<FileMeta>,
    /// Pass as `after` for the next page; `null` on the last page.
    #[schema(required)]
    next_after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/files",
    operation_id = "files_list",
    tag = "products",
    params(ProductPath, ListQuery),
    responses(
        (status = 200, description = "OK", body = Listing),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<Listing>> {
    Ok(Json(list_files(&state, &caller, p.into(), q).await?))
}

/// A page of the files of `t` under a prefix, showing only those the caller may read; a
/// prefix outside every grant is a 403.
async fn list_files(
    state: &AppState,
    caller: &Caller,
    t: Target,
    q: ListQuery,
) -> ApiResult<Listing> {
    let prefix = q.prefix.unwrap_or_default();
    core_files::validate_prefix(&prefix)?;
    if q.after
        .as_ref()
        .is_some_and(|a| a.len() > core_files::MAX_PATH_LEN)
    {
        return Err(ApiError::bad_request(format!(
            "after: at most {} bytes",
            core_files::MAX_PATH_LEN
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST) as usize;
    let shown_prefix = (!prefix.is_empty()).then_some(prefix.as_str());
    let right = caller_readable(state, caller, "file.list", &t, shown_prefix).await?;
    if !right.may_list(&prefix) {
        let message = if prefix.is_empty() {
            format!(
                "principal `{}` may not list files of `{}`: no grant covers any of its files",
                caller.principal.name, t.qualified
            )
        } else {
            format!(
                "principal `{}` may not list `{prefix}` of `{}`: no grant covers files there",
                caller.principal.name, t.qualified
            )
        };
        return Err(deny(state, caller.id(), "file.list", &t, shown_prefix, message).await?);
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let mut found: Vec<FileMeta> = files
        .list(&prefix, q.after.as_deref())
        .await?
        .into_iter()
        .filter(|f| right.covers(t.product.id, &f.path))
        .collect();
    let next_after = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|f| f.path.clone())
    } else {
        None
    };
    let e = event(caller.id(), "file.list", &t.product).with_detail(json!({
        "product": t.qualified, "prefix": prefix, "files": found.len(),
    }));
    state.store.append_audit(e).await?;
    Ok(Listing {
        files: found,
        next_after,
    })
}
