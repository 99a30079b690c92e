//! `POST /api/v1/query`: resolves the tables the caller may read, runs its SQL over exactly
//! those, streams the result, and audits the query when the stream ends (rows, bytes,
//! duration, outcome).

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use meshgate_core::model::{NewAuditEvent, Outcome};
use meshgate_engine::output::{self, OutputFormat};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct QueryRequest {
    pub sql: String,
    #[serde(default)]
    pub format: Option<String>,
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
    let access = crate::snapshot::readable(state, caller).await?;
    let request_id = crate::error::REQUEST_ID.try_with(|id| id.clone()).ok();
    let event = |outcome: Outcome, detail: serde_json::Value| {
        NewAuditEvent::new(Some(caller.id()), "query.run", "query", None)
            .with_outcome(outcome)
            .with_request_id(request_id.clone())
            .with_detail(detail)
    };
    let stream = match state.engine.run(&req.sql, access.visible()).await {
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
    let masked = masked_header(&stream.masked);
    let body = output::encode(batches, stream.schema, format, on_end)?;
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(v) = masked {
        response.headers_mut().insert(MASKED_COLUMNS, v);
    }
    Ok(response)
}

/// Names the output columns whose values the caller's rules mask (docs/API.md §SQL), so a
/// client can mark them: percent-encoded, comma-separated.
pub const MASKED_COLUMNS: &str = "x-meshgate-masked-columns";

fn masked_header(columns: &[String]) -> Option<HeaderValue> {
    if columns.is_empty() {
        return None;
    }
    let encoded: Vec<String> = columns
        .iter()
        .map(|c| meshgate_engine::storage::percent_encode(c))
        .collect();
    HeaderValue::from_str(&encoded.join(",")).ok()
}
