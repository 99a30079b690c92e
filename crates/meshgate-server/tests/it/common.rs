//! A test mesh driven through `router(state)` with `oneshot`, as in `api.rs`: its own data
//! dir and SQLite store, the demo seed (admin, alice and carol of `sales.core`, bob of
//! `marketing.analytics`), a running share worker, and helpers for the requests tests make.

use std::path::Path;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use meshgate_cli::demo::DemoTokens;
use meshgate_server::{AppState, Config};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const BOUNDARY: &str = "meshgate-test-boundary-5f1c2e";

/// `sales.people.people`: five people in four regions, with emails and salaries.
pub const PEOPLE_CSV: &[u8] = b"person_id,name,email,region,salary\n\
1,ann,ann@example.com,EU,100\n\
2,ben,ben@example.com,US,200\n\
3,cat,cat@example.com,APAC,300\n\
4,dan,dan@example.com,LATAM,400\n\
5,eve,eve@example.com,EU,500\n";
pub const PEOPLE_FILTERS: &str = "/api/v1/products/sales/people/tables/people/data-filters";

/// Version 0 of `sales.ledger.ledger`: ids 1–3 (`Mesh::add_ledger` appends 4–5, then 6).
pub const LEDGER_CSV: &[u8] = b"id,name,region,amount\n1,ann,EU,10\n2,ben,US,20\n3,cat,EU,30\n";
pub const LEDGER_ROWS: &str = "/api/v1/products/sales/ledger/tables/ledger/rows";

/// `sales.stamps.stamps`, from a CSV with a timestamp column: the column is a
/// `timestamp_ntz`, so the table needs Delta reader version 3 (`Mesh::add_stamps`).
pub const STAMPS_CSV: &[u8] = b"id,at\n1,2024-01-01 10:00:00\n2,2024-01-02 11:30:00\n";

/// The microseconds since the epoch of the `at` values of [`events_parquet`], in order.
pub const EVENTS_AT_MICROS: [i64; 2] = [1_709_283_600_000_000, 1_719_820_800_000_000];

/// A Parquet file of `batch`, as pyarrow or Spark would write it (the Arrow schema stored).
pub fn parquet_bytes(batch: &meshgate_engine::arrow::record_batch::RecordBatch) -> Vec<u8> {
    use meshgate_engine::datafusion::parquet::arrow::ArrowWriter;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

/// The Parquet upload of `sales.events.events`: `id` (int64), `name` (string) and `at`, a
/// `timestamp[us, tz=Europe/Berlin]` whose instants are [`EVENTS_AT_MICROS`]
/// (2024-03-01 10:00 and 2024-07-01 10:00 in Berlin).
pub fn events_parquet() -> Vec<u8> {
    use std::sync::Arc;

    use meshgate_engine::arrow::array::{
        ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use meshgate_engine::arrow::record_batch::RecordBatch;
    let at =
        TimestampMicrosecondArray::from(EVENTS_AT_MICROS.to_vec()).with_timezone("Europe/Berlin");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2]))),
        (
            "name",
            Arc::new(StringArray::from(vec!["spring", "summer"])),
        ),
        ("at", Arc::new(at)),
    ];
    parquet_bytes(&RecordBatch::try_from_iter(columns).unwrap())
}

/// One test's mesh: its own data dir, state, router and a running share worker.
pub struct Mesh {
    pub state: AppState,
    pub app: Router,
    pub tokens: DemoTokens,
    pub dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An answer, read in full.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the status, then returns the JSON body.
    pub fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self.json()
    }

    /// Asserts the status and the error shape `{"error":{"code","message","request_id"}}`
    /// with `code`, and returns the message.
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["request_id"].is_string(), "{v}");
        let message = v["error"]["message"]
            .as_str()
            .expect("message is a string")
            .to_string();
        assert!(!message.is_empty(), "{v}");
        message
    }
}

pub fn assert_mentions(message: &str, needle: &str) {
    assert!(
        message.contains(needle),
        "expected `{needle}` in: {message}"
    );
}

