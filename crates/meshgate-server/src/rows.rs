//! The rows API: append rows as JSON (atomic, validated), look rows up by key, list a
//! tenant's rows. Reads go through the same secured query path as SQL; writes are checked row
//! by row against the caller's session policy (WITH CHECK): one row outside the credential's
//! key prefix rejects the whole write, which then writes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::TryStreamExt;
use meshgate_core::credential::CredentialAction;
use meshgate_core::model::Outcome;
use meshgate_engine::rows::TENANT_COLUMN;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{Caller, DataCaller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Created, Params};
use crate::lookup::{TablePath, TableRef};
use crate::lookup::{audit, authorize, product_resource};
use crate::snapshot::engine_tenancy;
use crate::state::AppState;

/// Most rows one append may carry.
const MAX_ROWS: usize = 100_000;
/// Most rows one list returns.
const MAX_LIST: u32 = 10_000;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/products/{domain}/{product}/tables/{table}/rows",
        get(read).post(append),
    )
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A denial that names the principal, the action and the table, audited.
async fn deny(
    state: &AppState,
    caller: &Caller,
    action: &str,
    audited: &str,
    t: &TableRef,
    why: String,
) -> ApiResult<ApiError> {
    let message = format!(
        "principal `{}` may not {action} `{}`: {why}",
        caller.principal.name,
        t.qualified()
    );
    let event = audit(caller, audited, "table", t.table.id)
        .with_outcome(Outcome::Denied)
        .with_detail(json!({
            "table": t.qualified(),
            "credential": caller.session.as_ref().map(|s| s.id),
            "reason": message,
        }));
    state.store.append_audit(event).await?;
    Ok(ApiError::forbidden(message))
}

/// What an append wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowsAppended {
    /// How many rows it appended.
    pub rows: usize,
    /// The table version the write committed.
    pub version: i64,
}

/// One page of a listing of rows, by key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowPage {
    /// The rows, each an object of column name → value.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// The last row's key: pass it as `after` for the next page; null when the page is empty.
    pub next_after: Value,
}

/// What `GET …/rows` answers: with `key`, the row with that key (an object of column name →
/// value); without, a [`RowPage`].
pub struct RowsAnswer;

impl PartialSchema for RowsAnswer {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("The row with the key asked for: column name → value")),
            )
            .item(Ref::from_schema_name(RowPage::name()))
            .into()
    }
}

impl ToSchema for RowsAnswer {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((RowPage::name().into_owned(), RowPage::schema()));
        <RowPage as ToSchema>::schemas(schemas);
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RowsBody {
    List(Vec<Value>),
    Wrapped { rows: Vec<Value> },
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/rows",
    operation_id = "append",
    tag = "products",
    params(TablePath),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The rows to append"),
    responses(
        (status = 201, description = "Created", body = RowsAppended),
        crate::error::ApiErrors,
    ),
)]
async fn append(
    State(state): State<AppState>,
    DataCaller(caller): DataCaller,
    TablePath(t): TablePath,
    body: Bytes,
) -> ApiResult<Created<RowsAppended>> {
    Ok(Created(append_rows(&state, &caller, &t, &body).await?))
}

