//! Issue 13, findings 5 and 6, at the HTTP edge: queries past the limits answer 400 (and the
//! server answers the next request), malformed upload files answer 400 on create and on
//! append, and a handler that panics costs its own request a 500 with the request id while
//! the server lives on (docs/design/QUERY_LIMITS.md).
//!
//! Before the limits, each of these queries overflowed the stack of the thread planning it,
//! which aborts the whole process — this test binary included.

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use crate::common::{Mesh, Resp};

const BOUNDARY: &str = "meshgate-limits-boundary-8d1a";

fn chain(first: &str, op: &str, term: &str, terms: usize) -> String {
    let mut sql = format!("SELECT {first}");
    for _ in 1..terms {
        sql.push_str(op);
        sql.push_str(term);
    }
    sql
}

fn assert_too_complex(r: &Resp, what: &str) {
    let message = r.error(StatusCode::BAD_REQUEST, "query_too_complex");
    assert!(message.contains("`query.max_"), "{what}: {message}");
    for data in ["'a'", "id = 1", "SELECT", "7, 7"] {
        assert!(!message.contains(data), "{what}: echoes the SQL: {message}");
    }
}

#[tokio::test]
async fn oversized_queries_answer_400_and_the_server_answers_afterwards() {
    let m = Mesh::demo().await;
    m.upload_csv(
        "alice",
        "sales",
        "core",
        "small",
        "t",
        b"id,name\n1,x\n2,y\n",
    )
    .await;
    let attacks = [
        ("2,000-term +", chain("1", "+", "1", 2_000)),
        (
            "3,000-term OR",
            chain("id = 1", " OR ", "id = 1", 3_000) + " FROM sales.small.t",
        ),
        (
            "50,000-item IN",
            format!("SELECT 7 IN ({})", vec!["7"; 50_000].join(", ")),
        ),
        ("10,000-term ||", chain("'a'", "||", "'a'", 10_000)),
    ];
    for (what, sql) in &attacks {
        // A tenant-level principal (bob may read nothing of sales) can send them too.
        for who in ["alice", "bob"] {
            let r = m.query(who, sql).await;
            assert_too_complex(&r, what);
        }
        assert_eq!(
            m.rows("alice", "SELECT count(*) AS n FROM sales.small.t")
                .await[0]["n"],
            2
        );
    }
    // Over the byte limit: refused before it reaches the audit log.
    let m = Mesh::demo_with(|c| c.query.max_sql_bytes = 1000).await;
    let r = m
        .query("alice", &format!("SELECT '{}'", "x".repeat(2000)))
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "query_too_complex");
    assert!(message.contains("`query.max_sql_bytes`"), "{message}");
    assert!(!message.contains("xxx"), "{message}");
    assert_eq!(m.rows("alice", "SELECT 1 AS one").await[0]["one"], 1);
}

#[tokio::test]
async fn the_depth_limit_is_a_setting() {
    let m = Mesh::demo_with(|c| c.query.max_expr_depth = 10).await;
    assert_too_complex(
        &m.query("alice", &chain("1", "+", "1", 20)).await,
        "depth 10",
    );
    assert_eq!(m.rows("alice", "SELECT 1 + 1 AS two").await[0]["two"], 2);
}

#[test]
fn limits_must_be_sane() {
    let mut config = meshgate_server::Config::default();
    config.query.check().unwrap();
    config.query.max_expr_depth = 0;
    assert!(config.query.check().is_err());
    config.query.max_expr_depth = 100_000;
    assert!(config.query.check().is_err());
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The attacker's file: 108 bytes framed as Parquet whose footer length points before the
/// file's start.
fn parquet_footer_before_start() -> Vec<u8> {
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(&[0x15; 96]);
    f.extend_from_slice(&200u32.to_le_bytes());
    f.extend_from_slice(b"PAR1");
    assert_eq!(f.len(), 108);
    f
}

#[tokio::test]
async fn malformed_files_answer_400_on_create_and_append() {
    let m = Mesh::demo().await;
    m.upload_csv(
        "alice",
        "sales",
        "core",
        "small",
        "t",
        b"id,name\n1,x\n2,y\n",
    )
    .await;
    let files: [(&str, &str, Vec<u8>, &str); 3] = [
        (
            "parquet",
            "t.parquet",
            parquet_footer_before_start(),
            "Parquet file is malformed",
        ),
        ("csv", "t.csv", b"id,name\n1,x\n2\n3,z,extra\n".to_vec(), ""),
        (
            "jsonl",
            "t.jsonl",
            b"{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2, \"name\n".to_vec(),
            "",
        ),
    ];
    for (i, (format, file, bytes, mention)) in files.iter().enumerate() {
        let meta =
            json!({"domain": "sales", "team": "core", "name": format!("bad{i}")}).to_string();
        let body = multipart(&[
            ("product", None, meta.as_bytes()),
            ("t", Some(*file), bytes.as_slice()),
        ]);
        let r = m
            .send(
                "POST",
                "/api/v1/products",
                Some("alice"),
                Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
                Body::from(body),
            )
            .await;
        let message = r.error(StatusCode::BAD_REQUEST, "invalid_data");
        assert!(message.contains(mention), "create {format}: {message}");

        let r = m
            .send(
                "POST",
                &format!("/api/v1/products/sales/small/tables/t/data?format={format}"),
                Some("alice"),
                Some("application/octet-stream"),
                Body::from(bytes.clone()),
            )
            .await;
        let message = r.error(StatusCode::BAD_REQUEST, "invalid_data");
        assert!(message.contains(mention), "append {format}: {message}");
    }
    assert_eq!(
        m.rows("alice", "SELECT count(*) AS n FROM sales.small.t")
            .await[0]["n"],
        2
    );
}

/// A real server (not `oneshot`: a panic there would only fail the test) with the same
/// hardening layers as `router()`, one route that panics and one that answers.
#[tokio::test]
async fn a_panicking_handler_costs_its_request_not_the_server() {
    let app: Router = meshgate_server::harden(
        Router::new()
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("a handler bug");
                    }
                    "unreachable"
                }),
            )
            .route("/ok", get(|| async { "ok" })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(format!("http://{addr}/boom"))
            .header("x-request-id", "panic-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["x-request-id"], "panic-test-1");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert_eq!(body["error"]["request_id"], "panic-test-1", "{body}");
        assert!(!body.to_string().contains("a handler bug"), "{body}");

        let r = client
            .get(format!("http://{addr}/ok"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "ok");
    }
}
