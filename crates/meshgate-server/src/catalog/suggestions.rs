//! Automatic classification (docs/design/CLASSIFICATION.md): on create and append, up to
//! `classification.sample_values` values of each column are sampled (the first rows of what
//! is written), `meshgate_classify` detects kinds of personal data in them and in the column
//! names, and each detection becomes a **suggestion** of tags on its column — applied at once
//! when `classification.mode` is `apply` and the detection is confident, so the tag masks
//! hash the column for every non-owner from the next query. Owners and stewards confirm or
//! reject suggestions here (`…/suggestions/{kind}/confirm|reject`). What a detection or a
//! decision does is `meshgate_core::classification`'s to plan; every change is audited
//! (`column.classification_suggested`, `…_applied`, `…_confirmed`, `…_rejected`, on the
//! table, so the search index follows).
//!
//! Sampled values go to the detectors and nowhere else: not to the log, the store, the audit
//! log or an answer. Evidence is built by the detectors from counts, fixed phrases and the
//! column name. Classifying is bounded ([`SAMPLE_BUDGET`], at most `sample_values` rows) and
//! never fails the write it follows: a sample that cannot be read or classified in time is
//! logged (without values) and the write goes on unclassified.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::Utc;
use meshgate_authz::Action;
use meshgate_core::Error as CoreError;
use meshgate_core::classification::{
    self, Change, ClassificationMode, Decision, Detected, Suggestion, SuggestionStatus, TableState,
};
use meshgate_core::model::{DataProduct, Domain, NewAuditEvent, ProductTable};
use meshgate_engine::ingest::FileFormat;
use meshgate_engine::sampling::{self, ColumnSample, MAX_VALUE_CHARS};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, PathParams};
use crate::lookup::{ColumnName, ProductPath, ProductRef, TableName, TableRef, audit, authorize};
use crate::state::AppState;

/// The longest the sampling and detection of one write may take; past it the write goes on
/// unclassified.
pub const SAMPLE_BUDGET: Duration = Duration::from_secs(10);

/// How often a change planned from a state another writer changed meanwhile is planned again.
const ATTEMPTS: usize = 3;

/// The routes of classification suggestions, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/products/{domain}/{product}/suggestions", get(list_suggestions))
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/suggestions/{kind}/confirm",
            post(confirm_suggestion),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/columns/{column}/suggestions/{kind}/reject",
            post(reject_suggestion),
        )
}

// ----- the API -----

/// A suggestion as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestionView {
    /// `domain.product.table`.
    pub table: String,
    pub column: String,
    /// `email`, `phone`, `payment_card`, `iban`, `us_ssn`, `ipv4`, `ipv6`, `date_of_birth`,
    /// `person_name`, `postal_address`.
    pub kind: String,
    /// 0 to 1; at 0.9 or more the detection is confident (`apply` tags the column at once).
    pub confidence: f64,
    /// Why, in counts, fixed phrases and the column's name; never a sampled value.
    pub evidence: String,
    /// The tags the kind stands for, which confirming puts on the column.
    pub tags: Vec<String>,
    /// The tags it put on the column (applied or confirmed), which rejecting takes off.
    pub added_tags: Vec<String>,
    pub status: SuggestionStatus,
    /// Who confirmed or rejected it.
    #[schema(required)]
    pub decided_by: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// `s` as the API shows it, in table `table`; the names of the people who decided are looked
/// up once each (`names`).
async fn view(
    state: &AppState,
    names: &mut HashMap<Uuid, String>,
    table: String,
    s: Suggestion,
) -> ApiResult<SuggestionView> {
    let decided_by = match s.decided_by {
        Some(id) => Some(match names.get(&id) {
            Some(name) => name.clone(),
            None => {
                let name = crate::views::name_of_principal(state, id).await?;
                names.insert(id, name.clone());
                name
            }
        }),
        None => None,
    };
    Ok(SuggestionView {
        table,
        column: s.column,
        kind: s.kind,
        confidence: s.confidence,
        evidence: s.evidence,
        tags: s.tags,
        added_tags: s.added_tags,
        status: s.status,
        decided_by,
        created_at: s.created_at,
        updated_at: s.updated_at,
    })
}

/// The filter of `GET …/suggestions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// Only suggestions in this status: `pending`, `applied`, `confirmed` or `rejected`.
    pub status: Option<SuggestionStatus>,
}