/// Appends the rows of `body` to `t`, atomically: under a credential, its session policy
/// must allow the write and every row must lie inside its key prefix (WITH CHECK).
pub async fn append_rows(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    body: &[u8],
) -> ApiResult<RowsAppended> {
    match &caller.session {
        Some(s) if !s.policy.allows(&t.qualified(), CredentialAction::Write) => {
            return Err(deny(
                state,
                caller,
                "write",
                "rows.write",
                t,
                "no session policy allows writing it".into(),
            )
            .await?);
        }
        // The session policy only narrows: the principal must still hold the right itself
        // (it may have lost it since the credential was vended).
        Some(_)
            if !state.authz.is_allowed(
                &caller.actor,
                meshgate_authz::Action::AppendData,
                &product_resource(&t.product),
            ) =>
        {
            return Err(deny(
                state,
                caller,
                "write",
                "rows.write",
                t,
                "the principal itself may not write it, and no session policy allows more than its principal may do".into(),
            )
            .await?);
        }
        // The credential's rights are re-intersected with the principal's at every use: a
        // principal that lost write access cannot keep writing through an older credential.
        Some(_)
            if !state.authz.is_allowed(
                &caller.actor,
                meshgate_authz::Action::AppendData,
                &product_resource(&t.product),
            ) =>
        {
            return Err(deny(
                state,
                caller,
                "write",
                "rows.write",
                t,
                "the principal itself may no longer write it".into(),
            )
            .await?);
        }
        Some(_) => {}
        None => authorize(
            state,
            caller,
            meshgate_authz::Action::AppendData,
            &product_resource(&t.product),
            &format!("write rows of `{}`", t.qualified()),
        )?,
    }
    if let Some(why) = crate::locations::write_refusal(state, &t.product, &t.table).await? {
        return Err(deny(state, caller, "write", "rows.write", t, why).await?);
    }
    let rows = match serde_json::from_slice::<RowsBody>(body) {
        Ok(RowsBody::List(rows) | RowsBody::Wrapped { rows }) => rows,
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the body must be a JSON array of row objects (or {{\"rows\": [...]}}): {e}"
            )));
        }
    };
    if rows.is_empty() {
        return Err(ApiError::bad_request("no rows to append"));
    }
    if rows.len() > MAX_ROWS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ROWS} rows per append; split the write"
        )));
    }
    let tenancy = state.store.tenancy(t.table.id).await?;
    if let Some(prefix) = caller
        .session
        .as_ref()
        .and_then(|s| s.policy.key_prefix.as_ref())
    {
        // WITH CHECK: every row must lie inside the credential's key prefix.
        let Some(tenancy) = &tenancy else {
            return Err(deny(
                state,
                caller,
                "write",
                "rows.write",
                t,
                "the table has no tenant key to check the session policy's key prefix against"
                    .into(),
            )
            .await?);
        };
        let scope = engine_tenancy(tenancy);
        for (i, row) in rows.iter().enumerate() {
            let key = row.get(&tenancy.key_column).and_then(Value::as_str);
            match key {
                Some(k) if scope.key_in_prefix(k, prefix) => {}
                Some(k) => {
                    return Err(deny(
                        state,
                        caller,
                        "write",
                        "rows.write",
                        t,
                        format!(
                            "row {i} has key `{k}` and no session policy allows keys outside `{prefix}`; nothing was written"
                        ),
                    )
                    .await?);
                }
                None => {
                    return Err(ApiError::bad_request(format!(
                        "row {i}: column `{}`: the tenant key is required (text)",
                        tenancy.key_column
                    )));
                }
            }
        }
    }
    crate::catalog::suggestions::before_append_rows(state, caller, t, &rows).await;
    let location = url::Url::parse(&t.table.location).map_err(ApiError::internal)?;
    let engine_t = tenancy.as_ref().map(engine_tenancy);
    let report = meshgate_engine::rows::append_rows(&location, &rows, engine_t.as_ref()).await?;
    let event = audit(caller, "rows.append", "table", t.table.id).with_detail(json!({
        "table": t.qualified(), "rows": rows.len(), "version": report.version,
        "credential": caller.session.as_ref().map(|s| s.id),
    }));
    state.store.append_audit(event).await?;
    Ok(RowsAppended {
        rows: rows.len(),
        version: report.version,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Look one row up by its key.
    key: Option<String>,
    /// List rows (the caller's tenant's, under a credential), by key.
    limit: Option<u32>,
    /// List rows with keys after this one (paging).
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/rows",
    operation_id = "read",
    tag = "products",
    params(TablePath, ReadQuery),
    responses(
        (status = 200, description = "With `key`: the row with that key; without: a page of rows", body = RowsAnswer),
        crate::error::ApiErrors,
    ),
)]
async fn read(
    State(state): State<AppState>,
    DataCaller(caller): DataCaller,
    Params(q): Params<ReadQuery>,
    TablePath(t): TablePath,
) -> ApiResult<Response> {
    read_rows(&state, &caller, &t, q).await
}

