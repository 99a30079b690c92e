//! Row-level writes and multi-tenant tables (docs/design/ACCESS.md §Tenant isolation).
//!
//! A multi-tenant table declares a tenant key column (values like `tenant1-17`); the tenant
//! is the part before a separator (default `-`) or the whole value. Such a table carries a
//! derived partition column [`TENANT_COLUMN`], filled on every write, so the Delta log can
//! prune a tenant-scoped read to that tenant's files.
//!
//! Appending JSON rows is atomic (one Delta commit: all rows or none), validated against the
//! table's schema with errors naming the row and the column. Concurrent appends are blind
//! appends, which the Delta commit protocol retries on version conflicts without losing rows.

use std::sync::Arc;

use deltalake::DeltaTableError;
use deltalake::arrow::array::{Array, ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::common::ScalarValue;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::protocol::SaveMode;
use serde_json::Value;
use url::Url;

use crate::ingest::{IngestReport, arrow_schema, write_report};
use crate::storage::{open, prepare_location, remove_location};
pub use crate::tenancy::{TENANT_COLUMN, Tenancy};
use crate::{Error, Result};

/// Why a batch of rows was refused: which row (0-based), which column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub column: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}: column `{c}`: {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

impl From<RowError> for Error {
    fn from(e: RowError) -> Self {
        Error::InvalidData {
            message: e.to_string(),
        }
    }
}

/// Adds the tenant partition column to `batch`, derived from its key column.
pub fn with_tenant_column(batch: &RecordBatch, tenancy: &Tenancy) -> Result<RecordBatch> {
    let keys = batch
        .column_by_name(&tenancy.key_column)
        .ok_or_else(|| Error::InvalidData {
            message: format!("the tenant key column `{}` is missing", tenancy.key_column),
        })?;
    let keys = deltalake::arrow::compute::cast(keys, &DataType::Utf8)
        .map_err(|e| Error::internal(format!("cannot read tenant keys: {e}")))?;
    let keys = keys
        .as_any()
        .downcast_ref::<deltalake::arrow::array::StringArray>()
        .ok_or_else(|| Error::internal("tenant keys are not text"))?;
    let mut tenants = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let key = key.ok_or_else(|| RowError {
            row: i,
            column: Some(tenancy.key_column.clone()),
            reason: "the tenant key may not be null".into(),
        })?;
        tenants.push(tenancy.tenant_of(key).to_string());
    }
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .filter(|f| f.name() != TENANT_COLUMN)
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != TENANT_COLUMN)
        .map(|(_, c)| c.clone())
        .collect();
    fields.push(Field::new(TENANT_COLUMN, DataType::Utf8, false));
    columns.push(Arc::new(deltalake::arrow::array::StringArray::from(
        tenants,
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::internal(format!("cannot add the tenant column: {e}")))
}

/// Creates a multi-tenant table from batches (without the tenant column), partitioned by
/// tenant.
pub async fn create_tenant_table(
    location: &Url,
    name: &str,
    batches: Vec<RecordBatch>,
    tenancy: &Tenancy,
) -> Result<IngestReport> {
    let mut with_tenant = Vec::with_capacity(batches.len());
    for b in &batches {
        with_tenant.push(with_tenant_column(b, tenancy)?);
    }
    prepare_location(location)?;
    let result = async {
        let table = deltalake::DeltaTableBuilder::from_url(location.clone())
            .and_then(|b| b.build())
            .map_err(|e| Error::storage(format!("cannot prepare table at `{location}`: {e}")))?;
        let table = table
            .write(with_tenant)
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_configuration(crate::ingest::managed_table_configuration())
            .with_partition_columns(vec![TENANT_COLUMN.to_string()])
            .with_table_name(name)
            .await
            .map_err(Error::from_ingest)?;
        write_report(&table).await
    }
    .await;
    if result.is_err() {
        remove_location(location);
    }
    result
}

/// Converts JSON objects into a batch of `schema` (the table's schema). The tenant column of
/// a multi-tenant table is derived, not given; every other column must fit its type, and
/// non-nullable columns must be present.
pub fn rows_to_batch(
    schema: &SchemaRef,
    rows: &[Value],
    tenancy: Option<&Tenancy>,
) -> std::result::Result<RecordBatch, RowError> {
    let derived = |f: &Field| tenancy.is_some() && f.name() == TENANT_COLUMN;
    let mut cells: Vec<Vec<ScalarValue>> =
        vec![Vec::with_capacity(rows.len()); schema.fields().len()];
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(map) = row else {
            return Err(RowError {
                row: i,
                column: None,
                reason: "a row must be a JSON object of column → value".into(),
            });
        };
        if let Some(unknown) = map.keys().find(|k| {
            schema.field_with_name(k).is_err() || (tenancy.is_some() && *k == TENANT_COLUMN)
        }) {
            let reason = if unknown == TENANT_COLUMN {
                "is derived from the tenant key; leave it out".to_string()
            } else {
                "is not a column of the table".to_string()
            };
            return Err(RowError {
                row: i,
                column: Some(unknown.clone()),
                reason,
            });
        }
        for (c, field) in schema.fields().iter().enumerate() {
            if derived(field) {
                continue;
            }
            let value = map.get(field.name()).unwrap_or(&Value::Null);
            if value.is_null() && tenancy.is_some_and(|t| t.key_column == *field.name()) {
                // Caught here, with its row: a null key has no tenant to derive.
                return Err(RowError {
                    row: i,
                    column: Some(field.name().clone()),
                    reason: "the tenant key is required".into(),
                });
            }
            cells[c].push(scalar(value, field).map_err(|reason| RowError {
                row: i,
                column: Some(field.name().clone()),
                reason,
            })?);
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut fields = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        if derived(field) {
            continue;
        }
        let array = if rows.is_empty() {
            deltalake::arrow::array::new_empty_array(field.data_type())
        } else {
            ScalarValue::iter_to_array(std::mem::take(&mut cells[c])).map_err(|e| RowError {
                row: 0,
                column: Some(field.name().clone()),
                reason: format!("cannot build the column: {e}"),
            })?
        };
        columns.push(array);
        fields.push(field.as_ref().clone());
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| RowError {
            row: 0,
            column: None,
            reason: e.to_string(),
        })?;
    match tenancy {
        Some(t) => with_tenant_column(&batch, t).map_err(|e| RowError {
            row: 0,
            column: Some(t.key_column.clone()),
            reason: e.to_string(),
        }),
        None => Ok(batch),
    }
}

/// One JSON value as a cell of `field`, or why it cannot be one.
fn scalar(value: &Value, field: &Field) -> std::result::Result<ScalarValue, String> {
    let t = field.data_type();
    let typed = match value {
        Value::Null => {
            if !field.is_nullable() {
                return Err("is required".into());
            }
            return ScalarValue::try_from(t).map_err(|_| format!("type {t} is not supported"));
        }
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int64(Some(i))
            } else if let Some(u) = n.as_u64() {
                ScalarValue::UInt64(Some(u))
            } else {
                ScalarValue::Float64(n.as_f64())
            }
        }
        Value::String(s) => {
            return match t {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    ScalarValue::Utf8(Some(s.clone()))
                        .cast_to(t)
                        .map_err(|e| e.to_string())
                }
                _ => ScalarValue::try_from_string(s.clone(), t)
                    .map_err(|_| format!("`{s}` is not a valid {t}")),
            };
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(format!("expected a {t}, found a JSON {}", kind(value)));
        }
    };
    let fits = match (&typed, t) {
        (ScalarValue::Boolean(_), DataType::Boolean) => true,
        (ScalarValue::Boolean(_), _) | (_, DataType::Boolean) => false,
        (_, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => false,
        (ScalarValue::Float64(_), t) if t.is_integer() => false,
        (_, t) => t.is_numeric(),
    };
    if !fits {
        return Err(format!("expected a {t}, found {value}"));
    }
    let cast = typed
        .cast_to(t)
        .map_err(|_| format!("{value} does not fit a {t}"))?;
    // Arrow's cast turns out-of-range integers into NULL rather than failing.
    if cast.is_null() {
        return Err(format!("{value} does not fit a {t}"));
    }
    Ok(cast)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "value",
    }
}

