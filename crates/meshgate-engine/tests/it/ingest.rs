//! Uploads become Delta tables on local disk: every accepted format, appends, and the
//! rejections a person can act on (ragged rows, duplicate columns, wrong types) — which leave
//! nothing behind.

use std::sync::Arc;

use futures::TryStreamExt;
use meshgate_engine::Error;
use meshgate_engine::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::ingest::{self, FileFormat};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::secure::TableAccess;
use meshgate_engine::storage::DataRoot;

async fn count(location: &url::Url) -> i64 {
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let visible = [VisibleTable {
        domain: "d".into(),
        product: "p".into(),
        table: "t".into(),
        location: location.clone(),
        access: TableAccess::owner(),
    }];
    let stream = engine
        .run("SELECT count(*) FROM d.p.t", &visible)
        .await
        .unwrap();
    let batches: Vec<_> = stream.batches.try_collect().await.unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(n.len(), 1);
    n.value(0)
}

fn root(dir: &tempfile::TempDir) -> DataRoot {
    DataRoot::parse(&dir.path().join("tables").to_string_lossy()).unwrap()
}

#[tokio::test]
async fn csv_jsonl_and_parquet_uploads_create_tables() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);

    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "id,name\n1,x\n2,y\n").unwrap();
    let loc = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    let r = ingest::create_table(&csv, FileFormat::Csv, &loc, "t")
        .await
        .unwrap();
    assert_eq!((r.rows, r.version), (2, 0));
    assert_eq!(
        r.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name"]
    );
    assert_eq!(r.columns[0].data_type, "bigint");
    let more = dir.path().join("b.csv");
    std::fs::write(&more, "id,name\n3,z\n").unwrap();
    let r = ingest::append_file(&more, FileFormat::Csv, &loc)
        .await
        .unwrap();
    assert_eq!((r.rows, r.version), (1, 1));
    assert_eq!(count(&loc).await, 3);

    let jsonl = dir.path().join("a.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":1,\"name\":\"x\"}\n{\"id\":2,\"name\":null}\n",
    )
    .unwrap();
    let loc = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    assert_eq!(
        ingest::create_table(&jsonl, FileFormat::JsonLines, &loc, "t")
            .await
            .unwrap()
            .rows,
        2
    );
    assert_eq!(count(&loc).await, 2);

    let parquet = dir.path().join("a.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("d"),
            ])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(&parquet).unwrap();
    let mut w = deltalake::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let loc = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    assert_eq!(
        ingest::create_table(&parquet, FileFormat::Parquet, &loc, "t")
            .await
            .unwrap()
            .rows,
        4
    );
    assert_eq!(count(&loc).await, 4);
}

#[tokio::test]
async fn bad_files_are_rejected_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);

    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "id,name\n1,x\n2\n3,z\n").unwrap();
    let loc = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    let err = ingest::create_table(&ragged, FileFormat::Csv, &loc, "t")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidData { .. }), "{err:?}");
    assert!(err.is_user_error());
    assert!(
        !loc.to_file_path().unwrap().exists(),
        "a failed create must leave no directory"
    );

    let dup = dir.path().join("dup.csv");
    std::fs::write(&dup, "id,ID\n1,2\n").unwrap();
    let err = ingest::create_table(&dup, FileFormat::Csv, &loc, "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");

    // An append must fit the table's schema.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "id,name\n1,x\n").unwrap();
    ingest::create_table(&good, FileFormat::Csv, &loc, "t")
        .await
        .unwrap();
    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "id,name\nnot-a-number,x\n").unwrap();
    let err = ingest::append_file(&wrong, FileFormat::Csv, &loc)
        .await
        .unwrap_err();
    assert!(err.is_user_error(), "{err:?}");
    assert_eq!(count(&loc).await, 1, "a failed append must add nothing");

    assert!(FileFormat::parse("xlsx").is_err());
    assert_eq!(FileFormat::parse("JSONL").unwrap(), FileFormat::JsonLines);
}

/// Classification samples (docs/design/CLASSIFICATION.md): the first rows of a table, and of a
/// file to append read with the table's schema (a multi-tenant table's derived column aside).
#[tokio::test]
async fn samples_are_the_first_rows_as_text() {
    use meshgate_engine::rows::Tenancy;
    use meshgate_engine::sampling;
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    let csv = dir.path().join("people.csv");
    let mut text = String::from("key,email,score\n");
    for i in 0..50 {
        text.push_str(&format!("t1-{i},user{i}@example.com,{i}\n"));
    }
    std::fs::write(&csv, &text).unwrap();
    let loc = root.table_url(uuid::Uuid::now_v7(), "people").unwrap();
    let tenancy = Tenancy {
        key_column: "key".into(),
        separator: Some("-".into()),
    };
    ingest::create_table_with(&csv, FileFormat::Csv, &loc, "people", Some(&tenancy))
        .await
        .unwrap();
    let sample = sampling::of_table(&loc, 20).await.unwrap();
    let names: Vec<&str> = sample.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["key", "email", "score"], "no tenant column");
    assert!(sample.iter().all(|c| c.values.len() == 20));
    assert!(
        sample[1]
            .values
            .iter()
            .flatten()
            .all(|v| v.ends_with("@example.com")),
        "{:?}",
        sample[1].values
    );
    assert_eq!(sample[2].data_type, "Int64");

    let more = dir.path().join("more.csv");
    std::fs::write(&more, "key,email,score\nt1-90,zed@example.com,7\n").unwrap();
    let sample = sampling::of_file(&more, FileFormat::Csv, Some(&loc), 1000)
        .await
        .unwrap();
    assert_eq!(sample[1].values, [Some("zed@example.com".to_string())]);
    assert_eq!(sample[2].data_type, "Int64", "the table's type");
    // A file that does not read is the sample's error too.
    std::fs::write(&more, "key,email,score\nt1-91,x@example.com,not-a-number\n").unwrap();
    assert!(
        sampling::of_file(&more, FileFormat::Csv, Some(&loc), 1000)
            .await
            .is_err()
    );
}
