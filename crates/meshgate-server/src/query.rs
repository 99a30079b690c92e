//! `POST /api/v1/query`: resolves the tables the caller may read, runs its SQL over exactly
//! those, streams the result, and audits the query when the stream ends (rows, bytes,
//! duration, outcome).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use meshgate_core::credential::CredentialAction;
use meshgate_core::model::{Grant, NewAuditEvent, Outcome};
use meshgate_engine::output::{self, OutputFormat};
use meshgate_engine::query::VisibleTable;
use meshgate_engine::secure::TableAccess;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub sql: String,
    #[serde(default)]
    pub format: Option<String>,
}

/// The SQL session's default catalog, where consumers' local names for their shares live.
pub const LOCAL_CATALOG: &str = "meshgate";

/// The tables `caller` may read: its own teams' products and tables granted to it or its
/// teams. Cached by the policy version, which every grant, membership or product change bumps.
pub async fn visible_tables(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<Arc<Vec<VisibleTable>>> {
    let version = state.store.policy_version().await?;
    if let Ok(cache) = state.visibility.lock()
        && let Some((v, tables)) = cache.get(&caller.id())
        && *v == version
    {
        return Ok(tables.clone());
    }
    let teams = caller.team_ids();
    let identity = crate::access::identity_of(state, caller).await?;
    // Owned products first: an owner reads its tables in full whatever it was also granted.
    let mut owned: HashSet<Uuid> = HashSet::new();
    let mut out: Vec<VisibleTable> = Vec::new();
    for team in &teams {
        let filter = meshgate_store::ProductFilter {
            team_id: Some(*team),
            ..Default::default()
        };
        for p in state.store.list_products(&filter).await? {
            if !owned.insert(p.id) {
                continue;
            }
            let domain = crate::views::name_of_domain(state, p.domain_id).await?;
            for t in state.store.list_tables(p.id).await? {
                let access =
                    crate::access::table_access(state, &p, &t, &[], true, &identity).await?;
                out.push(visible(&domain, &p.name, &t, access)?);
            }
        }
    }
    // Granted tables: all grants on one table resolve together (union of columns, OR of rows).
    let grants = state.store.grants_for(caller.id(), &teams).await?;
    let mut by_table: BTreeMap<Uuid, Vec<&Grant>> = BTreeMap::new();
    for g in &grants {
        by_table.entry(g.table_id).or_default().push(g);
    }
    // Local names the consumer chose for its shares (`finalize-subscription`): the same
    // tables also appear as `<local_name>.<table>` in the default catalog.
    let item_ids: Vec<Uuid> = grants.iter().map(|g| g.share_item_id).collect();
    let local_names: BTreeMap<Uuid, String> = if item_ids.is_empty() {
        BTreeMap::new()
    } else {
        state
            .store
            .local_names(&item_ids)
            .await?
            .into_iter()
            .collect()
    };
    let mut aliases: Vec<VisibleTable> = Vec::new();
    for (table_id, grants) in by_table {
        let Some(t) = state.store.get_table(table_id).await? else {
            continue;
        };
        if owned.contains(&t.product_id) {
            continue;
        }
        let Some(p) = state.store.get_product(t.product_id).await? else {
            continue;
        };
        let domain = crate::views::name_of_domain(state, p.domain_id).await?;
        let access = crate::access::table_access(state, &p, &t, &grants, false, &identity).await?;
        let table = visible(&domain, &p.name, &t, access)?;
        let mut names: Vec<&String> = grants
            .iter()
            .filter_map(|g| local_names.get(&g.share_item_id))
            .collect();
        names.sort();
        names.dedup();
        for local in names {
            if aliases
                .iter()
                .any(|a| &a.product == local && a.table == table.table)
            {
                continue;
            }
            aliases.push(VisibleTable {
                domain: LOCAL_CATALOG.to_string(),
                product: local.clone(),
                ..table.clone()
            });
        }
        out.push(table);
    }
    out.extend(aliases);
    let tables = Arc::new(out);
    if let Ok(mut cache) = state.visibility.lock() {
        cache.insert(caller.id(), (version, tables.clone()));
    }
    Ok(tables)
}

/// The tables `caller` may read now: its visible tables, narrowed by the session policy of
/// the credential it uses (only the policy's tables with `read`, each restricted to keys
/// starting with the policy's prefix, and pruned to that tenant's files where the prefix
/// names a tenant). A table the prefix cannot scope (no tenant key) is left out.
pub async fn readable_tables(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<Arc<Vec<VisibleTable>>> {
    let visible = visible_tables(state, caller).await?;
    let Some(session) = &caller.session else {
        return Ok(visible);
    };
    let policy = &session.policy;
    let mut out = Vec::new();
    for v in visible.iter() {
        let name = format!("{}.{}.{}", v.domain, v.product, v.table);
        if !policy.allows(&name, CredentialAction::Read) {
            continue;
        }
        let mut table = v.clone();
        if let Some(prefix) = &policy.key_prefix {
            let Some(tenancy) = tenancy_of(state, v).await? else {
                continue;
            };
            table
                .access
                .restrictive
                .extend(crate::rows::prefix_filters(&tenancy, prefix));
        }
        out.push(table);
    }
    Ok(Arc::new(out))
}

/// The tenancy of a visible table, by its names.
pub async fn tenancy_of(
    state: &AppState,
    v: &VisibleTable,
) -> ApiResult<Option<meshgate_core::credential::TableTenancy>> {
    let (_, product) = crate::service::find_product(state, &v.domain, &v.product).await?;
    let Some(table) = state
        .store
        .list_tables(product.id)
        .await?
        .into_iter()
        .find(|t| t.name == v.table)
    else {
        return Ok(None);
    };
    Ok(state.store.tenancy(table.id).await?)
}

fn visible(
    domain: &str,
    product: &str,
    t: &meshgate_core::model::ProductTable,
    access: TableAccess,
) -> ApiResult<VisibleTable> {
    Ok(VisibleTable {
        domain: domain.to_string(),
        product: product.to_string(),
        table: t.name.clone(),
        location: url::Url::parse(&t.location).map_err(ApiError::internal)?,
        access,
    })
}

/// Picks the output format: the body's `format`, else the `Accept` header, else JSON.
pub fn output_format(requested: Option<&str>, accept: Option<&str>) -> ApiResult<OutputFormat> {
    if let Some(f) = requested {
        return OutputFormat::parse(f).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown format `{f}`; use `json`, `csv` or `arrow`"
            ))
        });
    }
    let accept = accept.unwrap_or("");
    Ok(if accept.contains("text/csv") {
        OutputFormat::Csv
    } else if accept.contains("apache.arrow") {
        OutputFormat::Arrow
    } else {
        OutputFormat::Json
    })
}

