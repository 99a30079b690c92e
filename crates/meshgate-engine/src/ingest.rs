//! Turning uploaded files into Delta tables.
//!
//! The file is read by DataFusion (schema inferred for new tables, the table's own schema
//! enforced on append) and streamed into a Delta write, so a large upload never has to fit in
//! memory. Delta commits are atomic: a failed write leaves no visible data, and a failed
//! create removes the half-made directory.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext,
};
use deltalake::operations::write::WriteMetrics;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::{FutureExt, TryStreamExt};
use meshgate_core::model::Column;
use meshgate_guard::upload;
use url::Url;

pub use crate::storage::open;
use crate::storage::{prepare_location, remove_location};
use crate::tenancy::{TENANT_COLUMN, Tenancy};
use crate::{Error, Result};

/// How many rows CSV and JSON schema inference looks at.
const INFER_ROWS: usize = 10_000;

/// An uploaded file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    JsonLines,
}

impl FileFormat {
    /// Parses a format name as given on the CLI or in `?format=`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Ok(FileFormat::Csv),
            "parquet" => Ok(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" | "json-lines" | "jsonlines" => Ok(FileFormat::JsonLines),
            other => Err(Error::InvalidData {
                message: format!("unknown file format `{other}`; use `csv`, `parquet` or `jsonl`"),
            }),
        }
    }

    /// Guesses the format from a file name's extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        FileFormat::parse(ext).ok()
    }

    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Csv => "CSV",
            FileFormat::Parquet => "Parquet",
            FileFormat::JsonLines => "JSON-lines",
        }
    }

    /// The extension DataFusion expects on files of this format.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => ".csv",
            FileFormat::Parquet => ".parquet",
            FileFormat::JsonLines => ".jsonl",
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub rows: u64,
    /// The table version the write committed.
    pub version: i64,
    /// The table's columns after the write.
    pub columns: Vec<Column>,
}

/// Creates a new Delta table at `location` from a file. Fails if a table already exists there.
pub async fn create_table(
    file: &Path,
    format: FileFormat,
    location: &Url,
    name: &str,
) -> Result<IngestReport> {
    create_table_with(file, format, location, name, None).await
}

/// Like [`create_table`]; with `tenancy`, the table gets the derived tenant column and is
/// partitioned by it (see [`crate::rows`]).
pub async fn create_table_with(
    file: &Path,
    format: FileFormat,
    location: &Url,
    name: &str,
    tenancy: Option<&Tenancy>,
) -> Result<IngestReport> {
    let ctx = write_session();
    let mut df = unpanicked(format, read_file(&ctx, file, format, None)).await?;
    if let Some(t) = tenancy {
        df = with_tenant(df, t)?;
    }
    prepare_location(location)?;
    let result = unpanicked(format, async {
        let table = empty_table(location).await?;
        let mut write = table
            .write(Vec::new())
            .with_input_plan(df.logical_plan().clone())
            .with_session_state(Arc::new(ctx.state()))
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_configuration(managed_table_configuration())
            .with_table_name(name);
        if tenancy.is_some() {
            write = write.with_partition_columns(vec![TENANT_COLUMN.to_string()]);
        }
        let table = write.await.map_err(Error::from_ingest)?;
        write_report(&table).await
    })
    .await;
    if result.is_err() {
        remove_location(location);
    }
    result
}

/// The table properties of every table meshgate creates: the change data feed is on, so
/// Delta Sharing recipients can read a product table's changes (`/changes`).
pub fn managed_table_configuration() -> Vec<(&'static str, Option<&'static str>)> {
    vec![("delta.enableChangeDataFeed", Some("true"))]
}

/// Adds the tenant column derived from the key column to a file being written.
fn with_tenant(
    df: deltalake::datafusion::dataframe::DataFrame,
    tenancy: &Tenancy,
) -> Result<deltalake::datafusion::dataframe::DataFrame> {
    use deltalake::datafusion::logical_expr::{Expr, cast, lit};
    if df
        .schema()
        .field_with_unqualified_name(&tenancy.key_column)
        .is_err()
    {
        return Err(Error::InvalidData {
            message: format!(
                "the tenant key column `{}` is not a column of the file",
                tenancy.key_column
            ),
        });
    }
    if df
        .schema()
        .field_with_unqualified_name(TENANT_COLUMN)
        .is_ok()
    {
        return Err(Error::InvalidData {
            message: format!(
                "a multi-tenant table derives its `{TENANT_COLUMN}` column from the key; the file may not have one"
            ),
        });
    }
    let key: Expr = cast(
        Expr::Column(deltalake::datafusion::common::Column::new_unqualified(
            &tenancy.key_column,
        )),
        DataType::Utf8,
    );
    let tenant = match &tenancy.separator {
        Some(sep) => {
            deltalake::datafusion::functions::expr_fn::split_part(key, lit(sep.as_str()), lit(1i64))
        }
        None => key,
    };
    df.with_column(TENANT_COLUMN, tenant)
        .map_err(Error::from_ingest_df)
}