/// Appends `rows` to the table at `location` in one commit: all of them or, on any invalid
/// row, none. (Callers check rows against a session policy before calling.)
pub async fn append_rows(
    location: &Url,
    rows: &[Value],
    tenancy: Option<&Tenancy>,
) -> Result<IngestReport> {
    let mut attempt = 0u32;
    loop {
        let table = open(location).await?;
        let schema = arrow_schema(&table)?;
        let batch = rows_to_batch(&schema, rows, tenancy)?;
        let batch = align(batch, &schema)?;
        // Concurrent appends never conflict logically; the commit protocol retries each
        // against the versions others committed meanwhile.
        let written = crate::layout::write(table, vec![batch])?
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(CommitProperties::default().with_max_retries(COMMIT_RETRIES))
            .await;
        match written {
            Ok(table) => return write_report(&table).await,
            Err(DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_),
            }) if attempt < WRITE_ATTEMPTS => {
                // Extreme contention: back off (with jitter) and write again.
                attempt += 1;
                let jitter = u64::from(rand::random::<u8>());
                tokio::time::sleep(std::time::Duration::from_millis(
                    20 * u64::from(attempt) + jitter,
                ))
                .await;
            }
            Err(e) => return Err(Error::from_ingest(e)),
        }
    }
}

/// Commit attempts one write makes against concurrent commits.
const COMMIT_RETRIES: usize = 100;
/// Writes retried (re-reading the table) when all commit attempts lost a race.
const WRITE_ATTEMPTS: u32 = 5;

