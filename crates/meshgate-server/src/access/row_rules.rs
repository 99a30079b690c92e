//! Row rules in the QuickSight format: per user or group, the values of fields a row must
//! match; exported and imported as JSON or as the QuickSight rules CSV.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meshgate_authz::Action;
use meshgate_core::access::RowRule;
use meshgate_core::model::DataProduct;
use meshgate_engine::datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::schema::schema_of;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::lookup::{ProductPath, ProductRef, audit, authorize};
use crate::state::AppState;

/// The routes of row rules, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/products/{domain}/{product}/row-rules",
        get(export_rules).put(import_rules),
    )
}

const USER_NAME: &str = "UserName";
const GROUP_NAME: &str = "GroupName";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RulesQuery {
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/row-rules",
    operation_id = "export_rules",
    tag = "products",
    params(ProductPath, RulesQuery),
    responses(
        (
            status = 200,
            description = "The product's row rules: JSON (the default) or CSV (`format=csv` or `Accept: text/csv`)",
            content((Vec<RowRule> = "application/json"), ("text/csv")),
        ),
        crate::error::ApiErrors,
    ),
)]
async fn export_rules(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<RulesQuery>,
    ProductPath(p): ProductPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    export(&state, &caller, &p, q, &headers).await
}

/// What replacing a product's row rules did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesReplaced {
    /// How many rules the product has now.
    pub rules: usize,
}

/// Replaces the product's row rules: a QuickSight rules CSV (`Content-Type: text/csv`) or a
/// JSON list of rules. An empty CSV (header only) or `[]` removes them.
#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/row-rules",
    operation_id = "import_rules",
    tag = "products",
    params(ProductPath),
    request_body(description = "The row rules: a JSON array, or CSV (`Content-Type: text/csv`)", content((Vec<RowRule> = "application/json"), ("text/csv"))),
    responses(
        (status = 200, description = "OK", body = RulesReplaced),
        crate::error::ApiErrors,
    ),
)]
async fn import_rules(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<RulesReplaced>> {
    Ok(Json(import(&state, &caller, &p, &headers, &body).await?))
}

/// The product's row rules, as JSON or (asked for by `format=csv` or `Accept: text/csv`) as
/// the QuickSight rules CSV; for whoever may change the product.
async fn export(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    q: RulesQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &p.resource(),
        "view the row rules of this product",
    )?;
    let rules = state.store.row_rules(p.product.id).await?;
    let csv = q.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if csv {
        let body = rules_to_csv(&rules).map_err(ApiError::internal)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(rules).into_response())
}

/// Replaces the product's row rules with those of `body` (CSV when its `Content-Type` says
/// so, else JSON), once every one is valid.
async fn import(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<RulesReplaced> {
    authorize(
        state,
        caller,
        Action::UpdateProduct,
        &p.resource(),
        "set the row rules of this product",
    )?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/csv") || c.starts_with("text/plain"));
    let rules = if is_csv {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the rules CSV must be UTF-8"))?;
        rules_from_csv(text)?
    } else {
        serde_json::from_slice::<Vec<RowRule>>(body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?
    };
    validate_rules(state, &p.product, &rules).await?;
    let event = audit(caller, "row_rules.replace", "product", p.product.id).with_detail(json!({
        "product": p.qualified(), "rules": rules.len(),
    }));
    state
        .store
        .replace_row_rules(p.product.id, &rules, event)
        .await?;
    Ok(RulesReplaced { rules: rules.len() })
}

/// Parses the QuickSight rules format: a header with `UserName` and/or `GroupName` and one
/// column per field; values are comma-separated lists inside a (quoted) cell; empty = all.
pub fn rules_from_csv(text: &str) -> ApiResult<Vec<RowRule>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("rules CSV: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let user_col = header.iter().position(|h| h == USER_NAME);
    let group_col = header.iter().position(|h| h == GROUP_NAME);
    if user_col.is_none() && group_col.is_none() {
        return Err(ApiError::bad_request(format!(
            "rules CSV: the header must have a `{USER_NAME}` or a `{GROUP_NAME}` column (or both)"
        )));
    }
    let mut seen = BTreeSet::new();
    for h in &header {
        if h.is_empty() || !seen.insert(h) {
            return Err(ApiError::bad_request(format!(
                "rules CSV: header columns must be named and unique; `{h}` is not"
            )));
        }
    }
    let mut rules = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ApiError::bad_request(format!("rules CSV: {e}")))?;
        let line = i + 2;
        let cell = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let user_name = cell(user_col);
        let group_name = cell(group_col);
        if user_name.is_none() && group_name.is_none() {
            return Err(ApiError::bad_request(format!(
                "rules CSV line {line}: a rule needs a {USER_NAME} or a {GROUP_NAME}"
            )));
        }
        let mut values = BTreeMap::new();
        for (c, h) in header.iter().enumerate() {
            if Some(c) == user_col || Some(c) == group_col {
                continue;
            }
            let raw = record.get(c).unwrap_or("");
            let list: Vec<String> = raw
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect();
            values.insert(h.clone(), list);
        }
        rules.push(RowRule {
            user_name,
            group_name,
            values,
        });
    }
    Ok(rules)
}

