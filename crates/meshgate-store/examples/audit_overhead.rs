//! Audit overhead (issue 17): what linking each audit event into the tamper-evident chain
//! (docs/design/AUDIT.md §The chain) costs the write every read and every change makes.
//!
//! Appends audit events shaped like a query's `query.run` event through the store, once with
//! the chain (as the server runs) and once without it (`SqlStore::unchained`, which exists for
//! this benchmark only), with 1 writer and with 8 concurrent writers, on SQLite (a fresh file)
//! and, when `MESHGATE_BENCH_POSTGRES_URL` is set, on PostgreSQL (a fresh schema, dropped
//! afterwards). Rounds alternate between the two, and the median of `--rounds` is reported.
//!
//! ```text
//! cargo run --release -p meshgate-store --example audit_overhead -- [--events N] [--rounds R]
//! ```
//!
//! Every query writes exactly one such event, after its result has streamed (off the query's
//! latency); this gives the cost per event, to set against the time of a query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use meshgate_core::model::NewAuditEvent;
use meshgate_store::{AuditStore, SqlStore};
use serde_json::json;
use sqlx::{Connection, Executor};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(i: usize) -> NewAuditEvent {
    NewAuditEvent::new(Some(uuid::Uuid::now_v7()), "query.run", "query", None).with_detail(json!({
        "sql": format!("SELECT * FROM sales.orders.orders WHERE id = {i}"),
        "tables": ["sales.orders.orders"], "rows": 1, "bytes": 120, "duration_ms": 3,
    }))
}

/// Seconds to append `events` events with `writers` concurrent writers.
async fn append(store: Arc<SqlStore>, events: usize, writers: usize) -> f64 {
    let started = Instant::now();
    let per = events / writers;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    store.append_audit(event(w * per + i)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn measure(backend: &str, url: &str, events: usize, rounds: usize) {
    let chained = Arc::new(SqlStore::connect(url).await.unwrap());
    let unchained = Arc::new(SqlStore::connect(url).await.unwrap().unchained());
    for writers in [1, 8] {
        // A warm-up round each, then alternate.
        append(chained.clone(), events / 10, writers).await;
        append(unchained.clone(), events / 10, writers).await;
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            with.push(append(chained.clone(), events, writers).await);
            without.push(append(unchained.clone(), events, writers).await);
        }
        let (with, without) = (median(with), median(without));
        let n = (events / writers * writers) as f64;
        println!(
            "| {backend} | {writers} | {:.0} | {:.0} | {:.1} | {:.1} | {:+.1} % |",
            n / with,
            n / without,
            with / n * 1e6,
            without / n * 1e6,
            (with / without - 1.0) * 100.0
        );
    }
}

#[tokio::main]
async fn main() {
    let events = arg("--events", 4000);
    let rounds = arg("--rounds", 5).max(1);
    println!(
        "{events} events a round, median of {rounds} rounds, alternating with and without the chain\n"
    );
    println!(
        "| store | writers | events/s with chain | events/s without | µs/event with | µs/event without | chain costs |"
    );
    println!("|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    measure("SQLite", &url, events, rounds).await;
    if let Ok(base) = std::env::var("MESHGATE_BENCH_POSTGRES_URL") {
        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
        let schema = format!("meshgate_bench_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!("CREATE SCHEMA {schema}").as_str())
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        measure(
            "PostgreSQL",
            &format!("{base}{sep}options[search_path]={schema}"),
            events,
            rounds,
        )
        .await;
        admin
            .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
            .await
            .unwrap();
    }
}
