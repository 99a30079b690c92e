//! How a table's files are laid out for reads (docs/design/TABLE_LAYOUT.md): the columns its
//! rows are clustered by and the columns its Parquet files carry bloom filters for, and the
//! `optimize` operation that rewrites the files that way.
//!
//! A column store has no b-tree; what finds a few rows fast is skipping: file statistics
//! (Delta's per-file min/max), row-group and page statistics (the Parquet page index) and
//! bloom filters. Statistics prune only when equal values sit together, so clustering sorts
//! the rows by the chosen columns (Z-order when there are several); a bloom filter answers
//! "is this value in this row group?" whatever the order. Both are kept as table properties,
//! so every later write (appends, row writes) and the next `optimize` apply them too.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ingest::{arrow_schema, version_of};
use crate::storage::open;
use crate::{Error, Result};

/// The table property holding the clustering columns (a JSON array of names).
pub const CLUSTER_BY_PROPERTY: &str = "meshgate.layout.clusterBy";
/// The table property holding the bloom-filter columns (a JSON array of names).
pub const BLOOM_FILTER_PROPERTY: &str = "meshgate.layout.bloomFilterColumns";

/// Most columns a table may be clustered by: Z-order over more interleaves so finely that no
/// column prunes well.
pub const MAX_CLUSTER_COLUMNS: usize = 4;
/// Most columns with bloom filters (each costs up to ~1 MiB per row group).
pub const MAX_BLOOM_FILTER_COLUMNS: usize = 8;
/// Bounds of `target_file_mb`.
pub const TARGET_FILE_MB: std::ops::RangeInclusive<u64> = 8..=4096;

/// A table's layout: what its writes sort by and index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Layout {
    /// Rows are sorted by these columns when the table is optimized (one column: a plain
    /// sort; several: Z-order).
    pub cluster_by: Vec<String>,
    /// Every Parquet file written carries a bloom filter for each of these columns.
    pub bloom_filter_columns: Vec<String>,
}

impl Layout {
    /// The layout recorded in a loaded table's properties (none: the empty layout). A property
    /// that does not parse is an error rather than a silently different layout.
    pub fn of(table: &DeltaTable) -> Result<Layout> {
        let state = table
            .snapshot()
            .map_err(|e| Error::storage(format!("table has no snapshot: {e}")))?;
        let properties = &state.table_config().unknown_properties;
        let read = |key: &str| -> Result<Vec<String>> {
            match properties.get(key) {
                None => Ok(Vec::new()),
                Some(text) => serde_json::from_str(text).map_err(|e| Error::InvalidData {
                    message: format!(
                        "the table property `{key}` is not a JSON list of column names: {e}"
                    ),
                }),
            }
        };
        Ok(Layout {
            cluster_by: read(CLUSTER_BY_PROPERTY)?,
            bloom_filter_columns: read(BLOOM_FILTER_PROPERTY)?,
        })
    }

    /// The Parquet writer properties of this layout, or `None` when it asks for nothing
    /// beyond the Delta writer's defaults (Snappy, page statistics and the page index).
    pub fn writer_properties(&self) -> Option<WriterProperties> {
        if self.bloom_filter_columns.is_empty() {
            return None;
        }
        Some(self.writer_properties_always())
    }

    fn writer_properties_always(&self) -> WriterProperties {
        let mut builder = WriterProperties::builder()
            .set_created_by(format!("meshgate {}", env!("CARGO_PKG_VERSION")))
            .set_compression(Compression::SNAPPY);
        for column in &self.bloom_filter_columns {
            builder =
                builder.set_column_bloom_filter_enabled(ColumnPath::from(column.as_str()), true);
        }
        builder.build()
    }

    /// Checks the layout against a table: existing top-level columns of types that sort and
    /// hash, no partition column among the clustering columns, no duplicates, within limits.
    fn check(&self, schema: &Schema, partition_columns: &[String]) -> Result<()> {
        let invalid = |message: String| Error::InvalidData { message };
        if self.cluster_by.len() > MAX_CLUSTER_COLUMNS {
            return Err(invalid(format!(
                "a table may be clustered by at most {MAX_CLUSTER_COLUMNS} columns"
            )));
        }
        if self.bloom_filter_columns.len() > MAX_BLOOM_FILTER_COLUMNS {
            return Err(invalid(format!(
                "at most {MAX_BLOOM_FILTER_COLUMNS} columns may have bloom filters"
            )));
        }
        for (what, columns) in [
            ("cluster by", &self.cluster_by),
            ("keep a bloom filter for", &self.bloom_filter_columns),
        ] {
            for (i, name) in columns.iter().enumerate() {
                if columns[..i].contains(name) {
                    return Err(invalid(format!("column `{name}` is named twice")));
                }
                let field = schema.field_with_name(name).map_err(|_| {
                    invalid(format!(
                        "cannot {what} `{name}`: the table has no such column"
                    ))
                })?;
                if !simple_type(field.data_type()) {
                    return Err(invalid(format!(
                        "cannot {what} `{name}`: its type {} is not a number, string, date, time or binary",
                        field.data_type()
                    )));
                }
                if partition_columns.contains(name) {
                    return Err(invalid(format!(
                        "cannot {what} `{name}`: the table is partitioned by it, so its values are already apart"
                    )));
                }
            }
        }
        Ok(())
    }

