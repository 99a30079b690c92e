//! Bounded samples of column values, for automatic classification
//! (docs/design/CLASSIFICATION.md): the first `rows` rows of an uploaded file (read as the
//! ingest reads it) or of a Delta table, each column's values as text.
//!
//! Only the first rows are read, so a sample costs about the same whatever the size of the
//! file or table, and holds at most `rows` rows; a value longer than [`MAX_VALUE_CHARS`] is
//! cut there. Columns whose values are not text, numbers, dates or timestamps (booleans,
//! binaries, nested types) are left out: nothing is detected in them. Sampled values go to
//! the detectors and nowhere else: they are never logged, stored or returned to a caller.

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::prelude::SessionContext;
use url::Url;

use crate::ingest::{FileFormat, arrow_schema, open, read_file, unpanicked};
use crate::tenancy::TENANT_COLUMN;
use crate::{Error, Result};

/// The longest value kept, in characters; a longer one is cut (no detected kind is longer).
pub const MAX_VALUE_CHARS: usize = 256;

/// One column of a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSample {
    pub name: String,
    /// Arrow's name of its type (`Utf8`, `Int64`, `Date32` …).
    pub data_type: String,
    /// Up to the sample's number of rows, in order; `None` for null.
    pub values: Vec<Option<String>>,
}

/// The first `rows` rows of an uploaded file, read as the ingest would: with the schema of
/// the Delta table at `table` when given (an append; the derived tenant column aside), else
/// with the schema inferred from the file (a create).
pub async fn of_file(
    file: &Path,
    format: FileFormat,
    table: Option<&Url>,
    rows: usize,
) -> Result<Vec<ColumnSample>> {
    let schema = match table {
        Some(location) => {
            let schema = arrow_schema(&open(location).await?)?;
            let fields: Vec<_> = schema
                .fields()
                .iter()
                .filter(|f| f.name() != TENANT_COLUMN)
                .cloned()
                .collect();
            Some(Arc::new(Schema::new(fields)))
        }
        None => None,
    };
    let ctx = SessionContext::new();
    unpanicked(format, async {
        let df = read_file(&ctx, file, format, schema).await?;
        first_rows(df, rows).await
    })
    .await
}

/// The first `rows` rows of the Delta table at `location` (its latest version).
pub async fn of_table(location: &Url, rows: usize) -> Result<Vec<ColumnSample>> {
    let table = open(location).await?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| Error::storage(format!("cannot read table `{location}`: {e}")))?;
    let ctx = SessionContext::new();
    let df = ctx
        .read_table(provider)
        .map_err(|e| Error::storage(format!("cannot read table `{location}`: {e}")))?;
    first_rows(df, rows).await
}

async fn first_rows(df: DataFrame, rows: usize) -> Result<Vec<ColumnSample>> {
    let batches = df
        .limit(0, Some(rows))
        .map_err(Error::from_ingest_df)?
        .collect()
        .await
        .map_err(Error::from_ingest_df)?;
    Ok(of_batches(&batches, rows))
}

/// The first `rows` rows of `batches` (all of one schema).
pub fn of_batches(batches: &[RecordBatch], rows: usize) -> Vec<ColumnSample> {
    let Some(first) = batches.first() else {
        return Vec::new();
    };
    let schema = first.schema();
    let mut out = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if field.name() == TENANT_COLUMN || !sampled(field.data_type()) {
            continue;
        }
        let mut values = Vec::new();
        for batch in batches {
            if values.len() >= rows {
                break;
            }
            let Some(column) = batch.columns().get(i) else {
                break;
            };
            let Ok(text) = deltalake::arrow::compute::cast(column, &DataType::Utf8) else {
                break;
            };
            let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                break;
            };
            let take = (rows - values.len()).min(text.len());
            values.extend(
                text.iter()
                    .take(take)
                    .map(|v| v.map(|v| v.chars().take(MAX_VALUE_CHARS).collect())),
            );
        }
        out.push(ColumnSample {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
            values,
        });
    }
    out
}

/// Whether values of type `t` are sampled: text, numbers, dates and timestamps.
fn sampled(t: &DataType) -> bool {
    t.is_numeric()
        || matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{BooleanArray, Int64Array};

    fn batch(ids: Vec<i64>, emails: Vec<Option<&str>>) -> RecordBatch {
        let flags = BooleanArray::from(vec![true; ids.len()]);
        RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from(ids)) as Arc<dyn deltalake::arrow::array::Array>,
            ),
            ("email", Arc::new(StringArray::from(emails))),
            ("flag", Arc::new(flags)),
        ])
        .unwrap()
    }

    #[test]
    fn takes_the_first_rows_as_text_and_leaves_out_what_has_no_text() {
        let long = "x".repeat(1000);
        let batches = [
            batch(vec![1, 2], vec![Some("a@example.com"), None]),
            batch(vec![3, 4], vec![Some(long.as_str()), Some("d@example.com")]),
        ];
        let sample = of_batches(&batches, 3);
        assert_eq!(sample.len(), 2, "the boolean column is left out");
        assert_eq!(sample[0].name, "id");
        assert_eq!(sample[0].data_type, "Int64");
        assert_eq!(
            sample[0].values,
            [Some("1".into()), Some("2".into()), Some("3".into())]
        );
        assert_eq!(sample[1].values[1], None);
        assert_eq!(
            sample[1].values[2].as_deref().map(str::len),
            Some(MAX_VALUE_CHARS)
        );
        assert!(of_batches(&[], 10).is_empty());
    }
}
