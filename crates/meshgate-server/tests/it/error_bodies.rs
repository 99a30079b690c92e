//! No error body says more than its message should: requests that fail across the Delta
//! Sharing endpoints, uploads and a sample of the REST API are answered with bodies that carry
//! no backtrace, no source location, no path or storage URL of the server, and stay short.
//! Bodies are made in one place each (`error.rs` for the REST API, `sharing/error.rs` for the
//! protocol), through `public_message`, so this holds for every error, not only these.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use meshgate_engine::arrow::array::{ArrayRef, DurationMicrosecondArray, Int64Array};
use meshgate_engine::arrow::record_batch::RecordBatch;
use serde_json::json;
use tower::ServiceExt;

use crate::common::{Mesh, parquet_bytes};

const DS: &str = "/delta-sharing";
const TABLE: &str = "/shares/sales/schemas/ledger/tables/ledger";

/// What an error body must not contain, or `None` when it is clean.
fn leak(body: &str, data_dir: &str) -> Option<String> {
    if body.len() > 4096 {
        return Some(format!("{} bytes", body.len()));
    }
    let lower = body.to_lowercase();
    for needle in ["backtrace", "/src/", ".rs:", "file://", "s3://", data_dir] {
        if lower.contains(&needle.to_lowercase()) {
            return Some(format!("`{needle}`"));
        }
    }
    // An absolute path of two or more segments (the API's own routes excepted).
    for token in body.split(|c: char| {
        c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '(' | ')' | '[' | ']' | ',' | ';')
    }) {
        let token = token.trim_end_matches(['.', ':']);
        if let Some(rest) = token.strip_prefix('/')
            && !token.starts_with("/api/")
            && rest.split('/').filter(|s| !s.is_empty()).count() >= 2
        {
            return Some(format!("the path `{token}`"));
        }
    }
    None
}

async fn send(
    m: &Mesh,
    method: &str,
    uri: &str,
    bearer: Option<String>,
    headers: &[(&str, &str)],
    body: Body,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = m
        .app
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A Parquet file with a column Delta has no type for (a duration).
fn duration_parquet() -> Vec<u8> {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1]))),
        ("took", Arc::new(DurationMicrosecondArray::from(vec![5]))),
    ];
    parquet_bytes(&RecordBatch::try_from_iter(columns).unwrap())
}

/// A file framed as Parquet whose footer points before the file's start.
fn broken_parquet() -> Vec<u8> {
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(&[0x15; 96]);
    f.extend_from_slice(&200u32.to_le_bytes());
    f.extend_from_slice(b"PAR1");
    f
}