/// Appends a file's rows to the table at `location`, reading it with the table's schema.
pub async fn append_file(file: &Path, format: FileFormat, location: &Url) -> Result<IngestReport> {
    append_file_with(file, format, location, None).await
}

/// Like [`append_file`]; with `tenancy`, the file has no tenant column and it is derived.
pub async fn append_file_with(
    file: &Path,
    format: FileFormat,
    location: &Url,
    tenancy: Option<&Tenancy>,
) -> Result<IngestReport> {
    let table = open(location).await?;
    let mut schema = arrow_schema(&table)?;
    if tenancy.is_some() {
        let fields: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != TENANT_COLUMN)
            .cloned()
            .collect();
        schema = Arc::new(Schema::new(fields));
    }
    let ctx = write_session();
    let mut df = unpanicked(format, read_file(&ctx, file, format, Some(schema))).await?;
    if let Some(t) = tenancy {
        df = with_tenant(df, t)?;
    }
    let table = unpanicked(format, async {
        crate::layout::write(table, Vec::new())?
            .with_input_plan(df.logical_plan().clone())
            .with_session_state(Arc::new(ctx.state()))
            .with_save_mode(SaveMode::Append)
            .await
            .map_err(Error::from_ingest)
    })
    .await?;
    write_report(&table).await
}

/// Runs the reading (and writing) of an uploaded file, turning a panic in a reader into
/// [`Error::InvalidData`]: a file crafted to trip a reader is the caller's to fix, and the
/// request it came with gets an answer.
pub(crate) async fn unpanicked<T>(
    format: FileFormat,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            tracing::warn!(
                format = format.name(),
                panic = crate::error::panic_message(panic.as_ref()),
                "a reader panicked on an uploaded file"
            );
            Err(Error::InvalidData {
                message: format!(
                    "the {} file is malformed: the reader could not decode it",
                    format.name()
                ),
            })
        }
    }
}

/// Most bytes of Parquet metadata an upload may have (a footer describing thousands of row
/// groups and columns is still a few MiB).
const MAX_PARQUET_METADATA: u64 = 64 * 1024 * 1024;

/// Longest the decoding of an upload's Parquet metadata may take.
const PARQUET_METADATA_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks a Parquet file before DataFusion's reader sees it: its framing (both magics, a
/// footer length that points inside the file), then that its metadata decodes — on a
/// blocking thread, within a time budget, a panic there being a malformed file — so a
/// crafted footer holds neither a runtime thread nor the request for long.
async fn check_parquet(file: &Path) -> Result<()> {
    let malformed = |why: &str| Error::InvalidData {
        message: format!("the Parquet file is malformed: {why}"),
    };
    let path = file.to_path_buf();
    let work = tokio::task::spawn_blocking(move || parquet_metadata(&path));
    match tokio::time::timeout(PARQUET_METADATA_BUDGET, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => {
            tracing::warn!(error = %join, "the Parquet metadata decoder panicked on an upload");
            Err(malformed("its metadata cannot be decoded"))
        }
        // The blocking thread finishes on its own; the caller is answered now.
        Err(_) => Err(malformed(&format!(
            "its metadata takes longer than {} s to decode",
            PARQUET_METADATA_BUDGET.as_secs()
        ))),
    }
}

