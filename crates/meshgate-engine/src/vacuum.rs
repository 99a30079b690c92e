//! Removing the files a table no longer references (docs/design/TABLE_LAYOUT.md §Vacuum).
//!
//! An `optimize`, a rewrite or a delete leaves the files it replaced on storage: the Delta
//! log records them as removed, and readers of older versions (time travel, the change data
//! feed, a Delta Sharing client still holding a file URL) may still open them. `vacuum`
//! deletes those that were removed longer ago than a retention period. It deletes only files
//! the log records as removed (Delta's "lite" mode), never a file it merely finds in the
//! table's directory, so a registered table's location keeps whatever else lives there.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::logstore::object_store::{self, ObjectStoreExt as _, path::Path};
use deltalake::operations::vacuum::{Clock, VacuumMode};
use deltalake::table::config::TablePropertiesExt as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use serde::Serialize;
use url::Url;

use crate::ingest::version_of;
use crate::storage::open;
use crate::{Error, Result};

/// The longest retention a vacuum takes (ten years): past it nothing would ever be deleted.
pub const MAX_RETENTION_HOURS: u64 = 24 * 365 * 10;

/// How many files' presence is checked at once.
const HEAD_CONCURRENCY: usize = 16;

/// What a vacuum is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumOptions {
    /// Files removed from the table longer ago than this are deleted. `None`: the table's own
    /// `delta.deletedFileRetentionDuration` (Delta's default: 7 days).
    pub retention_hours: Option<u64>,
    /// Only count what would be deleted.
    pub dry_run: bool,
}

/// What a vacuum did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VacuumReport {
    /// The table version after the vacuum (it records its start and end in the log; the
    /// version before on a dry run).
    pub version: i64,
    /// The retention applied, in hours.
    pub retention_hours: u64,
    pub dry_run: bool,
    /// Files deleted: those the log recorded as removed past the retention that were still on
    /// storage when the vacuum began (on a dry run: that would be deleted).
    pub files_deleted: u64,
}

/// Deletes the files of the table at `location` that were removed from it more than the
/// retention period before `now`. A retention shorter than `floor_hours` is refused: the
/// caller's floor is the longest any reader may still hold a file it was given (a Delta
/// Sharing file URL's lifetime), so no handed-out URL outlives its file.
pub async fn vacuum(
    location: &Url,
    options: VacuumOptions,
    floor_hours: u64,
    now: DateTime<Utc>,
) -> Result<VacuumReport> {
    let table = open(location).await?;
    let retention_hours = match options.retention_hours {
        Some(hours) => hours,
        None => {
            let configured = table
                .snapshot()
                .map_err(|e| Error::storage(format!("table has no snapshot: {e}")))?
                .table_config()
                .deleted_file_retention_duration();
            configured.as_secs().div_ceil(3600)
        }
    };
    if retention_hours < floor_hours || retention_hours > MAX_RETENTION_HOURS {
        let whose = if options.retention_hours.is_some() {
            "asked for"
        } else {
            "the table's own retention (delta.deletedFileRetentionDuration)"
        };
        return Err(Error::InvalidData {
            message: format!(
                "retention_hours must be between {floor_hours} and {MAX_RETENTION_HOURS} \
                 ({retention_hours} {whose}): a removed file must outlive every URL to it \
                 that was handed out"
            ),
        });
    }
    let retention = chrono::Duration::hours(
        i64::try_from(retention_hours).map_err(|_| Error::internal("retention out of range"))?,
    );
    let clock: Arc<dyn Clock> = Arc::new(At(now.timestamp_millis()));
    let vacuum = |table: DeltaTable, dry_run: bool| {
        table
            .vacuum()
            .with_mode(VacuumMode::Lite)
            .with_retention_period(retention)
            // The bounds above are meshgate's: the table's own retention is the default, and
            // an owner may ask for less, down to the floor.
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .with_clock(clock.clone())
    };
    // A removed file stays in the log (as a tombstone) after a vacuum deleted it, and Delta's
    // vacuum counts it again each time. So the plan comes first, and only the files still on
    // storage count; when there are none, nothing is committed.
    let store = table.object_store();
    let (table, plan) = vacuum(table, true).await.map_err(vacuum_error)?;
    let present = stream::iter(plan.files_deleted)
        .map(|file| {
            let store = store.clone();
            async move {
                // The plan gives object-store paths as stored (percent-encoded: a partition
                // value with a space is `%20`); `parse` keeps them, `from` would encode again.
                let path = Path::parse(&file).map_err(|e| Error::storage(e.to_string()))?;
                match store.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(Error::storage(e.to_string())),
                }
            }
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .try_fold(0u64, |n, present| async move { Ok(n + u64::from(present)) })
        .await?;
    let table = if options.dry_run || present == 0 {
        table
    } else {
        vacuum(table, false).await.map_err(vacuum_error)?.0
    };
    Ok(VacuumReport {
        version: version_of(&table),
        retention_hours,
        dry_run: options.dry_run,
        files_deleted: present,
    })
}

/// The moment a vacuum measures file ages from.
#[derive(Debug)]
struct At(i64);

impl Clock for At {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

fn vacuum_error(e: deltalake::DeltaTableError) -> Error {
    use deltalake::DeltaTableError;
    match e {
        DeltaTableError::ObjectStore { source } => Error::storage(source.to_string()),
        DeltaTableError::Io { source } => Error::storage(source.to_string()),
        DeltaTableError::Transaction { source } => Error::Conflict {
            message: format!("the table changed while it was being vacuumed; try again ({source})"),
        },
        other => Error::storage(format!("cannot vacuum the table: {other}")),
    }
}