#[tokio::test]
async fn error_bodies_carry_no_backtrace_path_or_bulk() {
    let m = Mesh::demo().await;
    m.add_ledger().await;
    let share = m.request_access("bob", "sales.ledger").await;
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let data_dir = m.dir.path().to_string_lossy().into_owned();
    let bob = || Some(m.token("bob"));
    let alice = || Some(m.token("alice"));
    let mut checked = 0;
    let mut check = |what: &str, status: StatusCode, body: &str| {
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{what} should fail: {status} {body}"
        );
        if let Some(leak) = leak(body, &data_dir) {
            panic!("{what}: the error body leaks {leak}: {body}");
        }
        checked += 1;
    };

    // Delta Sharing.
    let gets = [
        format!("{DS}/shares/nope"),
        format!("{DS}/shares/sales/schemas/nope/tables"),
        format!("{DS}{TABLE}/version?startingTimestamp=notatime"),
        format!("{DS}{TABLE}/version?startingTimestamp=2999-01-01T00:00:00Z"),
        format!("{DS}{TABLE}/metadata?version=99"),
        format!("{DS}{TABLE}/metadata?version=0&timestamp=2024-01-01T00:00:00Z"),
        format!("{DS}{TABLE}/changes"),
        format!("{DS}{TABLE}/changes?startingVersion=99"),
        format!("{DS}{TABLE}/changes?startingVersion=abc"),
        format!("{DS}{TABLE}/changes?startingTimestamp=2999-01-01T00:00:00Z"),
        format!("{DS}/shares?pageToken=garbage"),
        format!("{DS}/files/00000000-0000-0000-0000-000000000000/d/part-0.parquet"),
        format!("{DS}/nope"),
    ];
    for uri in &gets {
        let (status, body) = send(&m, "GET", uri, bob(), &[], Body::empty()).await;
        check(uri, status, &body);
    }
    for body in [
        "{not json",
        r#"{"version": 99}"#,
        r#"{"timestamp": "1999-01-01T00:00:00Z"}"#,
        r#"{"startingVersion": 99}"#,
        r#"{"pageToken": "garbage", "maxFiles": 1}"#,
    ] {
        let uri = format!("{DS}{TABLE}/query");
        let (status, text) = send(&m, "POST", &uri, bob(), &[], Body::from(body)).await;
        check(body, status, &text);
    }
    let uri = format!("{DS}{TABLE}/query");
    let (status, body) = send(
        &m,
        "POST",
        &uri,
        bob(),
        &[("fileidhash", "sha1")],
        Body::from("{}"),
    )
    .await;
    check("a bad fileidhash", status, &body);
    let (status, body) = send(&m, "GET", &format!("{DS}/shares"), None, &[], Body::empty()).await;
    check("no token", status, &body);
    let (status, body) = send(
        &m,
        "POST",
        &format!("{DS}/oauth/token"),
        None,
        &[("content-type", "application/x-www-form-urlencoded")],
        Body::from("grant_type=password"),
    )
    .await;
    check("a bad OAuth request", status, &body);

    // Uploads: a broken Parquet file, one with a type Delta cannot store, a bad CSV.
    let boundary = "meshgate-error-bodies";
    let upload = |name: &str, file: &str, bytes: &[u8]| {
        let meta = json!({"domain": "sales", "team": "core", "name": name}).to_string();
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"product\"\r\n\r\n{meta}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"t\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let content_type = format!("multipart/form-data; boundary={boundary}");
    for (name, file, bytes) in [
        ("broken", "t.parquet", broken_parquet()),
        ("durations", "t.parquet", duration_parquet()),
        ("ragged", "t.csv", b"a,b\n1,2\n3\n4,5,6\n".to_vec()),
        ("nocolumns", "t.csv", Vec::new()),
    ] {
        let (status, body) = send(
            &m,
            "POST",
            "/api/v1/products",
            alice(),
            &[("content-type", content_type.as_str())],
            Body::from(upload(name, file, &bytes)),
        )
        .await;
        check(&format!("uploading {name}"), status, &body);
    }

    // The REST API.
    let json_ct = [("content-type", "application/json")];
    for (method, uri, body) in [
        ("GET", "/api/v1/products/sales/nope", ""),
        ("GET", "/api/v1/nope", ""),
        ("POST", "/api/v1/query", r#"{"sql": "SELEC 1"}"#),
        (
            "POST",
            "/api/v1/query",
            r#"{"sql": "SELECT nope FROM sales.ledger.ledger"}"#,
        ),
        (
            "POST",
            "/api/v1/query",
            r#"{"sql": "SELECT CAST('x' AS INT)"}"#,
        ),
        (
            "POST",
            "/api/v1/query",
            r#"{"sql": "SELECT * FROM nowhere.at.all"}"#,
        ),
        ("POST", "/api/v1/query", "{"),
        (
            "POST",
            "/api/v1/products/sales/ledger/tables/ledger/rows",
            r#"[{"id": "not a number", "name": 1}]"#,
        ),
        (
            "POST",
            "/api/v1/products",
            r#"{"domain": "sales", "team": "core", "name": "elsewhere",
                "tables": [{"name": "t", "location": "file:///nonexistent/meshgate/t"}]}"#,
        ),
    ] {
        let (status, text) = send(&m, method, uri, alice(), &json_ct, Body::from(body)).await;
        check(&format!("{method} {uri} {body}"), status, &text);
    }
    assert!(checked >= 30, "{checked} error bodies checked");
}
