//! Bounded input (docs/design/QUERY_LIMITS.md): SQL past the size and depth limits is refused with a
//! message naming the limit, before anything recurses over it deeply enough to overflow a
//! stack; chains just inside the limit still plan; filter expressions are bounded the same
//! way; malformed upload files are refused as invalid data instead of panicking a reader.
//!
//! Each oversized query here used to overflow the stack of the thread planning it, which
//! aborts the whole process (this test binary included): the refusal is what protects it.

use futures::TryStreamExt;
use meshgate_engine::Error;
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::ingest::{self, FileFormat};
use meshgate_engine::policy::{Identity, compile_filter};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::secure::TableAccess;
use meshgate_engine::storage::DataRoot;

/// `SELECT <first><op><term><op><term>…` with `terms` terms in all.
fn chain(first: &str, op: &str, term: &str, terms: usize) -> String {
    let mut sql = format!("SELECT {first}");
    for _ in 1..terms {
        sql.push_str(op);
        sql.push_str(term);
    }
    sql
}

/// The attacks of issue 13, finding 5.
fn attacks() -> Vec<(&'static str, String)> {
    let in_list = format!("SELECT 7 IN ({})", vec!["7"; 50_000].join(", "));
    vec![
        ("2,000-term +", chain("1", "+", "1", 2_000)),
        (
            "3,000-term OR",
            chain("id = 1", " OR ", "id = 1", 3_000) + " FROM d.p.t",
        ),
        ("50,000-item IN", in_list),
        ("10,000-term ||", chain("'a'", "||", "'a'", 10_000)),
        ("1,000 UNIONs", chain("1", " UNION ALL ", "SELECT 1", 1_000)),
    ]
}

async fn table(dir: &tempfile::TempDir) -> VisibleTable {
    let root = DataRoot::parse(&dir.path().join("tables").to_string_lossy()).unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "id,name\n1,x\n2,y\n").unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "t").unwrap();
    ingest::create_table(&csv, FileFormat::Csv, &location, "t")
        .await
        .unwrap();
    VisibleTable {
        domain: "d".into(),
        product: "p".into(),
        table: "t".into(),
        location,
        access: TableAccess::owner(),
    }
}

async fn rows(engine: &QueryEngine, sql: &str, visible: &[VisibleTable]) -> usize {
    let stream = engine.run(sql, visible).await.unwrap();
    let batches: Vec<_> = stream.batches.try_collect().await.unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

fn assert_too_complex(err: &Error, what: &str) {
    assert!(matches!(err, Error::TooComplex { .. }), "{what}: {err:?}");
    assert!(err.is_user_error(), "{what}");
    let message = err.to_string();
    assert!(message.contains("`query.max_"), "{what}: {message}");
    assert!(message.len() < 400, "{what}: the message is short");
    for data in ["'a'", "id = 1", "SELECT", "7, 7"] {
        assert!(!message.contains(data), "{what}: echoes the SQL: {message}");
    }
}

#[tokio::test]
async fn oversized_queries_are_refused_and_the_engine_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let visible = [table(&dir).await];
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    for (what, sql) in attacks() {
        let err = engine.run(&sql, &visible).await.err().unwrap();
        assert_too_complex(&err, what);
        let err = engine.files_read(&sql, &visible).await.unwrap_err();
        assert_too_complex(&err, what);
        // Wrapped in EXPLAIN or a subquery, the same.
        let err = engine
            .run(&format!("EXPLAIN {sql}"), &visible)
            .await
            .err()
            .unwrap();
        assert_too_complex(&err, what);
    }
    assert_eq!(rows(&engine, "SELECT * FROM d.p.t", &visible).await, 2);
}

#[tokio::test]
async fn each_limit_names_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let visible = [table(&dir).await];
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let depth = engine
        .run(&chain("1", "+", "1", 2_000), &visible)
        .await
        .err()
        .unwrap();
    assert!(
        depth.to_string().contains("`query.max_expr_depth`"),
        "{depth}"
    );
    let tokens = engine
        .run(
            &format!("SELECT 7 IN ({})", vec!["7"; 50_000].join(", ")),
            &visible,
        )
        .await
        .err()
        .unwrap();
    assert!(
        tokens.to_string().contains("`query.max_sql_tokens`"),
        "{tokens}"
    );
    let bytes = engine
        .run(
            &format!("SELECT '{}'", "x".repeat(2 * 1024 * 1024)),
            &visible,
        )
        .await
        .err()
        .unwrap();
    assert!(
        bytes.to_string().contains("`query.max_sql_bytes`"),
        "{bytes}"
    );
    assert!(!bytes.to_string().contains("xxx"), "{bytes}");
}

