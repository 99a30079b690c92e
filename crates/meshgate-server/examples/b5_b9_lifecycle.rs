//! B5 and B9 (docs/design/BENCHMARKS.md).
//!
//! **B5** — share lifecycles per second: each lifecycle is a consumer's request (created and
//! submitted), an owner's approval, and the worker processing it into a grant (`processed`);
//! `--concurrency` clients run lifecycles against the real router (in process, no network),
//! the worker running as in `serve`. Target ≥ 2,000/s on SQLite, ≥ 1,000/s on PostgreSQL.
//!
//! **B9** — verify 100k shared items: a product with 10 tables and 10,000 processed shares of
//! all ten (100,000 shared items with their grants) is verified in bulk — every item's grant
//! compared with what it should give, every table opened, every result written. Target ≤ 5 s.
//!
//! **Profile** (`--profile N`): before B5, N lifecycles one at a time, with every statement
//! the store sends counted (sqlx's own statement events): statements per lifecycle by kind,
//! the time spent in them, and the statements that cost most. Where a lifecycle's time goes.
//!
//! ```sh
//! cargo run --release -p meshgate-server --example b5_b9_lifecycle -- [--store postgres://…]
//!     [--lifecycles 5000] [--concurrency 32] [--shares 10000] [--profile 200]
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use http_body_util::BodyExt;
use meshgate_core::access::GrantScope;
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    Grant, Grantee, Health, ItemKind, NewAuditEvent, Permission, Share, ShareItem, new_id,
};
use meshgate_server::{AppState, Config};
use serde_json::{Value, json};
use tower::ServiceExt;

const BOUNDARY: &str = "meshgate-bench-boundary";

struct Args {
    store: Option<String>,
    lifecycles: usize,
    concurrency: usize,
    shares: usize,
    profile: usize,
}

fn args() -> Args {
    let mut a = Args {
        store: None,
        lifecycles: 5000,
        concurrency: 32,
        shares: 10_000,
        profile: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--store" => a.store = Some(value),
            "--lifecycles" => a.lifecycles = value.parse().unwrap_or(a.lifecycles),
            "--concurrency" => a.concurrency = value.parse().unwrap_or(a.concurrency),
            "--shares" => a.shares = value.parse().unwrap_or(a.shares),
            "--profile" => a.profile = value.parse().unwrap_or(a.profile),
            other => eprintln!("ignoring unknown flag {other}"),
        }
    }
    a
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> Result<(StatusCode, Value), Box<dyn Error>> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Creates `sales.wide` with ten small tables through the API.
async fn wide_product(app: &axum::Router, token: &str) -> Result<(), Box<dyn Error>> {
    let meta = json!({"domain": "sales", "team": "core", "name": "wide"}).to_string();
    let mut body = Vec::new();
    let mut part = |name: &str, file: Option<&str>, content: &[u8]| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes()),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part("product", None, meta.as_bytes());
    let csv = b"id,region,amount\n1,EU,10\n2,US,20\n3,EU,30\n";
    for t in 0..10 {
        part(&format!("t{t}"), Some(&format!("t{t}.csv")), csv);
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/products")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))?;
    let resp = app.clone().oneshot(req).await?;
    if resp.status() != StatusCode::CREATED {
        let bytes = resp.into_body().collect().await?.to_bytes();
        return Err(format!(
            "cannot create sales.wide: {}",
            String::from_utf8_lossy(&bytes)
        )
        .into());
    }
    Ok(())
}

/// Every statement the store sent, by its text: how many and the seconds they took. Filled
/// from sqlx's statement events (target `sqlx::query`), which carry the statement and its
/// elapsed time.
#[derive(Default)]
struct Statements(Mutex<HashMap<String, (u64, f64)>>);

struct CountStatements(Arc<Statements>);

/// One statement event: sqlx puts a short statement whole in `summary` and leaves
/// `db.statement` empty, and a long one's first words in `summary` and all of it in
/// `db.statement`.
#[derive(Default)]
struct StatementEvent {
    summary: String,
    statement: String,
    secs: f64,
}