/// Writes rules in the QuickSight format (the inverse of [`rules_from_csv`]).
pub fn rules_to_csv(rules: &[RowRule]) -> Result<String, csv::Error> {
    let mut fields: Vec<&String> = rules.iter().flat_map(|r| r.values.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![USER_NAME.to_string(), GROUP_NAME.to_string()];
    header.extend(fields.iter().map(|f| f.to_string()));
    writer.write_record(&header)?;
    for r in rules {
        let mut row = vec![
            r.user_name.clone().unwrap_or_default(),
            r.group_name.clone().unwrap_or_default(),
        ];
        for f in &fields {
            row.push(r.values.get(*f).map(|v| v.join(",")).unwrap_or_default());
        }
        writer.write_record(&row)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Every user and group must exist, every field must be a column of one of the product's
/// tables, and every value must be valid for that column; all offenders are listed.
async fn validate_rules(
    state: &AppState,
    product: &DataProduct,
    rules: &[RowRule],
) -> ApiResult<()> {
    let mut types: HashMap<String, meshgate_engine::arrow::datatypes::DataType> = HashMap::new();
    for t in state.store.list_tables(product.id).await? {
        let schema = schema_of(&t).await?;
        for f in schema.fields() {
            types
                .entry(f.name().clone())
                .or_insert_with(|| f.data_type().clone());
        }
    }
    let mut problems = Vec::new();
    let mut unknown_users = BTreeSet::new();
    let mut unknown_groups = BTreeSet::new();
    let mut unknown_fields = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.user_name.is_none() && rule.group_name.is_none() {
            problems.push(format!(
                "rule {}: needs a {USER_NAME} or a {GROUP_NAME}",
                i + 1
            ));
        }
        if let Some(u) = &rule.user_name {
            match state.store.get_principal_by_name(u).await? {
                Some(p) if p.kind != meshgate_core::model::PrincipalKind::Group => {}
                _ => {
                    unknown_users.insert(u.clone());
                }
            }
        }
        if let Some(g) = &rule.group_name {
            match state.store.get_principal_by_name(g).await? {
                Some(p) if p.kind == meshgate_core::model::PrincipalKind::Group => {}
                _ => {
                    unknown_groups.insert(g.clone());
                }
            }
        }
        for (field, values) in &rule.values {
            let Some(data_type) = types.get(field) else {
                unknown_fields.insert(field.clone());
                continue;
            };
            for v in values {
                if ScalarValue::try_from_string(v.clone(), data_type).is_err() {
                    problems.push(format!(
                        "rule {}: `{v}` is not a valid {data_type} for field `{field}`",
                        i + 1
                    ));
                }
            }
        }
    }
    if !unknown_users.is_empty() {
        problems.push(format!(
            "unknown user(s): {}",
            unknown_users.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !unknown_groups.is_empty() {
        problems.push(format!(
            "unknown group(s): {}",
            unknown_groups.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !unknown_fields.is_empty() {
        problems.push(format!(
            "unknown field(s): {} (fields must be columns of the product's tables)",
            unknown_fields.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the row rules are invalid: {}",
            problems.join("; ")
        )))
    }
}
