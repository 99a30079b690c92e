//! Delta Sharing's view of tables: versions and their files, time travel, the change data
//! feed of meshgate's tables, materialised snapshots of filtered and masked access (exactly
//! the rows and values the SQL path shows) and the snapshot cache with its garbage collection.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use meshgate_core::access::Mask;
use meshgate_engine::arrow::array::{Int64Array, RecordBatch, StringArray};
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::ingest;
use meshgate_engine::output::json_rows;
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::secure::{GrantRule, TableAccess};
use meshgate_engine::sharing::{self, At, ChangeKind, SnapshotCache};
use meshgate_engine::storage::DataRoot;
use serde_json::Value;

fn batch(ids: &[i64], regions: &[&str], notes: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(regions.to_vec())),
            Arc::new(StringArray::from(notes.to_vec())),
        ],
    )
    .unwrap()
}

/// A managed table with three versions: 0 = ids 1–2, 1 = +3–4, 2 = +5.
async fn table(root: &DataRoot) -> url::Url {
    let loc = root.table_url(uuid::Uuid::now_v7(), "orders").unwrap();
    ingest::write_batches(
        &loc,
        "orders",
        vec![batch(&[1, 2], &["EU", "US"], &["a", "b"])],
        true,
    )
    .await
    .unwrap();
    ingest::write_batches(
        &loc,
        "orders",
        vec![batch(&[3, 4], &["EU", "APAC"], &["c", "d"])],
        false,
    )
    .await
    .unwrap();
    ingest::write_batches(&loc, "orders", vec![batch(&[5], &["EU"], &["e"])], false)
        .await
        .unwrap();
    loc
}

async fn rows_of(location: &url::Url, access: TableAccess, sql: &str) -> Vec<Value> {
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let visible = [VisibleTable {
        domain: "d".into(),
        product: "p".into(),
        table: "t".into(),
        location: location.clone(),
        access,
    }];
    let stream = engine.run(sql, &visible).await.unwrap();
    let batches: Vec<_> = stream.batches.try_collect().await.unwrap();
    json_rows(&batches).unwrap()
}

fn eu_only_redacted() -> TableAccess {
    TableAccess {
        grants: vec![GrantRule {
            columns: Some(vec!["id".into(), "region".into(), "note".into()]),
            row_filter: Some("region = 'EU'".into()),
            masks: BTreeMap::from([("note".to_string(), Mask::Redact)]),
        }],
        ..TableAccess::default()
    }
}

#[tokio::test]
async fn versions_files_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let loc = table(&root).await;

    assert_eq!(sharing::latest_version(&loc).await.unwrap(), 2);
    let latest = sharing::table_version(&loc, At::Latest).await.unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.files.len(), 3);
    assert!(!latest.needs_delta_format());
    assert!(
        latest.change_data_feed(),
        "managed tables have the change data feed on"
    );
    assert!(latest.files.iter().all(|f| f.size > 0 && f.stats.is_some()));
    let v0 = sharing::table_version(&loc, At::Version(0)).await.unwrap();
    assert_eq!((v0.version, v0.files.len()), (0, 1));
    assert_eq!(
        v0.metadata.get("id"),
        latest.metadata.get("id"),
        "the table id stays"
    );

    // By time: the commit files' times.
    let timeline = sharing::timeline(&loc).await.unwrap();
    assert_eq!(
        timeline.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let (_, t1) = timeline[1];
    let at = chrono::DateTime::from_timestamp_millis(t1).unwrap();
    let v = sharing::table_version(&loc, At::Timestamp(at))
        .await
        .unwrap();
    assert!(v.version >= 1);
    let early = chrono::DateTime::from_timestamp_millis(timeline[0].1 - 60_000).unwrap();
    let err = sharing::table_version(&loc, At::Timestamp(early))
        .await
        .unwrap_err();
    assert!(err.is_user_error(), "{err}");
    let err = sharing::table_version(&loc, At::Version(7))
        .await
        .unwrap_err();
    assert!(err.is_user_error());
    assert!(err.to_string().contains("latest version is 2"), "{err}");
}

#[tokio::test]
async fn the_change_feed_lists_each_versions_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let loc = table(&root).await;

    let c = sharing::file_changes(&loc, 1, None, true).await.unwrap();
    assert_eq!((c.start, c.end), (1, 2));
    let versions: Vec<(i64, ChangeKind)> = c.changes.iter().map(|c| (c.version, c.kind)).collect();
    assert_eq!(versions, vec![(1, ChangeKind::Add), (2, ChangeKind::Add)]);
    assert!(c.changes.iter().all(|c| c.timestamp > 0 && c.file.size > 0));

    let c = sharing::file_changes(&loc, 0, Some(1), true).await.unwrap();
    assert_eq!(c.changes.len(), 2);
    assert!(
        sharing::file_changes(&loc, 3, None, true)
            .await
            .unwrap_err()
            .is_user_error()
    );
}

