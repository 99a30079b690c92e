//! The data plane of Delta Sharing (docs/design/DELTA_SHARING.md): a Delta table as the protocol describes
//! it — one version's protocol, metadata and data files, the versions' commit times, the
//! change data feed of a version range — and **materialised snapshots** of filtered or masked
//! items.
//!
//! A recipient whose access to a table is not the whole table (row filters, kept columns,
//! masks, row rules, tenant scope) must never be handed the raw files. For it the table is
//! read through the same [`SecureTable`] the SQL path uses and the rows it may see are written
//! as a Delta table of their own, one per (recipient, table version, policy fingerprint), under
//! the data root's `_sharing/snapshots/`. The [`SnapshotCache`] finds or makes them and
//! removes the ones nobody used for a while.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTableBuilder;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::ingest::open;
use crate::secure::{SecureTable, TableAccess, resolve};
use crate::storage::{DataRoot, prepare_location};
use crate::{Error, Result};

/// Which version of a table a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Latest,
    Version(i64),
    /// The latest version committed at or before this instant.
    Timestamp(DateTime<Utc>),
}

/// One data file of a table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The path relative to the table's folder, decoded (`part-0001.parquet`,
    /// `tenant=acme/part-0001.parquet`).
    pub path: String,
    pub size: i64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    /// Delta's statistics JSON (numRecords, minValues, maxValues, nullCount), if written.
    pub stats: Option<String>,
    pub partition_values: BTreeMap<String, Option<String>>,
}

/// One version of a table, as Delta Sharing answers `metadata` and `query` from it.
#[derive(Debug, Clone)]
pub struct TableVersion {
    pub version: i64,
    /// The Delta `protocol` action (camelCase JSON).
    pub protocol: Value,
    /// The Delta `metaData` action (camelCase JSON).
    pub metadata: Value,
    pub files: Vec<DataFile>,
}

impl TableVersion {
    /// Whether a reader needs more than Delta reader version 1 (deletion vectors, column
    /// mapping, …): such tables are answered in the `delta` format only.
    pub fn needs_delta_format(&self) -> bool {
        self.protocol
            .get("minReaderVersion")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            > 1
    }

    /// Whether the change data feed is switched on (`delta.enableChangeDataFeed`).
    pub fn change_data_feed(&self) -> bool {
        cdf_enabled(&self.metadata)
    }