/// [`check_parquet`]'s blocking part.
fn parquet_metadata(file: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let unreadable = |e: std::io::Error| Error::storage(format!("cannot read the upload: {e}"));
    let malformed = |why: String| Error::InvalidData {
        message: format!("the Parquet file is malformed: {why}"),
    };
    let mut f = std::fs::File::open(file).map_err(unreadable)?;
    let len = f.metadata().map_err(unreadable)?.len();
    let mut head = [0u8; upload::PARQUET_HEAD];
    let mut tail = [0u8; upload::PARQUET_TAIL];
    let minimum = (upload::PARQUET_HEAD + upload::PARQUET_TAIL) as u64;
    if len >= minimum {
        f.read_exact(&mut head).map_err(unreadable)?;
        f.seek(SeekFrom::End(-(upload::PARQUET_TAIL as i64)))
            .map_err(unreadable)?;
        f.read_exact(&mut tail).map_err(unreadable)?;
    }
    let framing =
        upload::parquet_framing(len, &head, &tail).map_err(|e| malformed(e.to_string()))?;
    if framing.metadata_len > MAX_PARQUET_METADATA {
        return Err(malformed(format!(
            "its metadata is larger than {} MiB",
            MAX_PARQUET_METADATA / (1024 * 1024)
        )));
    }
    let mut metadata = vec![0u8; framing.metadata_len as usize];
    f.seek(SeekFrom::Start(framing.metadata_offset))
        .map_err(unreadable)?;
    f.read_exact(&mut metadata).map_err(unreadable)?;
    deltalake::parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&metadata)
        .map(|_| ())
        .map_err(|e| {
            tracing::debug!(error = %e, "an uploaded Parquet file's metadata does not decode");
            malformed("its metadata cannot be decoded".into())
        })
}

/// Writes in-memory batches: creates the table if `create`, else appends.
pub async fn write_batches(
    location: &Url,
    name: &str,
    batches: Vec<RecordBatch>,
    create: bool,
) -> Result<IngestReport> {
    prepare_location(location)?;
    let write = if create {
        empty_table(location).await?.write(batches)
    } else {
        crate::layout::write(open(location).await?, batches)?
    };
    let table = write
        .with_save_mode(if create {
            SaveMode::ErrorIfExists
        } else {
            SaveMode::Append
        })
        .with_configuration(if create {
            managed_table_configuration()
        } else {
            Vec::new()
        })
        .with_table_name(name)
        .await
        .map_err(Error::from_ingest)?;
    write_report(&table).await
}

/// Opens an existing Delta table (e.g. to register it) and describes its columns.
pub async fn describe(location: &Url) -> Result<(i64, Vec<Column>)> {
    let table = open(location).await?;
    let version = version_of(&table);
    Ok((version, columns_of(arrow_schema(&table)?.as_ref())))
}

/// A session for writes: deltalake's writer plans nodes only its own planner can run.
fn write_session() -> SessionContext {
    deltalake::delta_datafusion::create_session().into_inner()
}

/// A handle on a location where a table is about to be created (nothing is read from it).
async fn empty_table(location: &Url) -> Result<DeltaTable> {
    DeltaTableBuilder::from_url(location.clone())
        .and_then(|b| b.build())
        .map_err(|e| Error::storage(format!("cannot prepare table at `{location}`: {e}")))
}

/// The table's schema as Arrow sees it.
pub fn arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    let snapshot = table
        .snapshot()
        .map_err(|e| Error::storage(format!("table has no snapshot: {e}")))?;
    Ok(snapshot.snapshot().arrow_schema())
}

pub(crate) async fn read_file(
    ctx: &SessionContext,
    file: &Path,
    format: FileFormat,
    schema: Option<SchemaRef>,
) -> Result<deltalake::datafusion::dataframe::DataFrame> {
    let path = file
        .to_str()
        .ok_or_else(|| Error::internal("upload path is not valid UTF-8"))?;
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let df = match format {
        FileFormat::Csv => {
            let mut opts = CsvReadOptions::new()
                .has_header(true)
                .file_extension(&ext)
                .schema_infer_max_records(INFER_ROWS);
            if let Some(schema) = schema.as_deref() {
                opts = opts.schema(schema);
            }
            ctx.read_csv(path, opts).await
        }
        FileFormat::Parquet => {
            check_parquet(file).await?;
            let opts = ParquetReadOptions::default().file_extension(&ext);
            ctx.read_parquet(path, opts).await
        }
        FileFormat::JsonLines => {
            let mut opts = JsonReadOptions::default().file_extension(&ext);
            opts.newline_delimited = true;
            opts.schema_infer_max_records = INFER_ROWS;
            opts.schema = schema.as_deref();
            ctx.read_json(path, opts).await
        }
    };
    let df = standard_types(df.map_err(Error::from_ingest_df)?)?;
    if df.schema().fields().is_empty() {
        return Err(Error::InvalidData {
            message:
                "the file has no columns; check the format and that a CSV file has a header row"
                    .into(),
        });
    }
    if let Some(dup) = duplicate_column(df.schema().as_arrow()) {
        return Err(Error::InvalidData {
            message: format!("the file has the column `{dup}` twice; column names must be unique"),
        });
    }
    Ok(df)
}