/// With `key`, the row of `t` with that key; without, a page of its rows by key (under a
/// credential: only what its session policy allows, its tenant's rows).
pub async fn read_rows(
    state: &AppState,
    caller: &Caller,
    t: &TableRef,
    q: ReadQuery,
) -> ApiResult<Response> {
    // Denials are audited by the right asked for (`rows.read`, `rows.write`).
    let read_action = "rows.read";
    let access = crate::snapshot::readable(state, caller).await?;
    let visible = access
        .find(&t.domain.name, &t.product.name, &t.table.name)
        .is_some();
    if let Some(s) = &caller.session {
        if !s.policy.allows(&t.qualified(), CredentialAction::Read) {
            return Err(deny(
                state,
                caller,
                "read",
                read_action,
                t,
                "no session policy allows reading it".into(),
            )
            .await?);
        }
        let tenancy = state.store.tenancy(t.table.id).await?;
        if let (Some(prefix), Some(key)) = (&s.policy.key_prefix, &q.key)
            && !tenancy
                .as_ref()
                .is_some_and(|tn| engine_tenancy(tn).key_in_prefix(key, prefix))
        {
            return Err(deny(
                state,
                caller,
                "read",
                read_action,
                t,
                format!("no session policy allows reading key `{key}` (outside `{prefix}`)"),
            )
            .await?);
        }
    }
    if !visible {
        return Err(ApiError::not_found("table", &t.qualified()));
    }
    let tenancy = state.store.tenancy(t.table.id).await?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` has no tenant key column to look rows up by; query it with SQL",
            t.qualified()
        ))
    })?;
    let name = format!(
        "{}.{}.{}",
        ident(&t.domain.name),
        ident(&t.product.name),
        ident(&t.table.name)
    );
    let key_col = ident(&tenancy.key_column);
    let (sql, single) = match &q.key {
        Some(key) => {
            let tenant = engine_tenancy(&tenancy).tenant_of(key).to_string();
            (
                format!(
                    "SELECT * FROM {name} WHERE {key_col} = {} AND {} = {} LIMIT 2",
                    literal(key),
                    ident(TENANT_COLUMN),
                    literal(&tenant)
                ),
                true,
            )
        }
        None => {
            let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIST);
            let after = q
                .after
                .as_ref()
                .map(|a| format!(" WHERE {key_col} > {}", literal(a)))
                .unwrap_or_default();
            (
                format!("SELECT * FROM {name}{after} ORDER BY {key_col} LIMIT {limit}"),
                false,
            )
        }
    };
    let stream = state.engine.run(&sql, access.visible()).await?;
    let batches: Vec<_> = stream.batches.try_collect().await?;
    let rows = meshgate_engine::output::json_rows(&batches).map_err(ApiError::internal)?;
    let event = audit(
        caller,
        if single { "rows.get" } else { "rows.list" },
        "table",
        t.table.id,
    )
    .with_detail(json!({
        "table": t.qualified(), "key": q.key, "rows": rows.len(),
        "credential": caller.session.as_ref().map(|s| s.id),
    }));
    state.store.append_audit(event).await?;
    if single {
        return rows
            .into_iter()
            .next()
            .map(|row| Json(row).into_response())
            .ok_or_else(|| {
                ApiError::not_found(
                    "row",
                    &format!("{} key {}", t.qualified(), q.key.unwrap_or_default()),
                )
            });
    }
    let next = rows
        .last()
        .and_then(|r| r.get(&tenancy.key_column))
        .cloned();
    Ok(Json(RowPage {
        rows,
        next_after: next.unwrap_or(Value::Null),
    })
    .into_response())
}
