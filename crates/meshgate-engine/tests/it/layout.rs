//! Table layout: `optimize` clusters a table's rows and writes bloom filters, records both on
//! the table so later appends keep writing them, changes no answer (owners' or secured
//! readers'), and refuses layouts it cannot apply; `vacuum` then deletes the files it
//! replaced, only once they are older than the retention.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use meshgate_core::access::Mask;
use meshgate_engine::Error;
use meshgate_engine::arrow::array::{Int64Array, RecordBatch, StringArray};
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::arrow::util::pretty::pretty_format_batches;
use meshgate_engine::ingest;
use meshgate_engine::layout::{self, Layout, OptimizeOptions};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::rows;
use meshgate_engine::secure::{GrantRule, MaskKey, TableAccess};
use meshgate_engine::sharing::{self, At};
use meshgate_engine::storage::{self, DataRoot};
use meshgate_engine::tenancy::Tenancy;
use meshgate_engine::vacuum::{self, MAX_RETENTION_HOURS, VacuumOptions};

/// Rows `k` in `keys`, each with a region and a name derived from the key.
fn batch(keys: impl Iterator<Item = i64>) -> RecordBatch {
    let keys: Vec<i64> = keys.collect();
    let regions: Vec<String> = keys
        .iter()
        .map(|k| if k % 4 == 0 { "EU" } else { "US" }.to_string())
        .collect();
    let names: Vec<String> = keys.iter().map(|k| format!("name-{k}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(StringArray::from(regions)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

/// A table written in four appends whose keys interleave (each file spans every key range).
async fn interleaved_table(dir: &tempfile::TempDir) -> url::Url {
    let root = DataRoot::parse(&dir.path().join("tables").to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    for part in 0..4i64 {
        let keys = (0..5_000i64).map(move |i| i * 4 + part);
        ingest::write_batches(&location, "t", vec![batch(keys)], part == 0)
            .await
            .unwrap();
    }
    location
}

fn visible(location: &url::Url, access: TableAccess) -> Vec<VisibleTable> {
    vec![VisibleTable {
        domain: "d".into(),
        product: "p".into(),
        table: "t".into(),
        location: location.clone(),
        access,
    }]
}

/// A consumer: EU rows only, `name` hashed.
fn consumer() -> TableAccess {
    TableAccess {
        grants: vec![GrantRule {
            columns: None,
            row_filter: Some("region = 'EU'".into()),
            masks: BTreeMap::from([("name".to_string(), Mask::Hash)]),
        }],
        mask_key: Some(MaskKey::new(vec![7u8; 32])),
        ..TableAccess::default()
    }
}

async fn answer(engine: &QueryEngine, sql: &str, visible: &[VisibleTable]) -> String {
    let stream = engine.run(sql, visible).await.unwrap();
    let batches: Vec<RecordBatch> = stream.batches.try_collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// The Parquet files of the table's current version (as the owner's full scan reads them).
async fn current_files(engine: &QueryEngine, location: &url::Url) -> Vec<std::path::PathBuf> {
    let files = engine
        .files_read(
            "SELECT * FROM d.p.t",
            &visible(location, TableAccess::owner()),
        )
        .await
        .unwrap();
    files
        .into_iter()
        .map(|f| std::path::PathBuf::from(format!("/{f}")))
        .collect()
}

fn metadata(file: &std::path::Path) -> meshgate_engine::parquet::file::metadata::ParquetMetaData {
    let bytes = bytes::Bytes::from(std::fs::read(file).unwrap());
    meshgate_engine::parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .unwrap()
}

/// Each row group's (min, max) of column `i` (an Int64 column).
fn ranges(
    m: &meshgate_engine::parquet::file::metadata::ParquetMetaData,
    i: usize,
) -> Vec<(i64, i64)> {
    use meshgate_engine::parquet::file::statistics::Statistics;
    m.row_groups()
        .iter()
        .map(|rg| match rg.column(i).statistics() {
            Some(Statistics::Int64(s)) => (*s.min_opt().unwrap(), *s.max_opt().unwrap()),
            other => panic!("no Int64 statistics: {other:?}"),
        })
        .collect()
}

fn has_bloom_filter(
    m: &meshgate_engine::parquet::file::metadata::ParquetMetaData,
    i: usize,
) -> bool {
    m.row_groups()
        .iter()
        .all(|rg| rg.column(i).bloom_filter_offset().is_some())
}

#[tokio::test]
async fn optimize_clusters_and_indexes_without_changing_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let location = interleaved_table(&dir).await;
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let owner = visible(&location, TableAccess::owner());
    let secured = visible(&location, consumer());
    let queries = [
        "SELECT * FROM d.p.t WHERE k = 4242",
        "SELECT k, name FROM d.p.t WHERE k BETWEEN 100 AND 140 ORDER BY k",
        "SELECT region, count(*), sum(k) FROM d.p.t GROUP BY region ORDER BY region",
        "SELECT * FROM d.p.t WHERE name = 'name-8' OR name = 'name-9' ORDER BY k",
    ];
    let mut before = Vec::new();
    for sql in queries {
        before.push((
            answer(&engine, sql, &owner).await,
            answer(&engine, sql, &secured).await,
        ));
    }
    let files = current_files(&engine, &location).await;
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| !has_bloom_filter(&metadata(f), 2)));

    let report = layout::optimize(
        &location,
        OptimizeOptions {
            cluster_by: Some(vec!["k".into()]),
            bloom_filter_columns: Some(vec!["name".into()]),
            target_file_mb: None,
        },
        engine.maintenance_session(),
    )
    .await
    .unwrap();
    assert!(report.clustered);
    assert_eq!(report.files_removed, 4);
    assert!(report.files_added >= 1);
    assert_eq!(
        report.version, 5,
        "one commit for the layout, one for the rewrite"
    );
    let recorded = Layout::of(&storage::open(&location).await.unwrap()).unwrap();
    assert_eq!(recorded, report.layout);
    assert_eq!(recorded.cluster_by, ["k"]);
    assert_eq!(recorded.bloom_filter_columns, ["name"]);

    // The rewritten files: sorted by `k` (row groups' key ranges do not overlap, in order,
    // across files too), a bloom filter for `name` and none for `k`.
    let files = current_files(&engine, &location).await;
    assert_eq!(files.len() as u64, report.files_added);
    let mut all_ranges = Vec::new();
    for f in &files {
        let m = metadata(f);
        assert!(
            has_bloom_filter(&m, 2),
            "{f:?} has no bloom filter for `name`"
        );
        assert!(
            m.row_groups()
                .iter()
                .all(|rg| rg.column(0).bloom_filter_offset().is_none())
        );
        all_ranges.extend(ranges(&m, 0));
    }
    all_ranges.sort();
    assert!(
        all_ranges.windows(2).all(|w| w[0].1 < w[1].0),
        "clustered row groups overlap: {all_ranges:?}"
    );

    for (sql, (owner_before, secured_before)) in queries.iter().zip(&before) {
        assert_eq!(&answer(&engine, sql, &owner).await, owner_before, "{sql}");
        assert_eq!(
            &answer(&engine, sql, &secured).await,
            secured_before,
            "{sql}"
        );
    }

    // A later append writes the recorded bloom filters too, without being asked.
    ingest::write_batches(&location, "t", vec![batch(20_000..20_010)], false)
        .await
        .unwrap();
    let newest = current_files(&engine, &location).await;
    let appended: Vec<_> = newest.iter().filter(|f| !files.contains(f)).collect();
    assert_eq!(appended.len(), 1, "{newest:?}");
    assert!(has_bloom_filter(&metadata(appended[0]), 2));

    // Optimizing again with nothing given keeps the layout and commits no new layout.
    let again = layout::optimize(
        &location,
        OptimizeOptions::default(),
        engine.maintenance_session(),
    )
    .await
    .unwrap();
    assert_eq!(again.layout, recorded);
    assert_eq!(again.version, 7, "the rewrite only");
    let stream = engine
        .run("SELECT count(*), sum(k) FROM d.p.t", &owner)
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = stream.batches.try_collect().await.unwrap();
    let int = |i: usize| {
        batches[0]
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    let keys: Vec<i64> = (0..20_010).collect();
    assert_eq!(int(0), keys.len() as i64);
    assert_eq!(int(1), keys.iter().sum::<i64>());
}

#[tokio::test]
async fn layouts_that_cannot_apply_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let location = interleaved_table(&dir).await;
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let refused = |o: OptimizeOptions| {
        let location = location.clone();
        let session = engine.maintenance_session();
        async move {
            match layout::optimize(&location, o, session).await {
                Err(Error::InvalidData { message }) => message,
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let cluster = |cols: &[&str]| OptimizeOptions {
        cluster_by: Some(cols.iter().map(|c| c.to_string()).collect()),
        ..OptimizeOptions::default()
    };
    let m = refused(cluster(&["nope"])).await;
    assert!(m.contains("no such column"), "{m}");
    let m = refused(cluster(&["k", "k"])).await;
    assert!(m.contains("named twice"), "{m}");
    let m = refused(cluster(&["k", "region", "name", "k2", "k3"])).await;
    assert!(m.contains("at most 4"), "{m}");
    let m = refused(OptimizeOptions {
        bloom_filter_columns: Some(vec!["missing".into()]),
        ..OptimizeOptions::default()
    })
    .await;
    assert!(m.contains("no such column"), "{m}");
    let m = refused(OptimizeOptions {
        target_file_mb: Some(1),
        ..OptimizeOptions::default()
    })
    .await;
    assert!(m.contains("target_file_mb"), "{m}");
    // Nothing was recorded or rewritten by the refusals.
    let table = storage::open(&location).await.unwrap();
    assert_eq!(Layout::of(&table).unwrap(), Layout::default());
    assert_eq!(ingest::version_of(&table), 3);

    // A multi-tenant table is partitioned by its tenant: clustering by it is refused, by
    // another column accepted (each tenant's files are sorted on their own).
    let root = DataRoot::parse(&dir.path().join("tenants").to_string_lossy()).unwrap();
    let tenants = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    let tenancy = Tenancy {
        key_column: "name".into(),
        separator: Some("-".into()),
    };
    rows::create_tenant_table(&tenants, "t", vec![batch(0..100)], &tenancy)
        .await
        .unwrap();
    let m = match layout::optimize(
        &tenants,
        cluster(&[meshgate_engine::tenancy::TENANT_COLUMN]),
        engine.maintenance_session(),
    )
    .await
    {
        Err(Error::InvalidData { message }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(m.contains("partitioned by it"), "{m}");
    let ok = layout::optimize(&tenants, cluster(&["k"]), engine.maintenance_session())
        .await
        .unwrap();
    assert!(ok.clustered);
    // A vacuum finds the replaced files in the tenant's partition folder.
    assert_eq!(ok.files_removed, 1);
    assert_eq!(parquet_on_disk(&tenants), 2);
    let vacuumed = vacuum::vacuum(
        &tenants,
        VacuumOptions {
            retention_hours: Some(1),
            dry_run: false,
        },
        1,
        chrono::Utc::now() + chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    assert_eq!(vacuumed.files_deleted, 1);
    assert_eq!(parquet_on_disk(&tenants), 1);
    let all = visible(&tenants, TableAccess::owner());
    assert!(
        answer(&engine, "SELECT count(*) AS n FROM d.p.t", &all)
            .await
            .contains("| 100 |")
    );
}

/// The Parquet files on disk under a table's directory, whether the log references them or not.
fn parquet_on_disk(location: &url::Url) -> usize {
    fn walk(dir: &std::path::Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&location.to_file_path().unwrap(), &mut n);
    n
}

#[tokio::test]
async fn vacuum_deletes_replaced_files_only_past_the_retention_and_changes_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let location = interleaved_table(&dir).await;
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let owner = visible(&location, TableAccess::owner());
    let secured = visible(&location, consumer());
    let sql =
        "SELECT region, count(*), sum(k), min(name) FROM d.p.t GROUP BY region ORDER BY region";
    let before = (
        answer(&engine, sql, &owner).await,
        answer(&engine, sql, &secured).await,
    );
    let report = layout::optimize(
        &location,
        OptimizeOptions::default(),
        engine.maintenance_session(),
    )
    .await
    .unwrap();
    assert_eq!((report.files_removed, report.files_added), (4, 1));
    assert_eq!(parquet_on_disk(&location), 5, "optimize deletes nothing");

    let now = chrono::Utc::now();
    let run = |retention_hours: Option<u64>, dry_run: bool, at: chrono::DateTime<chrono::Utc>| {
        let location = location.clone();
        async move {
            vacuum::vacuum(
                &location,
                VacuumOptions {
                    retention_hours,
                    dry_run,
                },
                1,
                at,
            )
            .await
        }
    };
    // Removed just now: younger than any retention.
    let fresh = run(Some(1), false, now).await.unwrap();
    assert_eq!((fresh.files_deleted, fresh.retention_hours), (0, 1));
    assert_eq!(parquet_on_disk(&location), 5);
    // Two hours on, a one-hour retention would take the four; a dry run only counts them.
    let dry = run(Some(1), true, now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.files_deleted, 4);
    assert_eq!(parquet_on_disk(&location), 5, "a dry run deletes nothing");
    // The table's own retention (Delta's default, 7 days) is the default.
    let default = run(None, true, now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((default.files_deleted, default.retention_hours), (0, 168));
    let week = run(None, true, now + chrono::Duration::days(8))
        .await
        .unwrap();
    assert_eq!((week.files_deleted, week.retention_hours), (4, 168));

    // Refused below the floor and past the longest retention, deleting nothing.
    for hours in [0, MAX_RETENTION_HOURS + 1] {
        match run(Some(hours), false, now + chrono::Duration::days(8)).await {
            Err(Error::InvalidData { message }) => {
                assert!(message.contains("retention_hours"), "{message}")
            }
            other => panic!("retention {hours}: {other:?}"),
        }
    }
    assert_eq!(parquet_on_disk(&location), 5);

    // Before the vacuum, an old version reads (its files are all on storage).
    sharing::open_at(&location, At::Version(1)).await.unwrap();

    let done = run(Some(1), false, now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert!(!done.dry_run);
    assert_eq!(done.files_deleted, 4);
    assert!(done.version > report.version, "the vacuum is in the log");
    assert_eq!(
        parquet_on_disk(&location),
        1,
        "only the current file is left"
    );
    assert_eq!(current_files(&engine, &location).await.len(), 1);
    let after = (
        answer(&engine, sql, &owner).await,
        answer(&engine, sql, &secured).await,
    );
    assert_eq!(before, after);
    // The versions before the optimize lost files: reading them (Delta Sharing's time travel)
    // is refused with a reason, by version and by timestamp; the optimize's version and the
    // latest still read.
    for at in [At::Version(1), At::Version(report.version - 1)] {
        match sharing::open_at(&location, at).await {
            Err(Error::InvalidData { message }) => assert!(message.contains("vacuum"), "{message}"),
            other => panic!("{at:?}: {other:?}"),
        }
    }
    sharing::open_at(&location, At::Version(report.version))
        .await
        .unwrap();
    sharing::open_at(&location, At::Latest).await.unwrap();
    sharing::open_at(&location, At::Timestamp(chrono::Utc::now()))
        .await
        .unwrap();
    // Nothing is left to delete.
    let again = run(Some(1), false, now + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(again.files_deleted, 0);
    assert_eq!(
        again.version, done.version,
        "nothing to delete, nothing committed"
    );
}

/// A tenant whose name needs escaping in a path (a space): its partition folder is stored
/// percent-encoded, and the vacuum still finds and deletes the files it replaced there.
#[tokio::test]
async fn vacuum_finds_files_in_a_partition_folder_whose_name_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().join("tenants").to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    let tenancy = Tenancy {
        key_column: "name".into(),
        separator: Some("-".into()),
    };
    let named = |keys: std::ops::Range<i64>| {
        let b = batch(keys.clone());
        let names: Vec<String> = keys.map(|k| format!("north east-{k}")).collect();
        RecordBatch::try_new(
            b.schema(),
            vec![
                b.column(0).clone(),
                b.column(1).clone(),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    };
    rows::create_tenant_table(&location, "t", vec![named(0..50)], &tenancy)
        .await
        .unwrap();
    let more: Vec<serde_json::Value> = (50..60)
        .map(|k| serde_json::json!({"k": k, "region": "EU", "name": format!("north east-{k}")}))
        .collect();
    rows::append_rows(&location, &more, Some(&tenancy))
        .await
        .unwrap();
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let optimized = layout::optimize(
        &location,
        OptimizeOptions::default(),
        engine.maintenance_session(),
    )
    .await
    .unwrap();
    assert_eq!(optimized.files_removed, 2);
    assert_eq!(parquet_on_disk(&location), 3);
    // Before the vacuum the first version reads: its files are found under the escaped name.
    sharing::open_at(&location, At::Version(0)).await.unwrap();
    let vacuumed = vacuum::vacuum(
        &location,
        VacuumOptions {
            retention_hours: Some(1),
            dry_run: false,
        },
        1,
        chrono::Utc::now() + chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    assert_eq!(vacuumed.files_deleted, 2);
    assert_eq!(parquet_on_disk(&location), 1);
    assert!(matches!(
        sharing::open_at(&location, At::Version(0)).await,
        Err(Error::InvalidData { .. })
    ));
}