/// The route's `{kind}`: a detected kind of personal data.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KindName {
    /// Kind of personal data
    #[param(example = "email")]
    pub kind: String,
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/suggestions",
    operation_id = "list_suggestions",
    tag = "products",
    params(ProductPath, SuggestionQuery),
    responses(
        (status = 200, description = "OK", body = Vec<SuggestionView>),
        crate::error::ApiErrors,
    ),
)]
async fn list_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    Params(q): Params<SuggestionQuery>,
) -> ApiResult<Json<Vec<SuggestionView>>> {
    Ok(Json(suggestions(&state, &caller, &p, q.status).await?))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/suggestions/{kind}/confirm",
    operation_id = "confirm_suggestion",
    tag = "products",
    params(ProductPath, TableName, ColumnName, KindName),
    responses(
        (status = 200, description = "OK", body = SuggestionView),
        crate::error::ApiErrors,
    ),
)]
async fn confirm_suggestion(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    PathParams(KindName { kind }): PathParams<KindName>,
) -> ApiResult<Json<SuggestionView>> {
    let at = (table.as_str(), column.as_str(), kind.as_str());
    Ok(Json(
        decide(&state, &caller, p, at, Decision::Confirm).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/columns/{column}/suggestions/{kind}/reject",
    operation_id = "reject_suggestion",
    tag = "products",
    params(ProductPath, TableName, ColumnName, KindName),
    responses(
        (status = 200, description = "OK", body = SuggestionView),
        crate::error::ApiErrors,
    ),
)]
async fn reject_suggestion(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(ColumnName { column }): PathParams<ColumnName>,
    PathParams(KindName { kind }): PathParams<KindName>,
) -> ApiResult<Json<SuggestionView>> {
    let at = (table.as_str(), column.as_str(), kind.as_str());
    Ok(Json(
        decide(&state, &caller, p, at, Decision::Reject).await?,
    ))
}

/// The suggestions of every table of `p` (in `status`, if given), for whoever may view the
/// product, by table, column and kind.
pub async fn suggestions(
    state: &AppState,
    caller: &Caller,
    p: &ProductRef,
    status: Option<SuggestionStatus>,
) -> ApiResult<Vec<SuggestionView>> {
    authorize(
        state,
        caller,
        Action::ViewProduct,
        &p.resource(),
        "view this product",
    )?;
    let tables = state.store.list_tables(p.product.id).await?;
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for s in state.store.product_suggestions(p.product.id).await? {
        if status.is_some_and(|want| want != s.status) {
            continue;
        }
        let Some(t) = tables.iter().find(|t| t.id == s.table_id) else {
            continue;
        };
        let table = format!("{}.{}", p.qualified(), t.name);
        out.push(view(state, &mut names, table, s).await?);
    }
    out.sort_by(|a, b| (&a.table, &a.column, &a.kind).cmp(&(&b.table, &b.column, &b.kind)));
    Ok(out)
}

/// Confirms or rejects the suggestion of `kind` on `column` of table `table` of `p` (owners
/// and stewards, who may change the product's tags; a caller who may not is refused whether
/// or not the table exists).
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
    (table, column, kind): (&str, &str, &str),
    decision: Decision,
) -> ApiResult<SuggestionView> {
    p.check_editable(state, caller)?;
    let t = p.table(state, table).await?;
    let qualified = t.qualified();
    let missing = || {
        ApiError::not_found(
            "classification suggestion",
            &format!("{kind} on {qualified}.{column}"),
        )
    };
    let now = meshgate_store::truncate_to_micros(Utc::now());
    let by = caller.id();
    let trigger = json!(decision.as_str());
    let change = commit(
        state,
        t.table.id,
        |before| {
            classification::on_decision(before, column, kind, decision, by, now).map_err(
                |e| match e {
                    CoreError::NotFound { .. } => missing(),
                    other => other.into(),
                },
            )
        },
        |note| audit(caller, note, "table", t.table.id),
        &qualified,
        &trigger,
    )
    .await?;
    let after = match change
        .suggestions
        .iter()
        .find(|s| s.column == column && s.kind == kind)
    {
        Some(s) => s.clone(),
        // Decided already: as it is.
        None => change
            .before
            .suggestions
            .into_iter()
            .find(|s| s.column == column && s.kind == kind)
            .ok_or_else(missing)?,
    };
    view(state, &mut HashMap::new(), qualified, after).await
}

/// Plans a change from the table's current state with `plan` and commits it with one audit
/// event per note (made by `event`, with `qualified` and `trigger` in the detail), planning
/// again when another writer changed the table meanwhile. Returns what was committed (an empty
/// change when there was nothing to do).
async fn commit(
    state: &AppState,
    table_id: Uuid,
    plan: impl Fn(TableState) -> ApiResult<Change>,
    event: impl Fn(&str) -> NewAuditEvent,
    qualified: &str,
    trigger: &Value,
) -> ApiResult<Change> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let change = plan(state.store.classification_state(table_id).await?)?;
        if change.is_empty() {
            return Ok(change);
        }
        let events = change
            .notes
            .iter()
            .map(|n| {
                let s = &n.suggestion;
                event(n.action).with_detail(json!({
                    "table": qualified,
                    "column": s.column,
                    "kind": s.kind,
                    "confidence": s.confidence,
                    "evidence": s.evidence,
                    "status": s.status,
                    "from": n.from,
                    "tags_added": n.tags_added,
                    "tags_removed": n.tags_removed,
                    "trigger": trigger,
                }))
            })
            .collect();
        match state.store.change_classification(&change, events).await {
            Ok(()) => return Ok(change),
            Err(CoreError::Conflict { .. }) if attempt < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

// ----- classifying what is written -----

/// Who wrote what is classified: a caller (its request's actor), or the quickstart's seed.
#[derive(Clone, Copy)]
pub enum Writer<'a> {
    Caller(&'a Caller),
    Seed,
}

impl Writer<'_> {
    fn event(self, action: &str, table_id: Uuid) -> NewAuditEvent {
        match self {
            Writer::Caller(c) => audit(c, action, "table", table_id),
            Writer::Seed => NewAuditEvent::new(None, action, "table", Some(table_id.to_string())),
        }
    }
}