    /// The total size of the version's files.
    pub fn size(&self) -> i64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn cdf_enabled(metadata: &Value) -> bool {
    metadata
        .get("configuration")
        .and_then(|c| c.get("delta.enableChangeDataFeed"))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn table_error(location: &Url, e: DeltaTableError) -> Error {
    match e {
        DeltaTableError::NotATable(_) => Error::InvalidData {
            message: format!("`{location}` is not a Delta table (no `_delta_log`)"),
        },
        DeltaTableError::InvalidVersion(v) => Error::InvalidData {
            message: format!("the table has no version {v}"),
        },
        other => Error::storage(format!("cannot load the table at `{location}`: {other}")),
    }
}

/// Opens a table at `at` to read its data. Asking for a version the table does not have, for
/// a time before its first commit, or for an older version some of whose data files a vacuum
/// deleted, is a user error ([`Error::InvalidData`]).
pub async fn open_at(location: &Url, at: At) -> Result<DeltaTable> {
    let table = load_at(location, at).await?;
    if !matches!(at, At::Latest) {
        ensure_files_kept(location, &table).await?;
    }
    Ok(table)
}

/// How many data files of an old version are looked up at once.
const KEPT_LOOKUPS: usize = 16;

/// Refuses an older version whose data a vacuum deleted (docs/design/TABLE_LAYOUT.md
/// §Vacuum): the files it could have deleted are those of `table` that the latest version no
/// longer has; each is looked up where a recipient would fetch it, and the first one missing
/// refuses the read, before any URL to it is handed out or a snapshot is made from it.
async fn ensure_files_kept(location: &Url, table: &DeltaTable) -> Result<()> {
    // The latest version asked for by number (or by a recent timestamp) has nothing to
    // check: the log's listing says so without loading the latest version.
    if crate::ingest::version_of(table) >= latest_version(location).await? {
        return Ok(());
    }
    let old = describe(location, table)?;
    let latest = describe(location, &open(location).await?)?;
    let current: std::collections::HashSet<&str> =
        latest.files.iter().map(|f| f.path.as_str()).collect();
    let replaced: Vec<String> = old
        .files
        .iter()
        .filter(|f| !current.contains(f.path.as_str()))
        .map(|f| f.path.clone())
        .collect();
    let files = Arc::new(crate::files::ProductFiles::at(location.clone())?);
    let gone = futures::stream::iter(replaced)
        .map(|path| {
            let files = files.clone();
            async move { files.head(&path).await.map(|meta| meta.is_none()) }
        })
        .buffer_unordered(KEPT_LOOKUPS)
        .try_fold(false, |any, gone| std::future::ready(Ok(any || gone)))
        .await?;
    if gone {
        return Err(Error::InvalidData {
            message: format!(
                "version {} of the table is no longer readable: a vacuum deleted data files it needs; the latest version is {}",
                old.version, latest.version
            ),
        });
    }
    Ok(())
}

/// Loads the table's log at `at` (nothing is checked of its data files).
async fn load_at(location: &Url, at: At) -> Result<DeltaTable> {
    match at {
        At::Latest => open(location).await,
        At::Version(v) => {
            let latest = latest_version(location).await?;
            if v < 0 || v > latest {
                return Err(Error::InvalidData {
                    message: format!(
                        "the table has no version {v}; its latest version is {latest}"
                    ),
                });
            }
            let mut table = DeltaTableBuilder::from_url(location.clone())
                .and_then(|b| b.build())
                .map_err(|e| table_error(location, e))?;
            if let Err(e) = table
                .load_version(u64::try_from(v).unwrap_or_default())
                .await
            {
                // Versions before the oldest commit left in the log were cleaned up (log
                // retention after a checkpoint): the caller's to change, not a failure.
                let oldest = timeline(location).await?.first().map(|(v, _)| *v);
                if oldest.is_some_and(|oldest| v < oldest)
                    || matches!(e, DeltaTableError::InvalidVersion(_))
                {
                    return Err(Error::InvalidData {
                        message: format!(
                            "version {v} of the table is no longer available: its log was cleaned up; the oldest version left is {}",
                            oldest.unwrap_or(latest)
                        ),
                    });
                }
                return Err(table_error(location, e));
            }
            Ok(table)
        }
        At::Timestamp(t) => {
            let version = version_at(location, t).await?;
            Box::pin(load_at(location, At::Version(version))).await
        }
    }
}

/// The latest version of the table: the newest commit in its log. Read from the log's
/// listing, not by replaying it from version 0, so a table whose early commits were cleaned
/// up after a checkpoint (log retention: every long-lived table written by Spark or
/// Databricks) answers too.
pub async fn latest_version(location: &Url) -> Result<i64> {
    timeline(location)
        .await?
        .last()
        .map(|(v, _)| *v)
        .ok_or_else(|| Error::InvalidData {
            message: "the location is not a Delta table (its log has no commit)".into(),
        })
}

/// Every version whose commit is still in the log, with its commit time (the commit file's
/// modification time, in milliseconds, as Delta readers time-travel by), oldest first.
pub async fn timeline(location: &Url) -> Result<Vec<(i64, i64)>> {
    let table = DeltaTableBuilder::from_url(location.clone())
        .and_then(|b| b.build())
        .map_err(|e| table_error(location, e))?;
    let store = table.log_store().object_store(None);
    let log = Path::from("_delta_log");
    let mut out: Vec<(i64, i64)> = store
        .list(Some(&log))
        .try_filter_map(|meta| async move {
            let name = meta.location.filename().unwrap_or_default();
            let version = name
                .strip_suffix(".json")
                .filter(|v| v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<i64>().ok());
            Ok(version.map(|v| (v, meta.last_modified.timestamp_millis())))
        })
        .try_collect()
        .await
        .map_err(|e| Error::storage(format!("cannot list the log of `{location}`: {e}")))?;
    out.sort_unstable();
    Ok(out)
}

/// The latest version committed at or before `t`.
pub async fn version_at(location: &Url, t: DateTime<Utc>) -> Result<i64> {
    let ms = t.timestamp_millis();
    let versions = timeline(location).await?;
    versions
        .iter()
        .rev()
        .find(|(_, at)| *at <= ms)
        .map(|(v, _)| *v)
        .ok_or_else(|| Error::InvalidData {
            message: format!(
                "the timestamp {} is before the table's earliest available version",
                t.to_rfc3339()
            ),
        })
}

/// The first version committed at or after `t` (a change feed's start).
pub async fn first_version_after(location: &Url, t: DateTime<Utc>) -> Result<i64> {
    let ms = t.timestamp_millis();
    let versions = timeline(location).await?;
    versions
        .iter()
        .find(|(_, at)| *at >= ms)
        .map(|(v, _)| *v)
        .ok_or_else(|| Error::InvalidData {
            message: format!(
                "the timestamp {} is after the table's latest version",
                t.to_rfc3339()
            ),
        })
}

/// One version of the table with its files.
pub async fn table_version(location: &Url, at: At) -> Result<TableVersion> {
    let table = open_at(location, at).await?;
    describe(location, &table)
}

/// The version `table` is loaded at, described.
pub fn describe(location: &Url, table: &DeltaTable) -> Result<TableVersion> {
    let state = table
        .snapshot()
        .map_err(|e| Error::storage(format!("the table at `{location}` has no snapshot: {e}")))?;
    let json = |what: &str, v: std::result::Result<Value, serde_json::Error>| {
        v.map_err(|e| Error::internal(format!("cannot describe the table's {what}: {e}")))
    };
    let protocol = json("protocol", serde_json::to_value(state.protocol()))?;
    let metadata = json("metadata", serde_json::to_value(state.metadata()))?;
    let mut files = Vec::new();
    for f in state.log_data().iter() {
        let path = relative_path(location, &f.path())?;
        files.push(DataFile {
            path,
            size: f.size(),
            modification_time: f.modification_time(),
            stats: f.stats(),
            partition_values: f.partition_values_map().into_iter().collect(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(TableVersion {
        version: i64::try_from(state.version()).unwrap_or(i64::MAX),
        protocol,
        metadata,
        files,
    })
}

/// A file path of the log relative to the table's folder: relative paths as they are,
/// absolute ones only when they point inside the table (anything else cannot be served).
fn relative_path(location: &Url, path: &str) -> Result<String> {
    if let Ok(url) = Url::parse(path)
        && url.scheme().len() > 1
    {
        let base = location.as_str().trim_end_matches('/');
        return url
            .as_str()
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| {
                percent_encoding::percent_decode_str(rest)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .ok_or_else(|| Error::InvalidData {
                message:
                    "the table references a data file outside its own folder; it cannot be shared"
                        .into(),
            });
    }
    Ok(path.trim_start_matches('/').to_string())
}

// ----- the change data feed -----

/// What a change line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Rows inserted (a data file added by a commit without change files).
    Add,
    /// Rows deleted (a data file removed by a commit without change files).
    Remove,
    /// A change file (`_change_data/`) with its `_change_type` column.
    Cdc,
}

/// One file of the change data feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub file: DataFile,
    pub version: i64,
    /// The version's commit time, in milliseconds.
    pub timestamp: i64,
}

/// The change data feed of a version range.
#[derive(Debug, Clone)]
pub struct TableChanges {
    pub start: i64,
    pub end: i64,
    /// The protocol in force at the end version.
    pub protocol: Value,
    /// The metadata in force at the start version.
    pub metadata: Value,
    /// Metadata actions committed after the start version, with their versions.
    pub metadata_changes: Vec<(i64, Value)>,
    pub changes: Vec<Change>,
}

/// Reads the file changes of versions `start..=end` (`end` = the latest when `None`, and
/// capped at it). With `change_data_feed` (the `/changes` endpoint) the feed must be on at
/// `start` and stay on through the range.
pub async fn file_changes(
    location: &Url,
    start: i64,
    end: Option<i64>,
    change_data_feed: bool,
) -> Result<TableChanges> {
    let latest = latest_version(location).await?;
    if start < 0 || start > latest {
        return Err(Error::InvalidData {
            message: format!(
                "startingVersion {start} is not a version of the table; its latest version is {latest}"
            ),
        });
    }
    let end = end.unwrap_or(latest).min(latest);
    if end < start {
        return Err(Error::InvalidData {
            message: format!("endingVersion {end} is before startingVersion {start}"),
        });
    }
    // The start version's log only: the feed reads the files its commits changed.
    let first = load_at(location, At::Version(start)).await?;
    let at_start = describe(location, &first)?;
    if change_data_feed && !at_start.change_data_feed() {
        return Err(Error::InvalidData {
            message: format!(
                "the change data feed is not enabled on this table at version {start} (`delta.enableChangeDataFeed`)"
            ),
        });
    }
    let times: HashMap<i64, i64> = timeline(location).await?.into_iter().collect();
    let log_store = first.log_store();
    let mut out = Vec::new();
    let metadata = at_start.metadata.clone();
    let mut protocol = at_start.protocol.clone();
    let mut metadata_changes = Vec::new();
    for version in start..=end {
        let Some(bytes) = log_store
            .read_commit_entry(u64::try_from(version).unwrap_or_default())
            .await
            .map_err(|e| table_error(location, e))?
        else {
            return Err(Error::InvalidData {
                message: format!(
                    "version {version} of the table is no longer in its log; ask for a later startingVersion"
                ),
            });
        };
        let timestamp = times.get(&version).copied().unwrap_or_default();
        let mut adds = Vec::new();
        let mut removes = Vec::new();
        let mut cdcs = Vec::new();
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let action: Value = serde_json::from_slice(line).map_err(|e| {
                Error::storage(format!(
                    "version {version} of the log is not valid JSON: {e}"
                ))
            })?;
            if let Some(m) = action.get("metaData") {
                if change_data_feed && !cdf_enabled(m) {
                    return Err(Error::InvalidData {
                        message: format!(
                            "the change data feed was switched off at version {version}; ask for an earlier endingVersion"
                        ),
                    });
                }
                if version > start {
                    metadata_changes.push((version, m.clone()));
                }
            } else if let Some(p) = action.get("protocol") {
                protocol = p.clone();
            } else if let Some(a) = action.get("add") {
                if data_change(a) {
                    adds.push(change_file(location, a)?);
                }
            } else if let Some(r) = action.get("remove") {
                if data_change(r) {
                    removes.push(change_file(location, r)?);
                }
            } else if let Some(c) = action.get("cdc") {
                cdcs.push(change_file(location, c)?);
            }
        }
        let mut push = |kind, files: Vec<DataFile>| {
            for file in files {
                out.push(Change {
                    kind,
                    file,
                    version,
                    timestamp,
                });
            }
        };
        // A commit that wrote change files describes its changes with them alone.
        if cdcs.is_empty() || !change_data_feed {
            push(ChangeKind::Add, adds);
            push(ChangeKind::Remove, removes);
        } else {
            push(ChangeKind::Cdc, cdcs);
        }
    }
    Ok(TableChanges {
        start,
        end,
        protocol,
        metadata,
        metadata_changes,
        changes: out,
    })
}

fn data_change(action: &Value) -> bool {
    action
        .get("dataChange")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn change_file(location: &Url, action: &Value) -> Result<DataFile> {
    let raw = action
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::storage("a file action of the log has no path"))?;
    let path = if Url::parse(raw).is_ok_and(|u| u.scheme().len() > 1) {
        relative_path(location, raw)?
    } else {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    };
    let partition_values = action
        .get("partitionValues")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default();
    Ok(DataFile {
        path,
        size: action.get("size").and_then(Value::as_i64).unwrap_or(0),
        modification_time: action
            .get("modificationTime")
            .or_else(|| action.get("deletionTimestamp"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        stats: action
            .get("stats")
            .and_then(Value::as_str)
            .map(str::to_string),
        partition_values,
    })
}

// ----- filtered and masked items -----

/// A short, stable fingerprint of what one principal may read of a table: two reads with the
/// same fingerprint see the same rows and values (the identity that row rules and filters
/// name is part of it).
pub fn access_fingerprint(access: &TableAccess) -> String {
    let digest = Sha256::digest(format!("{access:?}").as_bytes());
    hex::encode(&digest[..12])
}

/// Whether `access` reads `table` as it is (no row, column, cell or mask rule applies), so
/// its raw files may be handed out. Fails closed: rules that cannot be applied are an error.
/// A table that needs more than reader version 1 (deletion vectors, column mapping, …) is
/// never handed out raw either: its files alone do not say which rows are deleted or what
/// the columns are called, so it is served as a snapshot read through the Delta reader.
pub fn reads_raw(table: &DeltaTable, access: &TableAccess) -> Result<bool> {
    if reader_version(table) > 1 {
        return Ok(false);
    }
    reads_whole(table, access)
}

/// Whether `access` reads all of `table`: no row, column, cell or mask rule applies to it.
/// This is about the recipient only, not the table's protocol. Fails closed: rules that
/// cannot be applied are an error.
pub fn reads_whole(table: &DeltaTable, access: &TableAccess) -> Result<bool> {
    let schema = crate::ingest::arrow_schema(table)?;
    let plan = resolve(&schema, access).map_err(|e| Error::Sql {
        message: format!(
            "the access rules for this table cannot be applied ({}); ask its owners to verify the share",
            e.reason
        ),
    })?;
    Ok(plan.is_none())
}

/// Reader features whose files mean the same to a reader of the `delta` response format as
/// they say on their own: they change types or the log's layout, not which rows a file holds
/// or what its columns are called. (`deletionVectors` and `columnMapping` do.)
const PLAIN_READER_FEATURES: &[&str] = &["timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"];

/// Why the table's own change files cannot be handed out, or `None` when they can: reader
/// version 1, or version 3 with only [`PLAIN_READER_FEATURES`] (a table with a
/// `timestamp_ntz` column, as every upload with a timestamp column has, needs version 3).
pub fn raw_changes_refusal(table: &DeltaTable) -> Option<String> {
    let protocol = table
        .snapshot()
        .ok()
        .and_then(|s| serde_json::to_value(s.protocol()).ok())
        .unwrap_or(Value::Null);
    let reader = protocol
        .get("minReaderVersion")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    if reader <= 1 {
        return None;
    }
    let features: Vec<&str> = protocol
        .get("readerFeatures")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let other: Vec<&str> = features
        .iter()
        .copied()
        .filter(|f| !PLAIN_READER_FEATURES.contains(f))
        .collect();
    if reader == 3 && other.is_empty() {
        return None;
    }
    Some(if other.is_empty() {
        format!("the table needs Delta reader version {reader}")
    } else {
        format!(
            "the table uses the Delta reader features {}",
            other.join(", ")
        )
    })
}

fn reader_version(table: &DeltaTable) -> i64 {
    table
        .snapshot()
        .ok()
        .and_then(|s| serde_json::to_value(s.protocol()).ok())
        .and_then(|p| p.get("minReaderVersion").and_then(Value::as_i64))
        .unwrap_or(i64::MAX)
}

/// Writes what `access` may read of `table` (one loaded version) as a new Delta table at
/// `dest`: the same secured scan the SQL path uses, so a recipient reads exactly what its SQL
/// would show.
pub async fn materialise(
    table: &DeltaTable,
    access: &TableAccess,
    dest: &Url,
    name: &str,
) -> Result<i64> {
    let provider = table
        .table_provider()
        .await
        .map_err(|e| Error::storage(format!("cannot read the table: {e}")))?;
    let secure = SecureTable::try_new(name, provider, access)
        .map_err(|e| Error::Sql { message: e.reason })?;
    let ctx: SessionContext = deltalake::delta_datafusion::create_session().into_inner();
    ctx.register_table("shared", Arc::new(secure))
        .map_err(|e| Error::internal(format!("cannot register the table: {e}")))?;
    let df = ctx
        .table("shared")
        .await
        .map_err(|e| Error::internal(format!("cannot plan the snapshot: {e}")))?;
    // Plain strings and binaries, not the view types the scan reads them as: the snapshot's
    // files are read by every recipient's Parquet reader, old ones too.
    let df = crate::ingest::standard_types(df)?;
    prepare_location(dest)?;
    let target = DeltaTableBuilder::from_url(dest.clone())
        .and_then(|b| b.build())
        .map_err(|e| Error::storage(format!("cannot prepare the snapshot at `{dest}`: {e}")))?;
    let written = target
        .write(Vec::new())
        .with_input_plan(df.logical_plan().clone())
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_table_name(name)
        .await
        .map_err(Error::from_ingest)?;
    Ok(written
        .version()
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0))
}

/// Where materialised snapshots live, and the bookkeeping that makes them a cache:
/// `_sharing/snapshots/<key>/<run>/` holds a snapshot table, `_sharing/snapshots/<key>/current`
/// names the run that won (written only if absent, so concurrent makers — even on other
/// replicas — agree on one), and its modification time is the last use (refreshed at most
/// every few minutes). [`SnapshotCache::collect_garbage`] removes keys idle for longer than
/// the idle time, and runs nobody points at.
pub struct SnapshotCache {
    root: Url,
    store: Arc<dyn ObjectStore>,
    /// One maker per key in this process at a time.
    making: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for SnapshotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotCache({})", self.root)
    }
}

/// How long a snapshot's `current` marker may go without being refreshed on use.
const TOUCH_EVERY_SECS: i64 = 300;

/// A snapshot found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `<key>/<run>`: the snapshot's folder under the snapshots root.
    pub dir: String,
    pub location: Url,
}

impl SnapshotCache {
    pub fn open(root: &DataRoot) -> Result<Self> {
        let root = root
            .url()
            .join("_sharing/snapshots/")
            .map_err(|e| Error::internal(format!("cannot build the snapshots location: {e}")))?;
        let store = deltalake::logstore::store_for(&root, std::iter::empty::<(String, String)>())
            .map_err(|e| Error::storage(format!("cannot open the snapshots store: {e}")))?;
        Ok(SnapshotCache {
            root,
            store,
            making: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The folder all snapshots live under.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The key of a snapshot: recipient, table, version and access fingerprint.
    pub fn key(recipient: &str, table: &str, version: i64, fingerprint: &str) -> String {
        let digest = Sha256::digest(format!("{recipient}\n{table}\n{version}\n{fingerprint}"));
        hex::encode(&digest[..16])
    }

    fn location(&self, dir: &str) -> Result<Url> {
        self.root
            .join(&format!("{dir}/"))
            .map_err(|e| Error::internal(format!("cannot build a snapshot location: {e}")))
    }

    /// The snapshot of `key`, made with `make(location)` if there is none yet.
    pub async fn get_or_make<F, Fut>(&self, key: &str, make: F) -> Result<Snapshot>
    where
        F: FnOnce(Url) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        if let Some(s) = self.current(key).await? {
            return Ok(s);
        }
        let lock = {
            let mut making = self.making.lock().await;
            making.entry(key.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if let Some(s) = self.current(key).await? {
            return Ok(s);
        }
        let run = uuid::Uuid::now_v7().to_string();
        let dir = format!("{key}/{run}");
        let location = self.location(&dir)?;
        if let Err(e) = make(location.clone()).await {
            self.remove_prefix(&dir).await;
            self.making.lock().await.remove(key);
            return Err(e);
        }
        let marker = Path::from(format!("{key}/current"));
        let put = self
            .store
            .put_opts(
                &marker,
                PutPayload::from(run.clone().into_bytes()),
                PutMode::Create.into(),
            )
            .await;
        let result = match put {
            Ok(_) => Ok(Snapshot { dir, location }),
            Err(deltalake::logstore::object_store::Error::AlreadyExists { .. }) => {
                // Another maker won: use its snapshot, drop ours.
                self.remove_prefix(&dir).await;
                self.current(key)
                    .await?
                    .ok_or_else(|| Error::storage("a snapshot marker vanished while read"))
            }
            Err(e) => Err(Error::storage(format!("cannot record a snapshot: {e}"))),
        };
        self.making.lock().await.remove(key);
        result
    }

    /// The current snapshot of `key`, refreshing its last use.
    async fn current(&self, key: &str) -> Result<Option<Snapshot>> {
        let marker = Path::from(format!("{key}/current"));
        let got = match self.store.get(&marker).await {
            Ok(g) => g,
            Err(deltalake::logstore::object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => {
                return Err(Error::storage(format!(
                    "cannot read a snapshot marker: {e}"
                )));
            }
        };
        let modified = got.meta.last_modified;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| Error::storage(format!("cannot read a snapshot marker: {e}")))?;
        let run = String::from_utf8_lossy(&bytes).trim().to_string();
        if uuid::Uuid::parse_str(&run).is_err() {
            return Ok(None);
        }
        if (Utc::now() - modified).num_seconds() > TOUCH_EVERY_SECS {
            let _ = self
                .store
                .put(&marker, PutPayload::from(run.clone().into_bytes()))
                .await;
        }
        let dir = format!("{key}/{run}");
        Ok(Some(Snapshot {
            location: self.location(&dir)?,
            dir,
        }))
    }

    async fn remove_prefix(&self, dir: &str) {
        let prefix = Path::from(dir);
        let paths = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .boxed();
        let mut deleted = self.store.delete_stream(paths);
        while let Some(r) = deleted.next().await {
            if let Err(e) = r {
                tracing::warn!(error = %e, dir, "could not remove part of a snapshot");
            }
        }
        if self.root.scheme() == "file"
            && let Ok(base) = self.root.to_file_path()
        {
            let _ = std::fs::remove_dir_all(base.join(dir));
        }
    }

    /// Removes snapshots not used for `idle` (their marker older than that) and runs that
    /// lost or never finished and are older than `idle`. Returns how many folders went.
    pub async fn collect_garbage(&self, idle: chrono::Duration) -> Result<usize> {
        let cutoff = Utc::now() - idle;
        let listing: Vec<_> = self
            .store
            .list(None)
            .try_collect()
            .await
            .map_err(|e| Error::storage(format!("cannot list the snapshots: {e}")))?;
        // key → (marker: (run, modified)), runs with their newest file time
        let mut markers: HashMap<String, chrono::DateTime<Utc>> = HashMap::new();
        let mut runs: HashMap<(String, String), chrono::DateTime<Utc>> = HashMap::new();
        for meta in &listing {
            let path = meta.location.as_ref();
            let mut segments = path.splitn(3, '/');
            let (Some(key), Some(second)) = (segments.next(), segments.next()) else {
                continue;
            };
            if second == "current" && segments.next().is_none() {
                markers.insert(key.to_string(), meta.last_modified);
                continue;
            }
            let newest = runs
                .entry((key.to_string(), second.to_string()))
                .or_insert(meta.last_modified);
            if meta.last_modified > *newest {
                *newest = meta.last_modified;
            }
        }
        let mut current_runs: HashMap<String, String> = HashMap::new();
        for key in markers.keys() {
            if let Ok(g) = self.store.get(&Path::from(format!("{key}/current"))).await
                && let Ok(b) = g.bytes().await
            {
                current_runs.insert(key.clone(), String::from_utf8_lossy(&b).trim().to_string());
            }
        }
        let mut removed = 0;
        for ((key, run), newest) in &runs {
            let idle_marker = markers.get(key).is_some_and(|m| *m < cutoff);
            let is_current = current_runs.get(key) == Some(run);
            let stale_orphan = !is_current && *newest < cutoff;
            if (is_current && idle_marker) || stale_orphan {
                self.remove_prefix(&format!("{key}/{run}")).await;
                removed += 1;
            }
        }
        for (key, modified) in &markers {
            if *modified < cutoff {
                let _ = self
                    .store
                    .delete(&Path::from(format!("{key}/current")))
                    .await;
                if self.root.scheme() == "file"
                    && let Ok(base) = self.root.to_file_path()
                {
                    let _ = std::fs::remove_dir(base.join(key));
                }
            }
        }
        Ok(removed)
    }
}