/// A test server's configuration: the defaults, with automatic classification applying
/// confident detections as the quickstart does (the demo's customer e-mails are tagged so).
fn config(dir: &Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.classification.mode = Some(meshgate_core::classification::ClassificationMode::Apply);
    config
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl Mesh {
    /// A fresh demo mesh with a running worker.
    pub async fn demo() -> Mesh {
        Mesh::demo_with(|_| {}).await
    }

    /// A fresh demo mesh with a running worker, its configuration changed by `tweak`.
    pub async fn demo_with(tweak: impl FnOnce(&mut Config)) -> Mesh {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(dir.path());
        tweak(&mut config);
        let state = AppState::open(config).await.expect("open state");
        let tokens = meshgate_cli::demo::seed_demo(&state)
            .await
            .expect("seed the demo mesh");
        let stop = CancellationToken::new();
        tokio::spawn(meshgate_server::worker::run(state.clone(), stop.clone()));
        let app = meshgate_server::router(state.clone());
        Mesh {
            state,
            app,
            tokens,
            dir,
            stop,
        }
    }

    /// A second server on this mesh's store and data dir, as another replica would be: its
    /// own state, caches and search index, no worker.
    pub async fn replica(&self) -> Mesh {
        self.replica_with(|_| {}).await
    }

    /// [`Mesh::replica`] with its configuration changed by `tweak`.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Config)) -> Mesh {
        let mut config = config(self.dir.path());
        tweak(&mut config);
        let state = AppState::open(config)
            .await
            .expect("open a second state on the same store");
        let app = meshgate_server::router(state.clone());
        Mesh {
            state,
            app,
            tokens: self.tokens.clone(),
            dir: tempfile::tempdir().expect("tempdir"),
            stop: CancellationToken::new(),
        }
    }

    /// Stops this server's background loops (its worker, and the change feed if it runs one),
    /// as if another replica were left to do the work.
    pub fn stop_background(&self) {
        self.stop.cancel();
    }

    /// Starts this server's worker and change feed, as `serve` runs them.
    pub fn start_worker_and_feed(&self) {
        tokio::spawn(meshgate_server::worker::run(
            self.state.clone(),
            self.stop.clone(),
        ));
        tokio::spawn(meshgate_server::replicas::feed::run(
            self.state.clone(),
            self.stop.clone(),
        ));
    }

    /// `sales.ledger` (alice's team) with three versions: 0 = ids 1–3, 1 = +4–5, 2 = +6.
    pub async fn add_ledger(&self) {
        self.upload_csv("alice", "sales", "core", "ledger", "ledger", LEDGER_CSV)
            .await;
        for rows in [
            json!([{"id": 4, "name": "dan", "region": "US", "amount": 40},
                   {"id": 5, "name": "eve", "region": "EU", "amount": 50}]),
            json!([{"id": 6, "name": "fay", "region": "APAC", "amount": 60}]),
        ] {
            self.post("alice", LEDGER_ROWS, &rows)
                .await
                .ok(StatusCode::CREATED);
        }
    }

    /// `sales.people` (alice's team) with the data filters `eu` and `us` (by region).
    pub async fn add_people(&self) {
        self.upload_csv("alice", "sales", "core", "people", "people", PEOPLE_CSV)
            .await;
        for (name, filter) in [("eu", "region = 'EU'"), ("us", "region = 'US'")] {
            self.post(
                "alice",
                PEOPLE_FILTERS,
                &json!({"name": name, "row_filter": filter}),
            )
            .await
            .ok(StatusCode::CREATED);
        }
    }

    /// `sales.stamps` (alice's team) from [`STAMPS_CSV`]: one version, reader version 3.
    pub async fn add_stamps(&self) {
        self.upload_csv("alice", "sales", "core", "stamps", "stamps", STAMPS_CSV)
            .await;
    }

    /// `sales.events` (alice's team) uploaded as Parquet ([`events_parquet`]).
    pub async fn add_events(&self) -> Resp {
        let meta = json!({"domain": "sales", "team": "core", "name": "events"}).to_string();
        let file = events_parquet();
        self.create_product_parts(
            "alice",
            &[
                ("product", None, meta.as_bytes()),
                ("events", Some("events.parquet"), &file),
            ],
        )
        .await
    }

    pub fn token(&self, who: &str) -> String {
        self.tokens
            .get(who)
            .cloned()
            .unwrap_or_else(|| panic!("no token for `{who}`"))
    }

    /// Sends a request as `who` (`None`: no bearer token).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        who: Option<&str>,
        content_type: Option<&str>,
        body: Body,
    ) -> Resp {
        let token = who.map(|w| self.token(w));
        self.send_bearer(method, path, token.as_deref(), content_type, body)
            .await
    }

    /// Sends a request with a raw bearer token (an API token, a credential, a forgery;
    /// `None`: no `Authorization` header).
    pub async fn send_bearer(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        content_type: Option<&str>,
        body: Body,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, who: &str, path: &str) -> Resp {
        self.send("GET", path, Some(who), None, Body::empty()).await
    }

    pub async fn delete(&self, who: &str, path: &str) -> Resp {
        self.send("DELETE", path, Some(who), None, Body::empty())
            .await
    }

    pub async fn post(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(who),
            Some("application/json"),
            Body::from(body.to_string()),
        )
        .await
    }

    pub async fn put(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.put_raw(who, path, "application/json", body.to_string())
            .await
    }

    pub async fn put_raw(
        &self,
        who: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Resp {
        self.send("PUT", path, Some(who), Some(content_type), body.into())
            .await
    }

    /// `POST /api/v1/query` with JSON output.
    pub async fn query(&self, who: &str, sql: &str) -> Resp {
        self.post(who, "/api/v1/query", &json!({"sql": sql, "format": "json"}))
            .await
    }

    /// The rows of a JSON query that must succeed.
    pub async fn rows(&self, who: &str, sql: &str) -> Vec<Value> {
        let v = self.query(who, sql).await.ok(StatusCode::OK);
        v.as_array()
            .unwrap_or_else(|| panic!("rows are an array: {v}"))
            .clone()
    }

    /// The audit events (as admin) matching a query string.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let v = self
            .get("admin", &format!("/api/v1/audit?{query}"))
            .await
            .ok(StatusCode::OK);
        v.as_array().expect("audit is an array").clone()
    }

    /// Uploads a one-table CSV product as `who`.
    pub async fn upload_csv(
        &self,
        who: &str,
        domain: &str,
        team: &str,
        product: &str,
        table: &str,
        csv: &[u8],
    ) -> Value {
        let meta = json!({"domain": domain, "team": team, "name": product}).to_string();
        let file = format!("{table}.csv");
        let body = multipart(&[
            ("product", None, meta.as_bytes()),
            (table, Some(&file), csv),
        ]);
        self.send(
            "POST",
            "/api/v1/products",
            Some(who),
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            Body::from(body),
        )
        .await
        .ok(StatusCode::CREATED)
    }

    /// `POST /api/v1/products` as `who`: the `product` JSON part (`meta`, which may carry
    /// `tables` specs such as a `tenant_key`) and one uploaded CSV per `(table, content)`.
    pub async fn create_product(&self, who: &str, meta: &Value, files: &[(&str, &[u8])]) -> Resp {
        let meta = meta.to_string();
        let names: Vec<String> = files.iter().map(|(t, _)| format!("{t}.csv")).collect();
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("product", None, meta.as_bytes())];
        for ((table, csv), file) in files.iter().zip(&names) {
            parts.push((table, Some(file.as_str()), csv));
        }
        self.send(
            "POST",
            "/api/v1/products",
            Some(who),
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            Body::from(multipart(&parts)),
        )
        .await
    }

    /// `POST /api/v1/products` as `who` with these multipart parts, in this order.
    pub async fn create_product_parts(
        &self,
        who: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Resp {
        self.send(
            "POST",
            "/api/v1/products",
            Some(who),
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            Body::from(multipart(parts)),
        )
        .await
    }

    /// Creates (as admin) a team in a domain.
    pub async fn create_team(&self, domain: &str, team: &str) {
        self.post(
            "admin",
            &format!("/api/v1/domains/{domain}/teams"),
            &json!({"name": team}),
        )
        .await
        .ok(StatusCode::CREATED);
    }

    /// The principal named `name`, as the store has it.
    pub async fn principal(&self, name: &str) -> meshgate_core::model::Principal {
        self.state
            .store
            .get_principal_by_name(name)
            .await
            .expect("read the principal")
            .expect("the principal exists")
    }

    /// Waits up to `within` for the job queue to empty; whether it did. A job's side effect
    /// (a delivery recorded, a grant made) is written before the job itself is completed, so
    /// a test that has seen the effect waits here before it counts the queue.
    pub async fn jobs_drained(&self, within: std::time::Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        loop {
            if self.state.store.pending_jobs().await.expect("count jobs") == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates (as admin) a user, optionally a member of `domain.team`, with a token.
    pub async fn add_user(&mut self, name: &str, team: Option<(&str, &str)>) {
        self.post(
            "admin",
            "/api/v1/principals",
            &json!({"name": name, "kind": "user"}),
        )
        .await
        .ok(StatusCode::CREATED);
        if let Some((domain, team)) = team {
            self.put(
                "admin",
                &format!("/api/v1/domains/{domain}/teams/{team}/members/{name}"),
                &json!({"role": "member"}),
            )
            .await
            .ok(StatusCode::OK);
        }
        let created = self
            .post(
                "admin",
                "/api/v1/tokens",
                &json!({"principal": name, "name": "test"}),
            )
            .await
            .ok(StatusCode::CREATED);
        let token = created["token"].as_str().expect("token").to_string();
        self.tokens.insert(name.to_string(), token);
    }

    /// Creates (as admin) a group principal.
    pub async fn create_group(&self, name: &str) {
        self.post(
            "admin",
            "/api/v1/principals",
            &json!({"name": name, "kind": "group"}),
        )
        .await
        .ok(StatusCode::CREATED);
    }

    /// Adds (`true`) or removes (`false`) a group member, as admin.
    pub async fn group_member(&self, group: &str, member: &str, add: bool) {
        let path = format!("/api/v1/principals/{group}/members/{member}");
        let r = if add {
            self.put("admin", &path, &json!({})).await
        } else {
            self.delete("admin", &path).await
        };
        r.ok(StatusCode::OK);
    }

    /// `who` requests access to `product` for its only team; returns the share id.
    pub async fn request_access(&self, who: &str, product: &str) -> String {
        let v = self
            .post(
                who,
                "/api/v1/shares",
                &json!({"product": product, "reason": "testing access"}),
            )
            .await
            .ok(StatusCode::CREATED);
        assert_eq!(v["status"], "submitted", "{v}");
        v["id"].as_str().expect("share id").to_string()
    }

    /// `who` approves a share with a decision body; the answer.
    pub async fn approve(&self, who: &str, share: &str, body: &Value) -> Resp {
        self.post(who, &format!("/api/v1/shares/{share}/approve"), body)
            .await
    }

    /// The share as `who` sees it.
    pub async fn share(&self, who: &str, share: &str) -> Value {
        self.get(who, &format!("/api/v1/shares/{share}"))
            .await
            .ok(StatusCode::OK)
    }
}