/// The detections in one sample.
fn detect(sample: &[ColumnSample]) -> Vec<Detected> {
    let mut out = Vec::new();
    for c in sample {
        let values: Vec<Option<&str>> = c.values.iter().map(Option::as_deref).collect();
        let column = meshgate_classify::Column {
            name: &c.name,
            data_type: &c.data_type,
            values: &values,
        };
        for d in meshgate_classify::classify(&column) {
            out.push(Detected {
                column: c.name.clone(),
                kind: d.kind.as_str().to_string(),
                tags: d.kind.tags().iter().map(|t| t.to_string()).collect(),
                confidence: d.confidence,
                confident: d.is_confident(),
                evidence: d.evidence,
            });
        }
    }
    out
}

/// Samples with `sample`, detects, and commits what the detections do to `table` in the
/// configured mode, within [`SAMPLE_BUDGET`]. Never fails: what goes wrong is logged (never a
/// value) and the table stays unclassified by this write.
async fn classify<F>(
    state: &AppState,
    by: Writer<'_>,
    table: &ProductTable,
    qualified: &str,
    trigger: &str,
    sample: F,
) where
    F: Future<Output = meshgate_engine::Result<Vec<ColumnSample>>>,
{
    let mode = state.config.classification.mode();
    if mode == ClassificationMode::Off {
        return;
    }
    let work = async {
        // A reader's error may quote the value it could not read: only that it failed is
        // logged (an append reports its own error to its caller).
        let sample = sample
            .await
            .map_err(|_| "its sample could not be read".to_string())?;
        let found = tokio::task::spawn_blocking(move || detect(&sample))
            .await
            .map_err(|_| "a detector failed".to_string())?;
        let now = meshgate_store::truncate_to_micros(Utc::now());
        commit(
            state,
            table.id,
            |before| Ok(classification::on_detections(before, &found, mode, now)),
            |action| by.event(action, table.id),
            qualified,
            &json!(trigger),
        )
        .await
        .map_err(|e| e.message)
    };
    match tokio::time::timeout(SAMPLE_BUDGET, work).await {
        Ok(Ok(_)) => {}
        Ok(Err(why)) => {
            tracing::warn!(table = %qualified, trigger, reason = %why, "the table was not classified");
        }
        Err(_) => tracing::warn!(
            table = %qualified,
            trigger,
            seconds = SAMPLE_BUDGET.as_secs(),
            "the table was not classified in time"
        ),
    }
}

/// Classifies the tables of a product just created (uploaded or registered) from the first
/// rows of each. A new product has no grants yet, so nobody but its team reads a table before
/// its detections are applied.
pub async fn after_create(
    state: &AppState,
    by: Writer<'_>,
    domain: &Domain,
    product: &DataProduct,
    tables: &[ProductTable],
) {
    let rows = state.config.classification.sample_values;
    for t in tables {
        let qualified = format!("{}.{}.{}", domain.name, product.name, t.name);
        let Ok(location) = url::Url::parse(&t.location) else {
            continue;
        };
        classify(
            state,
            by,
            t,
            &qualified,
            "create",
            sampling::of_table(&location, rows),
        )
        .await;
    }
}

/// Classifies the values of a file about to be appended to `t`, before they are written, so
/// that a confident detection in mode `apply` masks the column before its new values can be
/// read.
pub async fn before_append_file(
    state: &AppState,
    caller: &Caller,
    t: &ProductTable,
    qualified: &str,
    format: FileFormat,
    file: &std::path::Path,
) {
    let rows = state.config.classification.sample_values;
    let Ok(location) = url::Url::parse(&t.location) else {
        return;
    };
    let sample = sampling::of_file(file, format, Some(&location), rows);
    classify(
        state,
        Writer::Caller(caller),
        t,
        qualified,
        "append",
        sample,
    )
    .await;
}

/// Classifies JSON rows about to be appended to `t` (the rows API), before they are written.
pub async fn before_append_rows(state: &AppState, caller: &Caller, t: &TableRef, rows: &[Value]) {
    let n = state.config.classification.sample_values;
    let sample: Vec<ColumnSample> = t
        .table
        .columns
        .iter()
        .filter(|c| c.name != meshgate_engine::rows::TENANT_COLUMN)
        .map(|c| ColumnSample {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            values: rows
                .iter()
                .take(n)
                .map(|row| match row.get(&c.name) {
                    Some(Value::String(s)) => Some(s.chars().take(MAX_VALUE_CHARS).collect()),
                    Some(Value::Number(x)) => Some(x.to_string()),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    let qualified = t.qualified();
    classify(
        state,
        Writer::Caller(caller),
        &t.table,
        &qualified,
        "rows",
        async { Ok(sample) },
    )
    .await;
}