    fn properties(&self) -> Result<HashMap<String, String>> {
        let json = |v: &Vec<String>| {
            serde_json::to_string(v)
                .map_err(|e| Error::internal(format!("cannot record the table layout: {e}")))
        };
        Ok(HashMap::from([
            (CLUSTER_BY_PROPERTY.to_string(), json(&self.cluster_by)?),
            (
                BLOOM_FILTER_PROPERTY.to_string(),
                json(&self.bloom_filter_columns)?,
            ),
        ]))
    }
}

/// Types whose values have an order the Z-order key keeps and a bloom filter can hash.
fn simple_type(t: &DataType) -> bool {
    t.is_primitive()
        || matches!(
            t,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

/// What an `optimize` should change; `None` keeps what the table has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeOptions {
    pub cluster_by: Option<Vec<String>>,
    pub bloom_filter_columns: Option<Vec<String>>,
    /// The size files are written up to (default: the table's `delta.targetFileSize`, else
    /// 100 MiB).
    pub target_file_mb: Option<u64>,
}

/// What an `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OptimizeReport {
    /// The table version after the rewrite (the version before when nothing was rewritten).
    pub version: i64,
    /// The layout now recorded on the table.
    #[serde(flatten)]
    pub layout: Layout,
    /// Whether the files were sorted by the clustering columns (otherwise small files were
    /// compacted).
    pub clustered: bool,
    /// Files the rewrite removed from the table's version (they stay on storage).
    pub files_removed: u64,
    /// Files it wrote.
    pub files_added: u64,
    pub bytes_removed: u64,
    pub bytes_added: u64,
}

/// Rewrites a table's files for reads: with clustering columns, every file of each partition
/// is rewritten sorted by them (Z-order for several); without, small files are compacted.
/// New files carry the layout's bloom filters. The layout is recorded first (one commit, only
/// if it changed), then the rewrite commits as a Delta `OPTIMIZE` (no data change: readers
/// and Delta Sharing recipients see the same rows). `session` bounds the sort's memory and
/// spills past it.
pub async fn optimize(
    location: &Url,
    options: OptimizeOptions,
    session: SessionContext,
) -> Result<OptimizeReport> {
    let mut table = open(location).await?;
    let current = Layout::of(&table)?;
    let layout = Layout {
        cluster_by: options.cluster_by.unwrap_or(current.cluster_by.clone()),
        bloom_filter_columns: options
            .bloom_filter_columns
            .unwrap_or(current.bloom_filter_columns.clone()),
    };
    let schema = arrow_schema(&table)?;
    let partition_columns = partition_columns(&table)?;
    layout.check(&schema, &partition_columns)?;
    let target = match options.target_file_mb {
        None => None,
        Some(mb) if TARGET_FILE_MB.contains(&mb) => NonZeroU64::new(mb * 1024 * 1024),
        Some(_) => {
            return Err(Error::InvalidData {
                message: format!(
                    "target_file_mb must be between {} and {}",
                    TARGET_FILE_MB.start(),
                    TARGET_FILE_MB.end()
                ),
            });
        }
    };
    if layout != current {
        table = table
            .set_tbl_properties()
            .with_properties(layout.properties()?)
            .with_raise_if_not_exists(false)
            .await
            .map_err(|e| Error::storage(format!("cannot record the table layout: {e}")))?;
    }
    let clustered = !layout.cluster_by.is_empty();
    let kind = if clustered {
        OptimizeType::ZOrder(layout.cluster_by.clone())
    } else {
        OptimizeType::Compact
    };
    let mut builder = table
        .optimize()
        .with_type(kind)
        .with_writer_properties(layout.writer_properties_always())
        .with_session_state(Arc::new(session.state()));
    if let Some(target) = target {
        builder = builder.with_target_size(target);
    }
    let (table, metrics) = builder.await.map_err(optimize_error)?;
    Ok(OptimizeReport {
        version: version_of(&table),
        layout,
        clustered,
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        bytes_removed: u64::try_from(metrics.files_removed.total_size).unwrap_or(0),
        bytes_added: u64::try_from(metrics.files_added.total_size).unwrap_or(0),
    })
}

fn partition_columns(table: &DeltaTable) -> Result<Vec<String>> {
    let state = table
        .snapshot()
        .map_err(|e| Error::storage(format!("table has no snapshot: {e}")))?;
    let metadata = serde_json::to_value(state.metadata())
        .map_err(|e| Error::internal(format!("cannot read the table's metadata: {e}")))?;
    Ok(metadata
        .get("partitionColumns")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default())
}

fn optimize_error(e: deltalake::DeltaTableError) -> Error {
    use deltalake::DeltaTableError;
    match e {
        DeltaTableError::ObjectStore { source } => Error::storage(source.to_string()),
        DeltaTableError::Io { source } => Error::storage(source.to_string()),
        // Another writer committed a conflicting change meanwhile: nothing was changed.
        DeltaTableError::Transaction { source } => Error::Conflict {
            message: format!(
                "the table changed while it was being optimized; try again ({source})"
            ),
        },
        other => Error::storage(format!("cannot optimize the table: {other}")),
    }
}

/// A write to an existing table, with its layout's bloom filters: every write path that
/// appends (files, batches, rows) starts here, so no file is written without them.
pub(crate) fn write(
    table: DeltaTable,
    batches: Vec<deltalake::arrow::record_batch::RecordBatch>,
) -> Result<deltalake::operations::write::WriteBuilder> {
    let properties = Layout::of(&table)?.writer_properties();
    let mut write = table.write(batches);
    if let Some(p) = properties {
        write = write.with_writer_properties(p);
    }
    Ok(write)
}