/// `df` with the types Delta stores and every Parquet reader opens: a timestamp in a zone
/// other than UTC becomes a UTC timestamp (the same instants, as Delta stores every zoned
/// timestamp), and Arrow's view types (`string_view`, `binary_view`, which DataFusion reads
/// Parquet as) become plain strings and binaries, so the Parquet files written from it
/// declare no type a reader before pyarrow 16 cannot open.
pub(crate) fn standard_types(
    df: deltalake::datafusion::dataframe::DataFrame,
) -> Result<deltalake::datafusion::dataframe::DataFrame> {
    use deltalake::datafusion::common::Column as DfColumn;
    use deltalake::datafusion::logical_expr::{Expr, cast};
    let mut changed = false;
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(DfColumn::new(qualifier.cloned(), field.name()));
            match standard_type(field.data_type()) {
                Some(t) => {
                    changed = true;
                    cast(column, t).alias(field.name())
                }
                None => column,
            }
        })
        .collect();
    if !changed {
        return Ok(df);
    }
    df.select(exprs).map_err(Error::from_ingest_df)
}

/// The type [`standard_types`] turns `t` into, when it changes it.
fn standard_type(t: &DataType) -> Option<DataType> {
    use deltalake::arrow::datatypes::{Field, FieldRef, TimeUnit};
    fn field(f: &Field) -> Option<FieldRef> {
        standard_type(f.data_type()).map(|t| Arc::new(f.clone().with_data_type(t)))
    }
    match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        DataType::Timestamp(_, Some(tz)) if !tz.eq_ignore_ascii_case("utc") => Some(
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        DataType::List(f) => field(f).map(DataType::List),
        DataType::LargeList(f) => field(f).map(DataType::LargeList),
        DataType::FixedSizeList(f, n) => field(f).map(|f| DataType::FixedSizeList(f, *n)),
        DataType::ListView(f) | DataType::LargeListView(f) => {
            Some(DataType::List(field(f).unwrap_or_else(|| f.clone())))
        }
        DataType::Map(f, sorted) => field(f).map(|f| DataType::Map(f, *sorted)),
        DataType::Struct(fields) => {
            let converted: Vec<Option<FieldRef>> = fields.iter().map(|f| field(f)).collect();
            if converted.iter().all(Option::is_none) {
                return None;
            }
            Some(DataType::Struct(
                fields
                    .iter()
                    .zip(converted)
                    .map(|(f, c)| c.unwrap_or_else(|| f.clone()))
                    .collect(),
            ))
        }
        _ => None,
    }
}

fn duplicate_column(schema: &Schema) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    schema
        .fields()
        .iter()
        .map(|f| f.name().to_lowercase())
        .find(|n| !seen.insert(n.clone()))
}

/// What the latest commit of `table` wrote.
pub(crate) async fn write_report(table: &DeltaTable) -> Result<IngestReport> {
    let version = version_of(table);
    let history: Vec<_> = table
        .history(Some(1))
        .try_collect()
        .await
        .map_err(|e| Error::storage(format!("cannot read table history: {e}")))?;
    let rows = history
        .into_iter()
        .next()
        .and_then(|mut c| c.info.remove("operationMetrics"))
        .and_then(|m| serde_json::from_value::<WriteMetrics>(m).ok())
        .map(|m| m.num_added_rows as u64)
        .unwrap_or(0);
    Ok(IngestReport {
        rows,
        version,
        columns: columns_of(arrow_schema(table)?.as_ref()),
    })
}

/// Catalog columns from an Arrow schema.
pub fn columns_of(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: type_name(f.data_type()),
            nullable: f.is_nullable(),
            description: String::new(),
        })
        .collect()
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        other => other.to_string().to_lowercase(),
    }
}

/// The loaded version as the catalog stores it.
pub fn version_of(table: &DeltaTable) -> i64 {
    table
        .version()
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0)
}