#[tokio::test]
async fn a_snapshot_holds_exactly_what_the_sql_path_shows() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let loc = table(&root).await;
    let access = eu_only_redacted();

    let table = sharing::open_at(&loc, At::Version(1)).await.unwrap();
    assert!(!sharing::reads_raw(&table, &access).unwrap());
    assert!(sharing::reads_raw(&table, &TableAccess::whole_table()).unwrap());
    assert!(sharing::reads_raw(&table, &TableAccess::owner()).unwrap());

    let cache = SnapshotCache::open(&root).unwrap();
    let key = SnapshotCache::key("bob", "orders", 1, &sharing::access_fingerprint(&access));
    let made = std::sync::atomic::AtomicUsize::new(0);
    let snap = cache
        .get_or_make(&key, |dest| {
            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let table = table.clone();
            let access = access.clone();
            async move {
                sharing::materialise(&table, &access, &dest, "orders")
                    .await
                    .map(|_| ())
            }
        })
        .await
        .unwrap();
    // The snapshot equals the SQL answer at that version (ids 1–4 → EU rows 1 and 3).
    let mut shared = rows_of(
        &snap.location,
        TableAccess::owner(),
        "SELECT * FROM d.p.t ORDER BY id",
    )
    .await;
    let expected = [
        serde_json::json!({"id": 1, "region": "EU", "note": "[REDACTED]"}),
        serde_json::json!({"id": 3, "region": "EU", "note": "[REDACTED]"}),
    ];
    shared.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(shared.len(), 2);
    assert_eq!(shared[0]["id"], expected[0]["id"]);
    assert_eq!(shared[1]["id"], expected[1]["id"]);
    let sql = rows_of(
        &loc,
        access.clone(),
        "SELECT * FROM d.p.t WHERE id <= 4 ORDER BY id",
    )
    .await;
    assert_eq!(shared, sql, "the snapshot shows what SQL shows");
    assert!(shared.iter().all(|r| r["note"] != "a" && r["note"] != "c"));

    // Found again, not made again.
    let again = cache
        .get_or_make(&key, |_| async {
            panic!("a cached snapshot is made again");
        })
        .await
        .unwrap();
    assert_eq!(again, snap);
    assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Idle snapshots are collected; fresh ones are not.
    assert_eq!(
        cache
            .collect_garbage(chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert!(snap.location.to_file_path().unwrap().exists());
    assert_eq!(
        cache
            .collect_garbage(chrono::Duration::seconds(-1))
            .await
            .unwrap(),
        1
    );
    assert!(!snap.location.to_file_path().unwrap().exists());
    let remade = cache
        .get_or_make(&key, |dest| {
            let table = table.clone();
            let access = access.clone();
            async move {
                sharing::materialise(&table, &access, &dest, "orders")
                    .await
                    .map(|_| ())
            }
        })
        .await
        .unwrap();
    assert_ne!(remade.dir, snap.dir, "a collected snapshot is made anew");
}

#[tokio::test]
async fn concurrent_makers_agree_on_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let loc = table(&root).await;
    let access = eu_only_redacted();
    let table = sharing::open_at(&loc, At::Latest).await.unwrap();
    let cache = Arc::new(SnapshotCache::open(&root).unwrap());
    let key = SnapshotCache::key("bob", "orders", 2, "fp");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let cache = cache.clone();
        let table = table.clone();
        let access = access.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_make(&key, |dest| async move {
                    sharing::materialise(&table, &access, &dest, "orders")
                        .await
                        .map(|_| ())
                })
                .await
                .unwrap()
        }));
    }
    let mut dirs = Vec::new();
    for t in tasks {
        dirs.push(t.await.unwrap().dir);
    }
    dirs.dedup();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
}

#[test]
fn fingerprints_follow_access() {
    let a = sharing::access_fingerprint(&eu_only_redacted());
    assert_eq!(a, sharing::access_fingerprint(&eu_only_redacted()));
    assert_ne!(a, sharing::access_fingerprint(&TableAccess::whole_table()));
    let mut narrower = eu_only_redacted();
    narrower.restrictive.push("id > 2".into());
    assert_ne!(a, sharing::access_fingerprint(&narrower));
}
