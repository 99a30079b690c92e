//! Multi-tenant tables: partitioned by tenant, a tenant-scoped read touches only that
//! tenant's files and rows, and concurrent appends by many tenants lose nothing.

use std::sync::Arc;

use futures::TryStreamExt;
use meshgate_engine::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use meshgate_engine::arrow::compute::cast;
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::rows::{self, Tenancy};
use meshgate_engine::secure::TableAccess;
use meshgate_engine::storage::DataRoot;
use serde_json::json;

fn tenancy() -> Tenancy {
    Tenancy {
        key_column: "item_id".into(),
        separator: Some("-".into()),
    }
}

fn items(tenants: usize, per_tenant: usize) -> RecordBatch {
    let mut ids = Vec::new();
    let mut qty = Vec::new();
    for t in 1..=tenants {
        for i in 1..=per_tenant {
            ids.push(format!("tenant{t}-{i}"));
            qty.push((t * 1000 + i) as i64);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("qty", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(qty)),
        ],
    )
    .unwrap()
}

/// The access of a credential scoped to `prefix` (as the server builds it).
fn scoped(prefix: &str) -> TableAccess {
    TableAccess {
        restrictive: tenancy().prefix_filters(prefix),
        ..TableAccess::owner()
    }
}

fn visible(location: &url::Url, access: TableAccess) -> Vec<VisibleTable> {
    vec![VisibleTable {
        domain: "apps".into(),
        product: "items".into(),
        table: "items".into(),
        location: location.clone(),
        access,
    }]
}

async fn rows_of(engine: &QueryEngine, sql: &str, visible: &[VisibleTable]) -> Vec<RecordBatch> {
    engine
        .run(sql, visible)
        .await
        .unwrap()
        .batches
        .try_collect()
        .await
        .unwrap()
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

#[tokio::test]
async fn a_tenant_scoped_read_touches_only_its_files_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "items").unwrap();
    rows::create_tenant_table(&location, "items", vec![items(5, 20)], &tenancy())
        .await
        .unwrap();
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();

    let owner = visible(&location, TableAccess::owner());
    let all = engine
        .files_read("SELECT * FROM apps.items.items", &owner)
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "one file per tenant: {all:?}");

    let tenant2 = visible(&location, scoped("tenant2-"));
    let files = engine
        .files_read("SELECT * FROM apps.items.items WHERE qty > 0", &tenant2)
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains("tenant=tenant2/"), "{files:?}");

    let n = count(&rows_of(&engine, "SELECT count(*) FROM apps.items.items", &tenant2).await);
    assert_eq!(n, 20);
    let other = rows_of(
        &engine,
        "SELECT count(*) FROM apps.items.items WHERE item_id = 'tenant3-1'",
        &tenant2,
    )
    .await;
    assert_eq!(count(&other), 0, "another tenant's key reads nothing");
    let one = rows_of(
        &engine,
        "SELECT qty FROM apps.items.items WHERE item_id = 'tenant2-7'",
        &tenant2,
    )
    .await;
    let qty = one[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(qty.value(0), 2007);

    // A prefix narrower than a tenant still prunes to the tenant, and names a whole key:
    // `tenant4-1` is that key (and `tenant4-1-…`), not `tenant4-10` … `tenant4-19`.
    let narrow = visible(&location, scoped("tenant4-1"));
    let files = engine
        .files_read("SELECT * FROM apps.items.items", &narrow)
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let n = count(&rows_of(&engine, "SELECT count(*) FROM apps.items.items", &narrow).await);
    assert_eq!(n, 1, "tenant4-1 only");
}

/// Issue 13, finding 9: a credential scoped to `tenant1` (no separator at the end) names the
/// whole tenant `tenant1`; it must not read `tenant10-…` or `tenant11-…`, which a bare string
/// prefix would cover.
#[tokio::test]
async fn a_tenant1_prefix_never_reads_tenant10_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "items").unwrap();
    rows::create_tenant_table(&location, "items", vec![items(11, 3)], &tenancy())
        .await
        .unwrap();
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    for prefix in ["tenant1", "tenant1-"] {
        let tenant1 = visible(&location, scoped(prefix));
        let batches = rows_of(
            &engine,
            "SELECT item_id FROM apps.items.items ORDER BY item_id",
            &tenant1,
        )
        .await;
        let keys: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let text = cast(b.column(0), &DataType::Utf8).unwrap();
                let a = text.as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(keys, ["tenant1-1", "tenant1-2", "tenant1-3"], "{prefix}");
        let probe = rows_of(
            &engine,
            "SELECT count(*) FROM apps.items.items WHERE item_id LIKE 'tenant10%'",
            &tenant1,
        )
        .await;
        assert_eq!(count(&probe), 0, "{prefix}");
    }
}

#[tokio::test]
async fn sixteen_concurrent_tenant_writers_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "items").unwrap();
    rows::create_tenant_table(&location, "items", vec![items(1, 1)], &tenancy())
        .await
        .unwrap();

    const WRITERS: usize = 16;
    const APPENDS: usize = 4;
    const ROWS: usize = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let location = location.clone();
        tasks.push(tokio::spawn(async move {
            for a in 0..APPENDS {
                let batch: Vec<_> = (0..ROWS)
                    .map(|r| json!({"item_id": format!("w{w}-{a}-{r}"), "qty": r}))
                    .collect();
                rows::append_rows(&location, &batch, Some(&tenancy()))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let owner = visible(&location, TableAccess::owner());
    let total = count(&rows_of(&engine, "SELECT count(*) FROM apps.items.items", &owner).await);
    assert_eq!(total as usize, 1 + WRITERS * APPENDS * ROWS);
    let per = rows_of(
        &engine,
        "SELECT tenant, count(*) AS n, count(DISTINCT item_id) AS d FROM apps.items.items \
         GROUP BY tenant ORDER BY tenant",
        &owner,
    )
    .await;
    let mut tenants = 0;
    for b in &per {
        let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let d = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            assert_eq!(n.value(i), d.value(i), "no duplicated rows");
            tenants += 1;
        }
    }
    assert_eq!(tenants, WRITERS + 1);
}

#[tokio::test]
async fn an_invalid_row_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::now_v7(), "items").unwrap();
    rows::create_tenant_table(&location, "items", vec![items(2, 3)], &tenancy())
        .await
        .unwrap();
    let bad = vec![
        json!({"item_id": "tenant1-9", "qty": 1}),
        json!({"item_id": "tenant1-10", "qty": "lots"}),
    ];
    let err = rows::append_rows(&location, &bad, Some(&tenancy()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1") && err.contains("`qty`"), "{err}");
    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let owner = visible(&location, TableAccess::owner());
    let n = count(&rows_of(&engine, "SELECT count(*) FROM apps.items.items", &owner).await);
    assert_eq!(n, 6);
}