#[tokio::test]
async fn chains_inside_the_limits_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let visible = [table(&dir).await];
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    // A depth of 128 counts the query and the select item too: 120 terms fit.
    let sum = chain("1", "+", "1", 120);
    let stream = engine.run(&sum, &visible).await.unwrap();
    let batches: Vec<_> = stream.batches.try_collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let ors = format!(
        "SELECT * FROM d.p.t WHERE {}",
        (1..=100)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    assert_eq!(rows(&engine, &ors, &visible).await, 2);
    let in_list = format!(
        "SELECT * FROM d.p.t WHERE id IN ({})",
        (1..=5_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(rows(&engine, &in_list, &visible).await, 2);
}

#[tokio::test]
async fn limits_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let visible = [table(&dir).await];
    let mut config = QueryConfig::default();
    config.limits.max_depth = 8;
    let engine = QueryEngine::new(config).unwrap();
    let err = engine
        .run(&chain("1", "+", "1", 10), &visible)
        .await
        .err()
        .unwrap();
    assert_too_complex(&err, "depth 8");
    assert_eq!(rows(&engine, "SELECT 1 + 1", &visible).await, 1);
}

#[test]
fn filter_expressions_are_bounded() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]);
    // Within the 2,048 characters an expression may have, 250 terms nest 250 levels.
    let deep = vec!["id=1"; 250].join(" OR ");
    assert!(deep.len() <= 2048);
    let err = compile_filter(&deep, &schema, &Identity::default()).unwrap_err();
    assert!(err.reason.contains("nested deeper than"), "{err}");
    assert!(!err.reason.contains("id=1"), "{err}");
    let sum = format!("{} > 0", vec!["id"; 400].join(" + "));
    let err = compile_filter(&sum, &schema, &Identity::default()).unwrap_err();
    assert!(err.reason.contains("nested deeper than"), "{err}");
    compile_filter(
        &vec!["id = 1"; 20].join(" OR "),
        &schema,
        &Identity::default(),
    )
    .unwrap();
}

/// A 108-byte file framed like Parquet whose footer gives a metadata length of
/// `metadata_len`. Before the framing check, a length pointing before the file's start (200,
/// `u32::MAX`) panicked the reader ("attempt to subtract with overflow" in the Parquet
/// metadata decoder, reached from DataFusion's schema inference).
fn parquet_with_footer(metadata_len: u32) -> Vec<u8> {
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(&[0x15; 96]);
    f.extend_from_slice(&metadata_len.to_le_bytes());
    f.extend_from_slice(b"PAR1");
    assert_eq!(f.len(), 108);
    f
}

/// Malformed files of every format, each with what its refusal must mention.
fn malformed() -> Vec<(&'static str, FileFormat, Vec<u8>, &'static str)> {
    vec![
        (
            "footer before the file start",
            FileFormat::Parquet,
            parquet_with_footer(200),
            "Parquet file is malformed",
        ),
        (
            "footer over the leading magic",
            FileFormat::Parquet,
            parquet_with_footer(97),
            "Parquet file is malformed",
        ),
        (
            "huge footer",
            FileFormat::Parquet,
            parquet_with_footer(u32::MAX),
            "Parquet file is malformed",
        ),
        (
            "garbage metadata",
            FileFormat::Parquet,
            parquet_with_footer(96),
            "metadata cannot be decoded",
        ),
        (
            "not Parquet at all",
            FileFormat::Parquet,
            b"id,name\n1,x\n".to_vec(),
            "Parquet file is malformed",
        ),
        (
            "ragged CSV",
            FileFormat::Csv,
            b"id,name\n1,x\n2\n3,z,extra\n".to_vec(),
            "",
        ),
        (
            "broken JSON line",
            FileFormat::JsonLines,
            b"{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2, \"name\n".to_vec(),
            "",
        ),
    ]
}

#[tokio::test]
async fn malformed_files_are_invalid_data_on_create_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().join("tables").to_string_lossy()).unwrap();
    let existing = table(&dir).await;
    for (i, (what, format, bytes, mention)) in malformed().into_iter().enumerate() {
        let file = dir.path().join(format!("bad{i}{}", format.extension()));
        std::fs::write(&file, &bytes).unwrap();
        let location = root.table_url(uuid::Uuid::now_v7(), "bad").unwrap();
        let err = ingest::create_table(&file, format, &location, "bad")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidData { .. }), "{what}: {err:?}");
        assert!(err.to_string().contains(mention), "{what}: {err}");
        assert!(
            !location.to_file_path().unwrap().exists(),
            "{what}: a failed create leaves nothing"
        );
        let err = ingest::append_file(&file, format, &existing.location)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidData { .. }), "{what}: {err:?}");
        assert!(err.to_string().contains(mention), "{what}: {err}");
    }
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    assert_eq!(
        rows(&engine, "SELECT * FROM d.p.t", &[existing]).await,
        2,
        "failed appends add nothing"
    );
}

/// `p.p.….p.` ending in a dot makes the SQL parser backtrack, doubling its time with every
/// two links (found by the `filter_expr` fuzz target): the chain is refused before parsing,
/// at once, in a query and in a filter expression.
#[tokio::test]
async fn a_dotted_chain_that_makes_the_parser_backtrack_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let visible = [table(&dir).await];
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let chain = "p.".repeat(40);
    for sql in [
        format!("SELECT 1 + {chain}"),
        format!("SELECT * FROM d.p.t WHERE {chain}"),
    ] {
        let started = std::time::Instant::now();
        let err = engine.run(&sql, &visible).await.err().unwrap();
        assert!(matches!(err, Error::TooComplex { .. }), "{err:?}");
        assert!(err.to_string().contains("dots"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
    let schema = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
    let started = std::time::Instant::now();
    let err = compile_filter(
        &format!("id = 1 AND {chain}"),
        &schema,
        &Identity::default(),
    )
    .unwrap_err();
    assert!(err.reason.contains("dots"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(rows(&engine, "SELECT * FROM d.p.t", &visible).await, 2);
}