pub async fn run(
    state: &AppState,
    caller: &Caller,
    req: QueryRequest,
    format: OutputFormat,
) -> ApiResult<Response> {
    if req.sql.trim().is_empty() {
        return Err(ApiError::bad_request("`sql` is empty"));
    }
    // Checked here too, before the text reaches the audit log.
    let max = state.config.query.max_sql_bytes;
    if req.sql.len() > max {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "query_too_complex",
            format!(
                "`sql` is longer than {max} bytes; ask an admin to raise `query.max_sql_bytes`"
            ),
        ));
    }
    let started = Instant::now();
    let visible = readable_tables(state, caller).await?;
    let request_id = crate::error::REQUEST_ID.try_with(|id| id.clone()).ok();
    let event = |outcome: Outcome, detail: serde_json::Value| {
        NewAuditEvent::new(Some(caller.id()), "query.run", "query", None)
            .with_outcome(outcome)
            .with_request_id(request_id.clone())
            .with_detail(detail)
    };
    let stream = match state.engine.run(&req.sql, &visible).await {
        Ok(s) => s,
        Err(e) => {
            let failed = event(
                if e.is_user_error() {
                    Outcome::Denied
                } else {
                    Outcome::Failure
                },
                json!({"sql": req.sql, "error": e.to_string(), "duration_ms": started.elapsed().as_millis() as u64}),
            );
            state.store.append_audit(failed).await?;
            return Err(e.into());
        }
    };
    // Most runtime errors (a failing cast, a division by zero) surface in the first batch:
    // wait for it so they get a proper 400 instead of a truncated 200.
    let mut batches = stream.batches;
    let first = batches.next().await;
    if let Some(Err(e)) = first {
        let failed = event(
            if e.is_user_error() {
                Outcome::Denied
            } else {
                Outcome::Failure
            },
            json!({"sql": req.sql, "tables": stream.tables, "error": e.to_string(), "duration_ms": started.elapsed().as_millis() as u64}),
        );
        state.store.append_audit(failed).await?;
        return Err(e.into());
    }
    let batches = futures::stream::iter(first).chain(batches);
    let store = state.store.clone();
    let tables = stream.tables.clone();
    let sql = req.sql.clone();
    let done_event = event(Outcome::Success, json!(null));
    let on_end = move |end: output::StreamEnd| {
        let outcome = if end.error.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let record = done_event.with_outcome(outcome).with_detail(json!({
            "sql": sql, "tables": tables, "rows": end.rows, "bytes": end.bytes,
            "duration_ms": started.elapsed().as_millis() as u64, "error": end.error,
        }));
        tokio::spawn(async move {
            if let Err(e) = store.append_audit(record).await {
                tracing::error!(error = %e, "cannot audit a query");
            }
        });
    };
    let body = output::encode(batches, stream.schema, format, on_end)?;
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}
