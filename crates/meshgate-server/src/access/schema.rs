//! The checks every access write passes against the table's current schema: named columns
//! exist, a row filter compiles, a mask fits its column.

use std::collections::BTreeMap;

use meshgate_core::access::Mask;
use meshgate_core::model::ProductTable;
use meshgate_engine::arrow::datatypes::SchemaRef;
use meshgate_engine::ingest;
use meshgate_engine::policy;

use crate::error::{ApiError, ApiResult};

/// The table's current Arrow schema, read from its Delta log.
pub(crate) async fn schema_of(table: &ProductTable) -> ApiResult<SchemaRef> {
    let location = url::Url::parse(&table.location).map_err(ApiError::internal)?;
    let delta = ingest::open(&location).await.map_err(ApiError::internal)?;
    ingest::arrow_schema(&delta).map_err(ApiError::internal)
}

pub(crate) fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{field}: {message}"))
}

/// Columns named in a list must exist; reports every unknown one.
pub(crate) fn check_columns(schema: &SchemaRef, columns: &[String], field: &str) -> ApiResult<()> {
    let unknown: Vec<&str> = columns
        .iter()
        .filter(|c| schema.field_with_name(c).is_err())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(
            field,
            format!(
                "unknown column(s) {}; the table has: {}",
                quoted(&unknown),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if columns.is_empty() {
        return Err(invalid(
            field,
            "must name at least one column (omit it for all)",
        ));
    }
    Ok(())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn check_filter_text(schema: &SchemaRef, text: &str) -> ApiResult<()> {
    policy::validate_filter(text, schema).map_err(|e| invalid("row_filter", e))
}

pub(crate) fn check_masks(schema: &SchemaRef, masks: &BTreeMap<String, Mask>) -> ApiResult<()> {
    for (column, mask) in masks {
        let field = schema
            .field_with_name(column)
            .map_err(|_| invalid("masks", format!("unknown column `{column}`")))?;
        policy::validate_mask(mask, field, schema)
            .map_err(|e| invalid("masks", format!("column `{column}`: {e}")))?;
    }
    Ok(())
}