/// Reorders a batch's columns to the table's order.
fn align(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let c = batch.column_by_name(f.name()).ok_or_else(|| {
            Error::internal(format!("column `{}` missing from a write", f.name()))
        })?;
        columns.push(c.clone());
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::internal(format!("cannot align a write to the table: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("item_id", DataType::Utf8, false),
            Field::new("qty", DataType::Int32, true),
            Field::new("price", DataType::Float64, true),
            Field::new("day", DataType::Date32, true),
            Field::new(TENANT_COLUMN, DataType::Utf8, false),
        ]))
    }

    fn tenancy() -> Tenancy {
        Tenancy {
            key_column: "item_id".into(),
            separator: Some("-".into()),
        }
    }

    #[test]
    fn tenants_come_from_keys() {
        let t = tenancy();
        assert_eq!(t.tenant_of("tenant1-17"), "tenant1");
        assert_eq!(t.tenant_of("solo"), "solo");
        assert_eq!(t.tenant_of_prefix("tenant1-"), "tenant1");
        assert_eq!(t.tenant_of_prefix("tenant1"), "tenant1");
        assert_eq!(t.tenant_of_prefix("tenant1-17"), "tenant1");
        let whole = Tenancy {
            key_column: "k".into(),
            separator: None,
        };
        assert_eq!(whole.tenant_of("a-b"), "a-b");
        assert_eq!(whole.tenant_of_prefix("a-b"), "a-b");
    }

    /// Issue 13, finding 9: a prefix is compared at the separator, never as a bare string.
    #[test]
    fn key_prefixes_stop_at_the_separator() {
        let t = tenancy();
        for (prefix, inside, outside) in [
            (
                "tenant1",
                &["tenant1", "tenant1-", "tenant1-17"][..],
                &[
                    "tenant10-1",
                    "tenant1x-1",
                    "tenant10",
                    "tenant",
                    "xtenant1-1",
                ][..],
            ),
            (
                "tenant1-",
                &["tenant1-", "tenant1-17", "tenant1-17-a"],
                &["tenant10-1", "tenant1", "tenant2-1"],
            ),
            (
                "tenant1-17",
                &["tenant1-17", "tenant1-17-a"],
                &["tenant1-170", "tenant1-1", "tenant1-"],
            ),
        ] {
            for key in inside {
                assert!(t.key_in_prefix(key, prefix), "{prefix} covers {key}");
            }
            for key in outside {
                assert!(
                    !t.key_in_prefix(key, prefix),
                    "{prefix} must not cover {key}"
                );
            }
        }
        let whole = Tenancy {
            key_column: "k".into(),
            separator: None,
        };
        assert!(whole.key_in_prefix("acme", "acme"));
        assert!(!whole.key_in_prefix("acme2", "acme"));
        assert!(!whole.key_in_prefix("acme-1", "acme"));
        assert_eq!(
            t.prefix_filters("tenant1"),
            [
                "(\"item_id\" = 'tenant1' OR starts_with(\"item_id\", 'tenant1-'))",
                "\"tenant\" = 'tenant1'"
            ]
        );
        assert_eq!(
            t.prefix_filters("o'k-"),
            ["starts_with(\"item_id\", 'o''k-')", "\"tenant\" = 'o''k'"]
        );
        assert_eq!(
            whole.prefix_filters("acme"),
            ["\"k\" = 'acme'", "\"tenant\" = 'acme'"]
        );
    }

    #[test]
    fn rows_become_a_batch_with_tenants() {
        let rows = vec![
            json!({"item_id": "t1-1", "qty": 3, "price": 2.5, "day": "2024-05-01"}),
            json!({"item_id": "t2-1", "qty": null}),
        ];
        let batch = rows_to_batch(&schema(), &rows, Some(&tenancy())).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let tenants = batch.column_by_name(TENANT_COLUMN).unwrap();
        let tenants = tenants
            .as_any()
            .downcast_ref::<deltalake::arrow::array::StringArray>()
            .unwrap();
        assert_eq!(tenants.value(0), "t1");
        assert_eq!(tenants.value(1), "t2");
    }

    #[test]
    fn a_missing_nullable_tenant_key_names_its_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("item_id", DataType::Utf8, true),
            Field::new("qty", DataType::Int64, true),
        ]));
        let rows = vec![json!({"item_id": "a-1"}), json!({"qty": 1})];
        let err = rows_to_batch(&schema, &rows, Some(&tenancy())).unwrap_err();
        assert_eq!(
            (err.row, err.column.as_deref()),
            (1, Some("item_id")),
            "{err}"
        );
        assert!(!err.to_string().contains("row 0"), "{err}");
    }

    #[test]
    fn bad_rows_name_the_row_and_the_column() {
        let t = tenancy();
        let cases = [
            (
                json!([{"item_id": "a-1"}, {"item_id": "a-2", "qty": "many"}]),
                1,
                Some("qty"),
            ),
            (json!([{"item_id": "a-1", "nope": 1}]), 0, Some("nope")),
            (json!([{"qty": 1}]), 0, Some("item_id")),
            (json!([{"item_id": "a-1", "qty": 1.5}]), 0, Some("qty")),
            (
                json!([{"item_id": "a-1", "qty": 99999999999i64}]),
                0,
                Some("qty"),
            ),
            (
                json!([{"item_id": "a-1", "day": "yesterday"}]),
                0,
                Some("day"),
            ),
            (
                json!([{"item_id": "a-1", "tenant": "b"}]),
                0,
                Some("tenant"),
            ),
            (json!([{"item_id": "a-1"}, 7]), 1, None),
            (json!([{"item_id": "a-1", "price": [1]}]), 0, Some("price")),
        ];
        for (rows, row, column) in cases {
            let rows = rows.as_array().unwrap().clone();
            let err = rows_to_batch(&schema(), &rows, Some(&t)).unwrap_err();
            assert_eq!(err.row, row, "{err}");
            assert_eq!(err.column.as_deref(), column, "{err}");
        }
    }
}