impl StatementEvent {
    fn sql(&self) -> String {
        let text = if self.statement.trim().is_empty() {
            &self.summary
        } else {
            &self.statement
        };
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl tracing::field::Visit for StatementEvent {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "db.statement" => self.statement = value.to_owned(),
            "summary" => self.summary = value.to_owned(),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.summary.is_empty() {
            self.summary = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut e = StatementEvent::default();
        event.record(&mut e);
        if let Ok(mut all) = self.0.0.lock() {
            let entry = all.entry(e.sql()).or_default();
            entry.0 += 1;
            entry.1 += e.secs;
        }
    }
}

/// The first word of a statement, upper-cased (SELECT, INSERT, UPDATE, …).
fn kind(sql: &str) -> String {
    let word = sql.split_whitespace().next().unwrap_or("?").to_uppercase();
    if word == "WITH" {
        // A CTE: what follows the last `)` decides.
        return format!(
            "WITH … {}",
            sql.rsplit(')').next().map(kind).unwrap_or_default()
        );
    }
    word
}

/// `--profile N`: N lifecycles one at a time, with the statements they sent.
async fn profile(
    app: &axum::Router,
    bob: &str,
    alice: &str,
    statements: &Statements,
    n: usize,
) -> Result<(), Box<dyn Error>> {
    if let Ok(mut all) = statements.0.lock() {
        all.clear();
    }
    let started = Instant::now();
    for _ in 0..n {
        one_lifecycle(app, bob, alice).await?;
    }
    let wall = started.elapsed().as_secs_f64();
    let all = statements.0.lock().map(|m| m.clone()).unwrap_or_default();
    let per = |x: f64| x / n as f64;
    let total: u64 = all.values().map(|v| v.0).sum();
    let store_secs: f64 = all.values().map(|v| v.1).sum();
    println!(
        "profile: {n} lifecycles one at a time in {wall:.2} s = {:.2} ms each; {:.1} statements and {:.2} ms in the store per lifecycle ({:.0} % of the time)",
        per(wall) * 1e3,
        per(total as f64),
        per(store_secs) * 1e3,
        100.0 * store_secs / wall
    );
    let mut kinds: HashMap<String, (u64, f64)> = HashMap::new();
    for (sql, (count, secs)) in &all {
        let e = kinds.entry(kind(sql)).or_default();
        e.0 += count;
        e.1 += secs;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1.0));
    println!("| kind | per lifecycle | ms per lifecycle |\n|---|---|---|");
    for (k, (count, secs)) in kinds {
        println!(
            "| {k} | {:.1} | {:.3} |",
            per(count as f64),
            per(secs) * 1e3
        );
    }
    let mut top: Vec<_> = all.into_iter().collect();
    top.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    println!(
        "top statements by time:\n| per lifecycle | ms per lifecycle | statement |\n|---|---|---|"
    );
    for (sql, (count, secs)) in top.into_iter().take(15) {
        let short: String = sql.chars().take(110).collect();
        println!(
            "| {:.1} | {:.3} | `{short}` |",
            per(count as f64),
            per(secs) * 1e3
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let a = args();
    let statements = Arc::new(Statements::default());
    if a.profile > 0 {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(
                CountStatements(statements.clone())
                    .with_filter(tracing_subscriber::EnvFilter::new("sqlx::query=trace")),
            )
            .init();
    }
    let dir = tempfile::tempdir()?;
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        store_url: a.store.clone(),
        ..Config::default()
    };
    let state = AppState::open(config).await?;
    let backend = state.store.backend();
    let tokens = meshgate_cli::demo::seed_demo(&state).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(meshgate_server::worker::run(state.clone(), stop.clone()));
    let app = meshgate_server::router(state.clone());
    let bob = tokens.get("bob").cloned().ok_or("no token for bob")?;
    let alice = tokens.get("alice").cloned().ok_or("no token for alice")?;

    // ----- B5 -----
    // warm up
    for _ in 0..20 {
        one_lifecycle(&app, &bob, &alice).await?;
    }
    if a.profile > 0 {
        profile(&app, &bob, &alice, &statements, a.profile).await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (app, bob, alice, next) = (app.clone(), bob.clone(), alice.clone(), next.clone());
        let total = a.lifecycles;
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                one_lifecycle(&app, &bob, &alice)
                    .await
                    .map_err(|e| e.to_string())?;
                done += 1;
            }
            Ok::<usize, String>(done)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = done as f64 / secs;
    let target = if backend == "sqlite" { 2000.0 } else { 1000.0 };
    println!(
        "B5 {backend}: {done} lifecycles (request+submit → approve → processed) with {} clients in {secs:.2} s = {rate:.0}/s (target ≥ {target:.0}/s: {})",
        a.concurrency,
        if rate >= target { "meets" } else { "misses" }
    );

    // ----- B9 -----
    wide_product(&app, &alice).await?;
    let (_, product) = meshgate_server::lookup::find_product(&state, "sales", "wide")
        .await
        .map_err(|e| e.message)?;
    let tables = state.store.list_tables(product.id).await?;
    let team = state
        .store
        .get_team_by_name(
            state
                .store
                .get_domain_by_name("marketing")
                .await?
                .ok_or("no marketing")?
                .id,
            "analytics",
        )
        .await?
        .ok_or("no marketing.analytics")?;
    let bob_id = state
        .store
        .get_principal_by_name("bob")
        .await?
        .ok_or("no bob")?
        .id;
    let setup = Instant::now();
    let writers = 8;
    let per = a.shares / writers;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (state, tables, product_id) = (state.clone(), tables.clone(), product.id);
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let now = Utc::now();
                let id = new_id();
                let share = Share {
                    id,
                    product_id,
                    requester_team_id: Some(team.id),
                    requester_principal_id: None,
                    created_by: bob_id,
                    reason: format!("bench {w}"),
                    status: ShareStatus::Processed,
                    requested_expiry: None,
                    decision_notes: None,
                    decided_by: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    deleted_reason: None,
                    terms: Default::default(),
                };
                let items: Vec<ShareItem> = tables
                    .iter()
                    .map(|t| ShareItem {
                        id: new_id(),
                        share_id: id,
                        kind: ItemKind::Table,
                        table_id: Some(t.id),
                        path: None,
                        permission: Permission::Read,
                        scope: GrantScope::default(),
                        status: ItemStatus::ShareSucceeded,
                        health: Some(Health::Healthy),
                        health_message: None,
                        last_verified_at: Some(now),
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                let grants = items
                    .iter()
                    .map(|i| Grant {
                        id: new_id(),
                        share_item_id: i.id,
                        grantee: Grantee::Team(team.id),
                        table_id: i.table_id.unwrap_or_default(),
                        permission: Permission::Read,
                        scope: GrantScope::default(),
                        created_at: now,
                    })
                    .collect();
                state
                    .store
                    .create_share(
                        &share,
                        &items,
                        NewAuditEvent::new(None, "bench.share", "share", Some(id.to_string())),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                state
                    .store
                    .apply_share_change(meshgate_store::ShareChange {
                        share_id: id,
                        expected_version: 1,
                        grants_to_add: grants,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "B9 setup: {} shares × {} tables = {} shared items in {:.1} s",
        per * writers,
        tables.len(),
        per * writers * tables.len(),
        setup.elapsed().as_secs_f64()
    );
    let mut runs = Vec::new();
    for run in 0..3 {
        let t = Instant::now();
        let r = meshgate_server::shares::verify_product(&state, product.id, None, false).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "B9 {backend} run {run}: verified {} items of {} shares in {secs:.2} s ({} healthy, {} unhealthy)",
            r.items, r.shares, r.healthy, r.unhealthy
        );
        runs.push(secs);
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[runs.len() / 2];
    println!(
        "B9 {backend}: median {median:.2} s for {} items (target ≤ 5 s: {})",
        per * writers * tables.len(),
        if median <= 5.0 { "meets" } else { "misses" }
    );
    stop.cancel();
    Ok(())
}

async fn one_lifecycle(app: &axum::Router, bob: &str, alice: &str) -> Result<(), Box<dyn Error>> {
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/shares",
        bob,
        json!({"product": "sales.customers", "reason": "bench"}),
    )
    .await?;
    if s != StatusCode::CREATED {
        return Err(format!("request: {s} {v}").into());
    }
    let id = v["id"].as_str().ok_or("no id")?.to_string();
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/shares/{id}/approve"),
        alice,
        json!({}),
    )
    .await?;
    if s != StatusCode::OK || v["status"] != "processed" {
        return Err(format!("approve: {s} {v}").into());
    }
    Ok(())
}
