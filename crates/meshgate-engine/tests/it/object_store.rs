//! Managed tables on an S3-compatible object store: create from an uploaded file, append,
//! optimize (clustered, with bloom filters), vacuum and query through the secure catalog,
//! exactly as on local disk.
//!
//! Runs when `MESHGATE_TEST_S3_ROOT` names a data root (e.g. `s3://meshgate-test/ci`); the
//! usual `AWS_*` variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ALLOW_HTTP`) configure the store, as they do for `meshgate serve`.
//! `.ci/run` starts a local S3 server (moto) and sets them.

use futures::TryStreamExt;
use meshgate_engine::arrow::array::Int64Array;
use meshgate_engine::ingest::{self, FileFormat};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::secure::TableAccess;
use meshgate_engine::storage::DataRoot;

#[tokio::test]
async fn tables_on_s3_are_created_appended_and_queried() {
    let Ok(root) = std::env::var("MESHGATE_TEST_S3_ROOT") else {
        eprintln!("MESHGATE_TEST_S3_ROOT is not set: skipping the object-store test");
        return;
    };
    let root = DataRoot::parse(&root).unwrap();
    assert_eq!(root.url().scheme(), "s3");
    let location = root.table_url(uuid::Uuid::now_v7(), "returns").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.csv");
    std::fs::write(&first, "return_id,amount\n1,10.5\n2,20.0\n3,7.25\n").unwrap();
    let report = ingest::create_table(&first, FileFormat::Csv, &location, "returns")
        .await
        .unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(report.columns.len(), 2);

    let second = dir.path().join("second.csv");
    std::fs::write(&second, "return_id,amount\n4,1.0\n").unwrap();
    let report = ingest::append_file(&second, FileFormat::Csv, &location)
        .await
        .unwrap();
    assert_eq!(report.rows, 1);
    assert_eq!(report.version, 1);

    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    // The two files become one, sorted by `return_id`, with a bloom filter for `amount`; the
    // layout is recorded on the table in the store.
    let optimized = meshgate_engine::layout::optimize(
        &location,
        meshgate_engine::layout::OptimizeOptions {
            cluster_by: Some(vec!["return_id".into()]),
            bloom_filter_columns: Some(vec!["amount".into()]),
            target_file_mb: None,
        },
        engine.maintenance_session(),
    )
    .await
    .unwrap();
    assert_eq!((optimized.files_removed, optimized.files_added), (2, 1));
    assert_eq!(optimized.version, 3);
    let table = meshgate_engine::storage::open(&location).await.unwrap();
    assert_eq!(
        meshgate_engine::layout::Layout::of(&table).unwrap(),
        optimized.layout
    );

    let visible = [VisibleTable {
        domain: "sales".into(),
        product: "returns".into(),
        table: "returns".into(),
        location: location.clone(),
        access: TableAccess::owner(),
    }];
    let count_sum = || async {
        let stream = engine
            .run(
                "SELECT count(*) AS n, sum(return_id) AS s FROM sales.returns.returns",
                &visible,
            )
            .await
            .unwrap();
        let batches: Vec<_> = stream.batches.try_collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);
        let n = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let s = batches[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        (n.value(0), s.value(0))
    };
    assert_eq!(count_sum().await, (4, 10));

    // Vacuum, two hours on with a one-hour retention: the two files optimize replaced go from
    // the bucket; a second vacuum finds nothing left and commits nothing.
    let vacuum = |at| {
        meshgate_engine::vacuum::vacuum(
            &location,
            meshgate_engine::vacuum::VacuumOptions {
                retention_hours: Some(1),
                dry_run: false,
            },
            1,
            at,
        )
    };
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let done = vacuum(later).await.unwrap();
    assert_eq!(done.files_deleted, 2, "{done:?}");
    let again = vacuum(later).await.unwrap();
    assert_eq!((again.files_deleted, again.version), (0, done.version));
    assert_eq!(count_sum().await, (4, 10));
}
