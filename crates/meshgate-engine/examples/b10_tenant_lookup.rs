//! B10 (docs/design/BENCHMARKS.md): tenant-scoped key lookup at 1,000 tenants × 10M rows, and the number
//! of files a tenant-scoped query reads.
//!
//! Builds a multi-tenant Delta table (seeded generator, partitioned by tenant) in a temporary
//! directory, then looks keys up the way a tenant credential does: through the secure scan
//! with the restrictive filters `starts_with(item_id, 'tenantN-')` and `tenant = 'tenantN'`.
//! Each lookup is planned and run from scratch (a new session, as every API request is).
//!
//! Usage: cargo run --release -p meshgate-engine --example b10_tenant_lookup -- \
//!            [--tenants 1000] [--rows 10000000] [--lookups 500] [--dir PATH]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use meshgate_engine::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::query::{QueryConfig, QueryEngine, VisibleTable};
use meshgate_engine::rows::{self, Tenancy};
use meshgate_engine::secure::TableAccess;
use meshgate_engine::storage::DataRoot;
use rand::{Rng, SeedableRng};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn batch(
    tenants: std::ops::Range<u64>,
    per_tenant: u64,
    rng: &mut rand::rngs::StdRng,
) -> RecordBatch {
    let n = ((tenants.end - tenants.start) * per_tenant) as usize;
    let (mut ids, mut names, mut qty, mut price) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for t in tenants {
        for i in 0..per_tenant {
            ids.push(format!("tenant{t}-{i}"));
            names.push(format!("item {i} of tenant {t}"));
            qty.push(rng.gen_range(0..1000i64));
            price.push(rng.gen_range(1.0..500.0f64));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("qty", DataType::Int64, false),
        Field::new("price", DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(qty)),
            Arc::new(Float64Array::from(price)),
        ],
    )
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (k.floor() as usize, k.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64)
}

#[tokio::main]
async fn main() {
    let tenants = arg("--tenants", 1000);
    let rows_total = arg("--rows", 10_000_000);
    let lookups = arg("--lookups", 500) as usize;
    let per_tenant = rows_total / tenants;
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::args()
        .position(|a| a == "--dir")
        .and_then(|i| std::env::args().nth(i + 1))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let root = DataRoot::parse(&dir.to_string_lossy()).unwrap();
    let location = root.table_url(uuid::Uuid::nil(), "items").unwrap();
    let tenancy = Tenancy {
        key_column: "item_id".into(),
        separator: Some("-".into()),
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let started = Instant::now();
    let chunk = 100.min(tenants);
    let mut batches = Vec::new();
    let mut t = 0;
    while t < tenants {
        let end = (t + chunk).min(tenants);
        batches.push(batch(t..end, per_tenant, &mut rng));
        t = end;
    }
    rows::create_tenant_table(&location, "items", batches, &tenancy)
        .await
        .unwrap();
    let build = started.elapsed();

    let engine = QueryEngine::new(QueryConfig::default()).unwrap();
    let access = |tenant: u64| TableAccess {
        restrictive: vec![
            format!("starts_with(\"item_id\", 'tenant{tenant}-')"),
            format!("\"tenant\" = 'tenant{tenant}'"),
        ],
        ..TableAccess::owner()
    };
    let visible = |tenant: u64| {
        vec![VisibleTable {
            domain: "apps".into(),
            product: "items".into(),
            table: "items".into(),
            location: location.clone(),
            access: access(tenant),
        }]
    };
    let owner = vec![VisibleTable {
        access: TableAccess::owner(),
        ..visible(0).remove(0)
    }];
    let all_files = engine
        .files_read("SELECT * FROM apps.items.items", &owner)
        .await
        .unwrap()
        .len();
    let probe_sql = "SELECT * FROM apps.items.items WHERE item_id = 'tenant7-3'";
    let tenant_files = engine.files_read(probe_sql, &visible(7)).await.unwrap();
    assert!(
        tenant_files.iter().all(|f| f.contains("tenant=tenant7/")),
        "{tenant_files:?}"
    );

    // Warm-up (opens the table into the engine's cache), then timed lookups.
    for _ in 0..20 {
        let _: Vec<RecordBatch> = engine
            .run(probe_sql, &visible(7))
            .await
            .unwrap()
            .batches
            .try_collect()
            .await
            .unwrap();
    }
    let mut times = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let tenant = rng.gen_range(0..tenants);
        let i = rng.gen_range(0..per_tenant);
        let sql = format!("SELECT * FROM apps.items.items WHERE item_id = 'tenant{tenant}-{i}'");
        let v = visible(tenant);
        let t0 = Instant::now();
        let out: Vec<RecordBatch> = engine
            .run(&sql, &v)
            .await
            .unwrap()
            .batches
            .try_collect()
            .await
            .unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        let n: usize = out.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, 1, "{sql}");
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p50 = percentile(&times, 0.5);
    let p95 = percentile(&times, 0.95);
    println!("| metric | value |");
    println!("|---|---|");
    println!("| tenants × rows | {tenants} × {rows_total} ({per_tenant} per tenant) |");
    println!(
        "| table build (write, partitioned) | {:.1} s |",
        build.as_secs_f64()
    );
    println!("| files in the table | {all_files} |");
    println!(
        "| files a tenant-scoped lookup reads | {} (only `tenant=tenant7/`) |",
        tenant_files.len()
    );
    println!("| lookups | {lookups} |");
    println!("| p50 key lookup | {p50:.2} ms |");
    println!("| p95 key lookup | {p95:.2} ms |");
    println!("| max | {:.2} ms |", times.last().copied().unwrap_or(0.0));
    println!(
        "| target p95 ≤ 20 ms | {} |",
        if p95 <= 20.0 { "meets" } else { "misses" }
    );
}
