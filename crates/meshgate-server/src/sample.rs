//! Reading one table as another principal would — a few rows and the row count — through
//! the same engine, access resolution and masks as that principal's own queries. Used by an
//! approval's preview (`shares::preview`) and by who-sees-what (`access::who_sees`). Both
//! show what the product holds, so besides their own authorization both require
//! [`reads_all_of`]: the caller's own team owns the product, so it reads every row of it
//! anyway (a mesh admin may approve any request, but reads no product's data through it).
//! The handlers audit their own act.

use futures::StreamExt;
use meshgate_engine::output::{self, OutputFormat};
use meshgate_engine::query::VisibleTable;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Refuses (403) a caller whose own reads of the product are not whole: only members of the
/// owning team see samples and counts of it.
pub async fn reads_all_of(
    state: &AppState,
    caller: &crate::auth::Caller,
    product_id: uuid::Uuid,
    what: &str,
) -> ApiResult<()> {
    if crate::snapshot::of(state, caller).await?.owns(product_id) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "principal `{}` may not {what}: it shows the product's data, which only members of the product's team read in full",
        caller.principal.name
    )))
}

/// At most this many rows in one sample.
pub const MAX_ROWS: usize = 50;

/// What a principal reads of one table: its columns, the first rows, and how many in all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// `domain.product.table`.
    pub table: String,
    pub columns: Vec<SampleColumn>,
    /// The first rows, `{column: value}`.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// How many rows the principal reads in all.
    pub total_rows: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SampleColumn {
    pub name: String,
    pub data_type: String,
    /// Whether the rules change this column's values (a mask or a cell rule).
    pub masked: bool,
}

fn quoted(table: &VisibleTable) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    format!(
        "{}.{}.{}",
        q(&table.domain),
        q(&table.product),
        q(&table.table)
    )
}

/// Runs `sql` over `table` alone and returns the JSON rows and the output's masked columns.
async fn run(
    state: &AppState,
    table: &VisibleTable,
    sql: &str,
) -> ApiResult<(Vec<SampleColumn>, Vec<serde_json::Value>)> {
    let stream = state.engine.run(sql, std::slice::from_ref(table)).await?;
    let columns = stream
        .schema
        .fields()
        .iter()
        .map(|f| SampleColumn {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            masked: stream.masked.contains(f.name()),
        })
        .collect();
    let body = output::encode(stream.batches, stream.schema, OutputFormat::Json, |_| {})?;
    let mut bytes = Vec::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok((columns, rows))
}

/// How many rows of `table` its principal reads.
pub async fn count(state: &AppState, table: &VisibleTable) -> ApiResult<u64> {
    let (_, rows) = run(
        state,
        table,
        &format!("SELECT count(*) AS n FROM {}", quoted(table)),
    )
    .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("n"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// The first `limit` rows (at most [`MAX_ROWS`]) and the count.
pub async fn read(state: &AppState, table: &VisibleTable, limit: usize) -> ApiResult<Sample> {
    let limit = limit.clamp(1, MAX_ROWS);
    let (columns, rows) = run(
        state,
        table,
        &format!("SELECT * FROM {} LIMIT {limit}", quoted(table)),
    )
    .await?;
    Ok(Sample {
        table: format!("{}.{}.{}", table.domain, table.product, table.table),
        columns,
        rows,
        total_rows: count(state, table).await?,
    })
}
