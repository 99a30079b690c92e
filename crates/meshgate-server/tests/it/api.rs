//! HTTP tests of the REST API (docs/API.md) through `router(state)` with `oneshot`: the error
//! shape and status codes (401/403/404/409/413/400), the share lifecycle end to end with its
//! audit trail, SQL output formats and refusals, uploads and appends, and the health endpoints.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::Utc;
use http_body_util::BodyExt;
use meshgate_cli::demo::DemoTokens;
use meshgate_core::model::{ApiToken, NewAuditEvent, new_id};
use meshgate_server::{AppState, Config};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const BOUNDARY: &str = "meshgate-test-boundary-5f1c2e";
const COUNT_ORDERS: &str = "SELECT count(*) AS n FROM sales.orders.orders";

/// One test's mesh: its own data dir, state, router and a running share worker.
struct Mesh {
    state: AppState,
    app: Router,
    tokens: DemoTokens,
    dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An answer, read in full.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the status, then returns the JSON body.
    fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self.json()
    }

    /// Asserts the status and the error shape `{"error":{"code","message","request_id"}}`
    /// (with the request id the response header carries), and returns the message.
    fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        let v = self.json();
        let obj = v.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "only `error` at the top: {v}");
        let err = v["error"].as_object().expect("`error` is an object");
        let mut keys: Vec<&str> = err.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "message", "request_id"], "{v}");
        assert_eq!(err["code"], code, "{v}");
        let message = err["message"]
            .as_str()
            .expect("message is a string")
            .to_string();
        assert!(!message.is_empty(), "{v}");
        let request_id = err["request_id"].as_str().expect("request_id is a string");
        assert!(!request_id.is_empty(), "{v}");
        let header_id = self
            .headers
            .get("x-request-id")
            .and_then(|h| h.to_str().ok());
        assert_eq!(
            header_id,
            Some(request_id),
            "the body carries the response's request id"
        );
        message
    }
}

fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

async fn open(config: Config, dir: tempfile::TempDir, seed: bool) -> Mesh {
    let state = AppState::open(config).await.expect("open state");
    let tokens = if seed {
        meshgate_cli::demo::seed_demo(&state)
            .await
            .expect("seed the demo mesh")
    } else {
        DemoTokens::new()
    };
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

/// A fresh demo mesh (admin, alice, carol, bob; sales.orders and sales.customers).
async fn mesh() -> Mesh {
    mesh_with(|_| {}).await
}

async fn mesh_with(change: impl FnOnce(&mut Config)) -> Mesh {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    change(&mut c);
    open(c, dir, true).await
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
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl Mesh {
    fn token(&self, who: &str) -> String {
        self.tokens
            .get(who)
            .cloned()
            .unwrap_or_else(|| panic!("no demo token for `{who}`"))
    }

    /// Sends a request with an optional raw bearer token.
    async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        content_type: Option<&str>,
        body: Body,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
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

    async fn get(&self, who: &str, path: &str) -> Resp {
        self.send("GET", path, Some(&self.token(who)), None, Body::empty())
            .await
    }

    async fn delete(&self, who: &str, path: &str) -> Resp {
        self.send("DELETE", path, Some(&self.token(who)), None, Body::empty())
            .await
    }

    async fn post(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.post_raw(who, path, "application/json", body.to_string())
            .await
    }

    async fn post_raw(
        &self,
        who: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Resp {
        self.send(
            "POST",
            path,
            Some(&self.token(who)),
            Some(content_type),
            body.into(),
        )
        .await
    }

    async fn put(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.send(
            "PUT",
            path,
            Some(&self.token(who)),
            Some("application/json"),
            Body::from(body.to_string()),
        )
        .await
    }

    async fn upload(&self, who: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Resp {
        self.post_raw(
            who,
            "/api/v1/products",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            multipart(parts),
        )
        .await
    }

    async fn query(&self, who: &str, sql: &str) -> Resp {
        self.post(who, "/api/v1/query", &json!({ "sql": sql }))
            .await
    }

    /// The rows of a JSON query that must succeed.
    async fn rows(&self, who: &str, sql: &str) -> Vec<Value> {
        let r = self.query(who, sql).await;
        let v = r.ok(StatusCode::OK);
        v.as_array()
            .unwrap_or_else(|| panic!("rows are an array: {v}"))
            .clone()
    }

    async fn count(&self, who: &str, table: &str) -> i64 {
        let rows = self
            .rows(who, &format!("SELECT count(*) AS n FROM {table}"))
            .await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows[0]["n"].as_i64().expect("n is a number")
    }

    async fn request_access(&self, who: &str, product: &str, reason: &str) -> String {
        let r = self
            .post(
                who,
                "/api/v1/shares",
                &json!({ "product": product, "reason": reason }),
            )
            .await;
        let v = r.ok(StatusCode::CREATED);
        assert_eq!(v["status"], "submitted", "{v}");
        v["id"].as_str().expect("share id").to_string()
    }

    async fn audit(&self, query: &str) -> Vec<Value> {
        let v = self
            .get("admin", &format!("/api/v1/audit?{query}"))
            .await
            .ok(StatusCode::OK);
        v.as_array().expect("audit is an array").clone()
    }

    /// Creates (as admin) `marketing.growth` with member `dave`, and returns dave's token.
    async fn other_team_member(&mut self) -> String {
        self.post(
            "admin",
            "/api/v1/principals",
            &json!({"name": "dave", "kind": "user"}),
        )
        .await
        .ok(StatusCode::CREATED);
        self.post(
            "admin",
            "/api/v1/domains/marketing/teams",
            &json!({"name": "growth"}),
        )
        .await
        .ok(StatusCode::CREATED);
        self.put(
            "admin",
            "/api/v1/domains/marketing/teams/growth/members/dave",
            &json!({"role": "member"}),
        )
        .await
        .ok(StatusCode::OK);
        let created = self
            .post(
                "admin",
                "/api/v1/tokens",
                &json!({"principal": "dave", "name": "test"}),
            )
            .await
            .ok(StatusCode::CREATED);
        let token = created["token"].as_str().expect("token").to_string();
        self.tokens.insert("dave".into(), token.clone());
        token
    }
}

fn assert_mentions(message: &str, needle: &str) {
    assert!(
        message.contains(needle),
        "expected `{needle}` in: {message}"
    );
}

// ----- operations -----

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(config(dir.path()), dir, false).await;

    let r = m.send("GET", "/healthz", None, None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok");
    let r = m.send("GET", "/readyz", None, None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_mentions(&r.text(), "sqlite");

    let r = m
        .send("GET", "/no/such/path", None, None, Body::empty())
        .await;
    assert_mentions(
        &r.error(StatusCode::NOT_FOUND, "not_found"),
        "no such endpoint",
    );
    let r = m
        .send("GET", "/api/v1/nope", None, None, Body::empty())
        .await;
    r.error(StatusCode::NOT_FOUND, "not_found");

    // A sane caller-chosen request id is echoed in the error body and the header.
    let req = Request::builder()
        .uri("/api/v1/whoami")
        .header("x-request-id", "trace-42")
        .body(Body::empty())
        .unwrap();
    let response = m.app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    let v: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["error"]["request_id"], "trace-42");
}

// ----- 401 -----

#[tokio::test]
async fn missing_garbage_revoked_and_expired_tokens_are_401() {
    let m = mesh().await;

    let r = m
        .send("GET", "/api/v1/whoami", None, None, Body::empty())
        .await;
    assert_mentions(
        &r.error(StatusCode::UNAUTHORIZED, "unauthenticated"),
        "missing bearer token",
    );

    let r = m
        .send(
            "GET",
            "/api/v1/whoami",
            Some("mgt_garbage"),
            None,
            Body::empty(),
        )
        .await;
    let garbage = r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_mentions(&garbage, "invalid, expired or revoked token");

    let basic = Request::builder()
        .uri("/api/v1/whoami")
        .header(header::AUTHORIZATION, "Basic YWxpY2U6cHc=")
        .body(Body::empty())
        .unwrap();
    let response = m.app.clone().oneshot(basic).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A demo token works.
    let me = m.get("alice", "/api/v1/whoami").await.ok(StatusCode::OK);
    assert_eq!(me["principal"]["name"], "alice");

    // Alice creates a token, uses it, revokes it: it stops working.
    let created = m
        .post(
            "alice",
            "/api/v1/tokens",
            &json!({"name": "ci", "expires_in_days": 1}),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["principal"], "alice");
    assert!(created["expires_at"].is_string(), "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let r = m
        .send("GET", "/api/v1/whoami", Some(&secret), None, Body::empty())
        .await;
    assert_eq!(r.ok(StatusCode::OK)["principal"]["name"], "alice");

    // Bob may not revoke it, and is not told it exists.
    let r = m.delete("bob", &format!("/api/v1/tokens/{id}")).await;
    r.error(StatusCode::NOT_FOUND, "not_found");
    let r = m
        .send("GET", "/api/v1/whoami", Some(&secret), None, Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let revoked = m
        .delete("alice", &format!("/api/v1/tokens/{id}"))
        .await
        .ok(StatusCode::OK);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(
        revoked.get("token_hash").is_none(),
        "no hash in the answer: {revoked}"
    );
    let r = m
        .send("GET", "/api/v1/whoami", Some(&secret), None, Body::empty())
        .await;
    let message = r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        message, garbage,
        "a revoked token is indistinguishable from garbage"
    );

    // `issue_token` gives a usable token…
    let alice = m
        .state
        .store
        .get_principal_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let issued = meshgate_server::identity::issue_token(&m.state, None, &alice, "test", 1)
        .await
        .unwrap();
    let r = m
        .send(
            "GET",
            "/api/v1/whoami",
            Some(&issued.token),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK)["principal"]["name"], "alice");

    // …and one whose expiry has passed is refused like any other.
    let secret = meshgate_core::token::generate();
    let now = Utc::now();
    let record = ApiToken {
        id: new_id(),
        principal_id: alice.id,
        name: "expired".into(),
        token_hash: meshgate_core::token::hash(&secret),
        created_at: now - chrono::Duration::days(10),
        expires_at: Some(now - chrono::Duration::seconds(1)),
        revoked_at: None,
        scope: meshgate_core::model::TokenScope::Api,
    };
    let event = NewAuditEvent::new(None, "token.create", "token", Some(record.id.to_string()));
    m.state.store.create_token(&record, event).await.unwrap();
    let r = m
        .send("GET", "/api/v1/whoami", Some(&secret), None, Body::empty())
        .await;
    assert_eq!(
        r.error(StatusCode::UNAUTHORIZED, "unauthenticated"),
        garbage
    );
}

// ----- 403 -----

#[tokio::test]
async fn visible_but_not_allowed_is_403() {
    let m = mesh().await;
    let share = m
        .request_access("bob", "sales.orders", "campaign attribution")
        .await;

    // Bob sees his own request but may not approve it.
    let v = m
        .get("bob", &format!("/api/v1/shares/{share}"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "submitted");
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/approve"),
            &json!({}),
        )
        .await;
    let message = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, "`bob`");
    assert_mentions(&message, "approve");
    let v = m
        .get("bob", &format!("/api/v1/shares/{share}"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        v["status"], "submitted",
        "a refused approval changes nothing"
    );

    // Carol, a steward, may not delete the product (owners only).
    let r = m.delete("carol", "/api/v1/products/sales/orders").await;
    assert_mentions(
        &r.error(StatusCode::FORBIDDEN, "forbidden"),
        "delete `sales.orders`",
    );
    m.get("alice", "/api/v1/products/sales/orders")
        .await
        .ok(StatusCode::OK);

    // Only admins create domains or read the audit log.
    let r = m
        .post("alice", "/api/v1/domains", &json!({"name": "finance"}))
        .await;
    assert_mentions(
        &r.error(StatusCode::FORBIDDEN, "forbidden"),
        "create domains",
    );
    let r = m.get("bob", "/api/v1/audit").await;
    assert_mentions(
        &r.error(StatusCode::FORBIDDEN, "forbidden"),
        "read the audit log",
    );
    let r = m.get("alice", "/api/v1/domains/finance").await;
    r.error(StatusCode::NOT_FOUND, "not_found");
}

// ----- 404 -----

#[tokio::test]
async fn invisible_unknown_and_malformed_are_404() {
    let mut m = mesh().await;
    m.other_team_member().await;
    let theirs = m
        .request_access("dave", "sales.orders", "growth experiments")
        .await;
    let mine = m
        .request_access("bob", "sales.orders", "campaign attribution")
        .await;

    // Another team's share does not exist for bob, whatever he tries.
    for (method, path) in [
        ("GET", format!("/api/v1/shares/{theirs}")),
        ("POST", format!("/api/v1/shares/{theirs}/approve")),
        ("POST", format!("/api/v1/shares/{theirs}/revoke")),
        ("POST", format!("/api/v1/shares/{theirs}/submit")),
    ] {
        let r = m
            .send(
                method,
                &path,
                Some(&m.token("bob")),
                Some("application/json"),
                Body::from("{}"),
            )
            .await;
        let message = r.error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            message,
            format!("share `{theirs}` not found"),
            "{method} {path}"
        );
    }
    let listed = m.get("bob", "/api/v1/shares").await.ok(StatusCode::OK);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [mine.as_str()], "bob lists only his team's share");
    // The approver sees both.
    m.get("alice", &format!("/api/v1/shares/{theirs}"))
        .await
        .ok(StatusCode::OK);
    let pending = m
        .get(
            "alice",
            "/api/v1/shares?status=submitted&pending_for_me=true",
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");

    // Unknown product, domain, share id; malformed share id.
    let r = m.get("bob", "/api/v1/products/sales/nope").await;
    assert_eq!(
        r.error(StatusCode::NOT_FOUND, "not_found"),
        "data product `sales.nope` not found"
    );
    let r = m.get("bob", "/api/v1/products/nowhere/orders").await;
    assert_mentions(
        &r.error(StatusCode::NOT_FOUND, "not_found"),
        "domain `nowhere`",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.nope", "reason": "x"}),
        )
        .await;
    assert_mentions(&r.error(StatusCode::NOT_FOUND, "not_found"), "sales.nope");
    let unknown = uuid::Uuid::now_v7();
    let r = m.get("alice", &format!("/api/v1/shares/{unknown}")).await;
    r.error(StatusCode::NOT_FOUND, "not_found");
    let r = m.get("alice", "/api/v1/shares/not-a-uuid").await;
    assert_eq!(
        r.error(StatusCode::NOT_FOUND, "not_found"),
        "share `not-a-uuid` not found"
    );
    let r = m
        .post("alice", "/api/v1/shares/not-a-uuid/approve", &json!({}))
        .await;
    r.error(StatusCode::NOT_FOUND, "not_found");
}

// ----- the share lifecycle -----

#[tokio::test]
async fn request_approve_query_revoke_and_audit() {
    let m = mesh().await;

    let created = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "campaign attribution for Q3"}),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["status"], "submitted");
    assert_eq!(created["product"], "sales.orders");
    assert_eq!(created["requester_team"], "marketing.analytics");
    assert_eq!(created["created_by"], "bob");
    assert_eq!(created["reason"], "campaign attribution for Q3");
    assert_eq!(created["summary"]["pending"], 1);
    assert_eq!(created["items"][0]["table"], "orders");
    let id = created["id"].as_str().unwrap().to_string();

    // Not approved yet: the table does not exist for bob.
    let r = m.query("bob", COUNT_ORDERS).await;
    let denied = r.error(StatusCode::BAD_REQUEST, "invalid_sql");
    assert_mentions(&denied, "sales.orders.orders");
    assert_mentions(&denied, "not found");

    // Alice sees it waiting for her, and approves it.
    let pending = m
        .get(
            "alice",
            "/api/v1/shares?status=submitted&pending_for_me=true",
        )
        .await
        .ok(StatusCode::OK);
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str()),
        "{pending}"
    );
    let approved = m
        .post("alice", &format!("/api/v1/shares/{id}/approve"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(approved["status"], "processed", "{approved}");
    assert_eq!(approved["summary"]["shared"], 1, "{approved}");
    assert_eq!(approved["summary"]["pending"], 0, "{approved}");
    assert_eq!(approved["decided_by"], "alice");
    assert_eq!(approved["items"][0]["status"], "share_succeeded");
    let version = approved["version"].clone();

    let rows = m.rows("bob", COUNT_ORDERS).await;
    assert_eq!(rows, vec![json!({"n": 100_000})]);

    // Approving again is a no-op; rejecting now is a conflict naming the state.
    let again = m
        .post("alice", &format!("/api/v1/shares/{id}/approve"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(again["status"], "processed");
    assert_eq!(
        again["version"], version,
        "a repeated approval changes nothing"
    );
    let r = m
        .post(
            "alice",
            &format!("/api/v1/shares/{id}/reject"),
            &json!({"notes": "changed my mind"}),
        )
        .await;
    let message = r.error(StatusCode::CONFLICT, "invalid_transition");
    assert_mentions(&message, "`processed`");
    assert_mentions(&message, "reject");

    // Alice revokes; bob is denied again.
    let revoked = m
        .post("alice", &format!("/api/v1/shares/{id}/revoke"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(revoked["summary"]["revoked"], 1, "{revoked}");
    assert_eq!(revoked["summary"]["shared"], 0, "{revoked}");
    assert_eq!(revoked["items"][0]["status"], "revoke_succeeded");
    let r = m.query("bob", COUNT_ORDERS).await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_sql"),
        "not found",
    );

    // The audit log has the decisions, with their actors…
    let events = m.audit("action=share.").await;
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["object_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no `{action}` for {id} in {events:#?}"))
            .clone()
    };
    assert_eq!(find("share.request")["actor"], "bob");
    let approve = find("share.approve");
    assert_eq!(approve["actor"], "alice");
    assert_eq!(approve["detail"]["from"], "submitted");
    assert!(approve["request_id"].is_string(), "{approve}");
    assert_eq!(find("share.revoke")["actor"], "alice");
    assert!(
        events
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("share."))
    );

    // …and the queries: the successful one with its row count (the audit is written when
    // the result stream ends, so wait for it within a bound), the refused ones as denied.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let queries = loop {
        let queries = m.audit("action=query.run&actor=bob").await;
        if queries.iter().any(|e| e["outcome"] == "success")
            || tokio::time::Instant::now() > deadline
        {
            break queries;
        }
        tokio::task::yield_now().await;
    };
    let ok: Vec<&Value> = queries
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(ok.len(), 1, "{queries:#?}");
    assert_eq!(ok[0]["detail"]["rows"], 1);
    assert_eq!(ok[0]["detail"]["sql"], COUNT_ORDERS);
    assert_eq!(ok[0]["detail"]["tables"], json!(["sales.orders.orders"]));
    assert_eq!(
        queries.iter().filter(|e| e["outcome"] == "denied").count(),
        2,
        "{queries:#?}"
    );
}

#[tokio::test]
async fn rejected_requests_can_be_resubmitted() {
    let m = mesh().await;
    let id = m
        .request_access("bob", "sales.orders", "campaign attribution")
        .await;

    let rejected = m
        .post(
            "carol",
            &format!("/api/v1/shares/{id}/reject"),
            &json!({"notes": "ask for customers instead"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decision_notes"], "ask for customers instead");
    assert_eq!(rejected["decided_by"], "carol");
    assert_eq!(rejected["summary"]["rejected"], 1);
    assert_eq!(rejected["items"][0]["status"], "share_rejected");

    // Rejected is not shared.
    let r = m.query("bob", COUNT_ORDERS).await;
    r.error(StatusCode::BAD_REQUEST, "invalid_sql");
    // Approving a rejected request is a conflict.
    let r = m
        .post("alice", &format!("/api/v1/shares/{id}/approve"), &json!({}))
        .await;
    assert_mentions(
        &r.error(StatusCode::CONFLICT, "invalid_transition"),
        "`rejected`",
    );

    let resubmitted = m
        .post("bob", &format!("/api/v1/shares/{id}/submit"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(resubmitted["status"], "submitted");
    assert_eq!(resubmitted["summary"]["pending"], 1);
    assert_eq!(resubmitted["items"][0]["status"], "pending_approval");

    // And this time it goes through. Without `wait`, a repeated approval is a no-op whatever
    // the worker has done with the first one meanwhile.
    for _ in 0..2 {
        let approved = m
            .post(
                "alice",
                &format!("/api/v1/shares/{id}/approve"),
                &json!({"wait": false}),
            )
            .await
            .ok(StatusCode::OK);
        let status = approved["status"].as_str().unwrap();
        assert!(
            ["approved", "share_in_progress", "processed"].contains(&status),
            "{approved}"
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let share = m
            .get("bob", &format!("/api/v1/shares/{id}"))
            .await
            .ok(StatusCode::OK);
        if share["status"] == "processed" {
            assert_eq!(share["summary"]["shared"], 1, "{share}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not processed in time: {share}"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(m.count("bob", "sales.orders.orders").await, 100_000);
    let again = m
        .post("alice", &format!("/api/v1/shares/{id}/approve"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(again["status"], "processed");
}

// ----- SQL -----

#[tokio::test]
async fn query_formats_refusals_and_visibility() {
    let m = mesh().await;
    let by_region =
        "SELECT region, count(*) AS n FROM sales.orders.orders GROUP BY region ORDER BY region";

    // JSON (the default): an array of row objects.
    let rows = m.rows("alice", by_region).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(
        rows.iter().map(|r| r["n"].as_i64().unwrap()).sum::<i64>(),
        100_000
    );
    assert_eq!(rows[0]["region"], "apac");

    // CSV, by `format` and by `Accept`.
    let r = m
        .post(
            "alice",
            "/api/v1/query",
            &json!({"sql": by_region, "format": "csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.content_type().starts_with("text/csv"),
        "{}",
        r.content_type()
    );
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "region,n");
    assert_eq!(lines.len(), 5, "{text}");
    let total: i64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 100_000);
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/query")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", m.token("alice")),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/csv")
        .body(Body::from(json!({ "sql": COUNT_ORDERS }).to_string()))
        .unwrap();
    let response = m.app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body).lines().collect::<Vec<_>>(),
        ["n", "100000"]
    );

    // Arrow IPC stream.
    let r = m
        .post(
            "alice",
            "/api/v1/query",
            &json!({"sql": by_region, "format": "arrow"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.content_type(), "application/vnd.apache.arrow.stream");
    assert!(r.body.len() > 8, "arrow body is {} bytes", r.body.len());
    assert_eq!(
        &r.body[..4],
        &[0xff, 0xff, 0xff, 0xff],
        "IPC continuation marker"
    );

    let r = m
        .post(
            "alice",
            "/api/v1/query",
            &json!({"sql": COUNT_ORDERS, "format": "xml"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "unknown format `xml`",
    );
    let r = m
        .post("alice", "/api/v1/query", &json!({"sql": "   "}))
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "empty",
    );
    let r = m.query("alice", "SELEC 1").await;
    r.error(StatusCode::BAD_REQUEST, "invalid_sql");

    // A query can only read.
    let target = m.dir.path().join("copied.csv");
    let passwd_like = m.dir.path().join("secret.csv");
    std::fs::write(&passwd_like, "a,b\n1,2\n").unwrap();
    for sql in [
        "CREATE TABLE x AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        format!(
            "COPY (SELECT * FROM sales.orders.orders) TO '{}'",
            target.display()
        ),
        format!(
            "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            passwd_like.display()
        ),
        "INSERT INTO sales.orders.orders SELECT * FROM sales.orders.orders".to_string(),
        "DELETE FROM sales.orders.orders".to_string(),
        "DROP TABLE sales.orders.orders".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let r = m.query("alice", &sql).await;
        r.error(StatusCode::BAD_REQUEST, "invalid_sql");
    }
    assert!(!target.exists(), "COPY wrote a file");
    assert_eq!(
        m.count("alice", "sales.orders.orders").await,
        100_000,
        "the table is unchanged"
    );

    // information_schema lists only what the caller may read.
    let catalog = "SELECT table_catalog, table_schema, table_name FROM information_schema.tables \
                   WHERE table_catalog = 'sales' AND table_schema <> 'information_schema' ORDER BY table_name";
    let mine = m.rows("alice", catalog).await;
    let names: Vec<&str> = mine
        .iter()
        .filter_map(|r| r["table_name"].as_str())
        .collect();
    assert_eq!(names, ["customers", "orders"]);
    assert_eq!(mine[0]["table_schema"], "customers");
    assert_eq!(
        m.rows("bob", catalog).await,
        Vec::<Value>::new(),
        "bob sees no sales table"
    );
    let any_sales =
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_catalog = 'sales'";
    assert_eq!(
        m.rows("bob", any_sales).await,
        vec![json!({"n": 0})],
        "not even a sales catalog"
    );
    let all = m
        .rows(
            "bob",
            "SELECT DISTINCT table_catalog FROM information_schema.tables ORDER BY 1",
        )
        .await;
    assert!(all.iter().all(|r| r["table_catalog"] != "sales"), "{all:?}");
}

// ----- bad input -----

#[tokio::test]
async fn bad_bodies_and_names_are_400_with_a_fix() {
    let m = mesh().await;

    let r = m
        .post_raw(
            "bob",
            "/api/v1/shares",
            "application/json",
            "{\"product\": ",
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "invalid request body",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "x", "colour": "red"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "unknown field `colour`",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": 7, "reason": "x"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "invalid type",
    );
    let r = m
        .post("bob", "/api/v1/shares", &json!({"product": "sales.orders"}))
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "reason",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": " \n "}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "a reason is required",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "x".repeat(4097)}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "4097");
    assert_mentions(&message, "4096");
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "orders", "reason": "x"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "<domain>.<product>",
    );
    let r = m
        .post(
            "alice",
            "/api/v1/shares/00000000-0000-0000-0000-000000000000/approve",
            &json!({"note": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = m
        .post(
            "admin",
            "/api/v1/domains",
            &json!({"name": "finance", "producer": "yes"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "invalid type",
    );
    // None of that created a share.
    let listed = m.get("bob", "/api/v1/shares").await.ok(StatusCode::OK);
    assert_eq!(listed, json!([]));
    // A reason of exactly the limit is fine.
    m.request_access("bob", "sales.orders", &"x".repeat(4096))
        .await;

    // Names that cannot be SQL identifiers are refused with a usable suggestion.
    let r = m
        .post(
            "admin",
            "/api/v1/domains",
            &json!({"name": "human resources"}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_name");
    assert_mentions(&message, "domain name");
    assert_mentions(&message, "`human_resources`");
    let r = m
        .post("admin", "/api/v1/domains", &json!({"name": "hr;drop"}))
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_name"),
        "`hr_drop`",
    );
    let r = m
        .post(
            "admin",
            "/api/v1/domains/marketing/teams",
            &json!({"name": "growth team"}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_name");
    assert_mentions(&message, "team name");
    assert_mentions(&message, "`growth_team`");
    let r = m
        .post(
            "admin",
            "/api/v1/domains/marketing/teams",
            &json!({"name": "growth;team"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_name"),
        "`growth_team`",
    );
    for (name, fixed) in [
        ("my returns", "`my_returns`"),
        ("returns;drop", "`returns_drop`"),
    ] {
        let product = json!({"domain": "sales", "team": "core", "name": name}).to_string();
        let r = m
            .upload(
                "alice",
                &[
                    ("product", None, product.as_bytes()),
                    ("t", Some("t.csv"), b"a\n1\n"),
                ],
            )
            .await;
        let message = r.error(StatusCode::BAD_REQUEST, "invalid_name");
        assert_mentions(&message, "data product name");
        assert_mentions(&message, fixed);
    }
    let domains = m.get("admin", "/api/v1/domains").await.ok(StatusCode::OK);
    // The demo mesh's sales, marketing and apps; none of the refused creates added one.
    assert_eq!(
        domains.as_array().unwrap().len(),
        3,
        "no domain was created: {domains}"
    );
    let products = m.get("alice", "/api/v1/products").await.ok(StatusCode::OK);
    assert_eq!(
        products.as_array().unwrap().len(),
        3,
        "no product was created (the demo's orders, customers, items): {products}"
    );

    // Duplicates.
    let r = m
        .post("admin", "/api/v1/domains", &json!({"name": "sales"}))
        .await;
    assert_mentions(&r.error(StatusCode::CONFLICT, "already_exists"), "`sales`");
    let r = m
        .post(
            "admin",
            "/api/v1/domains/sales/teams",
            &json!({"name": "core"}),
        )
        .await;
    r.error(StatusCode::CONFLICT, "already_exists");
    let created = m
        .post("admin", "/api/v1/domains", &json!({"name": "finance"}))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["name"], "finance");
    assert_eq!(created["producer"], true);
    let r = m
        .post("admin", "/api/v1/domains", &json!({"name": "finance"}))
        .await;
    assert_mentions(
        &r.error(StatusCode::CONFLICT, "already_exists"),
        "`finance`",
    );
}

// ----- uploads -----

const RETURNS_CSV: &[u8] =
    b"return_id,order_id,reason,amount\n1,10,damaged,12.5\n2,11,late,3.0\n3,12,wrong size,40.25\n";

fn product_part(name: &str) -> String {
    json!({"domain": "sales", "team": "core", "name": name, "description": "returned orders"})
        .to_string()
}

/// How many Delta tables exist under the data dir.
fn delta_tables(dir: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|f| f == "_delta_log") {
                    *n += 1;
                } else {
                    walk(&path, n);
                }
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

/// `POST …/tables/{t}/optimize`: the table's writers cluster it and give it bloom filters
/// (docs/design/TABLE_LAYOUT.md); others are refused; no answer changes; it is audited.
#[tokio::test]
async fn writers_optimize_and_vacuum_a_table_and_nothing_else_changes() {
    let m = mesh().await;
    m.upload(
        "alice",
        &[
            ("product", None, product_part("returns").as_bytes()),
            ("returns", Some("returns.csv"), RETURNS_CSV),
        ],
    )
    .await
    .ok(StatusCode::CREATED);
    for _ in 0..2 {
        m.post_raw(
            "alice",
            "/api/v1/products/sales/returns/tables/returns/data?format=csv",
            "text/csv",
            "return_id,order_id,reason,amount\n4,9,other,1.0\n5,14,late,2.5\n",
        )
        .await
        .ok(StatusCode::OK);
    }
    let sql = "SELECT * FROM sales.returns.returns ORDER BY return_id, order_id";
    let before = m.rows("alice", sql).await;
    const OPTIMIZE: &str = "/api/v1/products/sales/returns/tables/returns/optimize";

    // Someone outside the owning team may not rewrite its files.
    let r = m
        .post("bob", OPTIMIZE, &json!({"cluster_by": ["order_id"]}))
        .await;
    assert_mentions(&r.error(StatusCode::FORBIDDEN, "forbidden"), "optimize");

    let done = m
        .post(
            "alice",
            OPTIMIZE,
            &json!({"cluster_by": ["order_id"], "bloom_filter_columns": ["reason"]}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(done["table"], "sales.returns.returns");
    assert_eq!(done["cluster_by"], json!(["order_id"]));
    assert_eq!(done["bloom_filter_columns"], json!(["reason"]));
    assert_eq!(done["clustered"], true);
    assert_eq!(done["files_removed"], 3, "{done}");
    assert_eq!(done["files_added"], 1, "{done}");
    assert_eq!(m.rows("alice", sql).await, before);

    // Layouts that cannot apply are the caller's to fix; a field the API does not know is
    // refused rather than ignored.
    let r = m
        .post("alice", OPTIMIZE, &json!({"cluster_by": ["nope"]}))
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_data"),
        "no such column",
    );
    let r = m
        .post("alice", OPTIMIZE, &json!({"zorder": ["order_id"]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = m
        .post(
            "alice",
            "/api/v1/products/sales/returns/tables/nope/optimize",
            &json!({}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::NOT_FOUND, "not_found"),
        "sales.returns.nope",
    );

    // An empty body keeps the recorded layout.
    let again = m
        .post("alice", OPTIMIZE, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(again["cluster_by"], json!(["order_id"]));
    assert_eq!(again["bloom_filter_columns"], json!(["reason"]));

    let events = m.audit("action=table.optimize").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["detail"]["table"] == "sales.returns.returns"),
        "{events:?}"
    );

    // Vacuum: the three files the first optimize replaced were removed a moment ago, so no
    // retention the API accepts deletes them yet (the engine's tests move the clock).
    const VACUUM: &str = "/api/v1/products/sales/returns/tables/returns/vacuum";
    let r = m.post("bob", VACUUM, &json!({"dry_run": true})).await;
    assert_mentions(&r.error(StatusCode::FORBIDDEN, "forbidden"), "vacuum");
    let dry = m
        .post("alice", VACUUM, &json!({"dry_run": true}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(dry["table"], "sales.returns.returns");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        dry["retention_hours"], 168,
        "the table's own retention: {dry}"
    );
    assert_eq!(dry["files_deleted"], 0, "{dry}");
    let done = m
        .post("alice", VACUUM, &json!({"retention_hours": 1}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (
            &done["dry_run"],
            &done["retention_hours"],
            &done["files_deleted"]
        ),
        (&json!(false), &json!(1), &json!(0)),
        "{done}"
    );
    // Below a Delta Sharing URL's lifetime (an hour here) a URL handed out could outlive its
    // file: refused, as is a field the API does not know.
    let r = m
        .post("alice", VACUUM, &json!({"retention_hours": 0}))
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_data"),
        "retention_hours",
    );
    let r = m.post("alice", VACUUM, &json!({"retain": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(m.rows("alice", sql).await, before);
    let events = m.audit("action=table.vacuum").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["detail"]["dry_run"] == true && e["detail"]["files_deleted"] == 0),
        "{events:?}"
    );
}

#[tokio::test]
async fn upload_query_append_share_and_delete_a_product() {
    let m = mesh().await;
    let product = product_part("returns");
    let created = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                ("returns", Some("returns.csv"), RETURNS_CSV),
            ],
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["domain"], "sales");
    assert_eq!(created["team"], "core");
    assert_eq!(created["name"], "returns");
    assert_eq!(created["description"], "returned orders");
    let tables = created["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["name"], "returns");
    assert_eq!(tables[0]["managed"], true);
    let columns: Vec<(&str, &str)> = tables[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("return_id", "bigint"),
            ("order_id", "bigint"),
            ("reason", "string"),
            ("amount", "double")
        ]
    );
    m.get("bob", "/api/v1/products/sales/returns")
        .await
        .ok(StatusCode::OK);

    // The owner queries it at once; others do not see it.
    assert_eq!(m.count("alice", "sales.returns.returns").await, 3);
    assert_eq!(m.count("carol", "sales.returns.returns").await, 3);
    m.query("bob", "SELECT * FROM sales.returns.returns")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_sql");

    // Append: the rows are added and the count grows.
    let appended = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/returns/tables/returns/data?format=csv",
            "text/csv",
            "return_id,order_id,reason,amount\n4,13,other,1.0\n5,14,late,2.5\n",
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(appended["rows"], 2, "{appended}");
    assert_eq!(appended["table"], "sales.returns.returns");
    assert_eq!(m.count("alice", "sales.returns.returns").await, 5);
    let rows = m
        .rows(
            "alice",
            "SELECT sum(amount) AS s FROM sales.returns.returns",
        )
        .await;
    assert_eq!(rows[0]["s"].as_f64(), Some(59.25));
    // Appends are checked too: unknown table, bad format, empty body, other people.
    let r = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/returns/tables/nope/data?format=csv",
            "text/csv",
            "a\n1\n",
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::NOT_FOUND, "not_found"),
        "sales.returns.nope",
    );
    let r = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/returns/tables/returns/data?format=xlsx",
            "text/csv",
            "a\n1\n",
        )
        .await;
    assert_mentions(&r.error(StatusCode::BAD_REQUEST, "invalid_data"), "xlsx");
    let r = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/returns/tables/returns/data?format=csv",
            "text/csv",
            "",
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "empty",
    );
    let r = m
        .post_raw(
            "bob",
            "/api/v1/products/sales/returns/tables/returns/data?format=csv",
            "text/csv",
            "return_id,order_id,reason,amount\n9,9,x,1.0\n",
        )
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(m.count("alice", "sales.returns.returns").await, 5);

    // Shared to bob, the product cannot be deleted until the share is revoked.
    let share = m
        .request_access("bob", "sales.returns", "refund analysis")
        .await;
    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/approve"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(m.count("bob", "sales.returns.returns").await, 5);
    let r = m.delete("alice", "/api/v1/products/sales/returns").await;
    let message = r.error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&message, "`returns`");
    assert_mentions(&message, "revoke");
    m.get("alice", "/api/v1/products/sales/returns")
        .await
        .ok(StatusCode::OK);
    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/revoke"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(
        m.delete("alice", "/api/v1/products/sales/returns")
            .await
            .ok(StatusCode::OK),
        json!({})
    );
    m.get("alice", "/api/v1/products/sales/returns")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    m.query("alice", "SELECT * FROM sales.returns.returns")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_sql");
    // The share stays, for the record.
    m.get("bob", &format!("/api/v1/shares/{share}"))
        .await
        .ok(StatusCode::OK);
}

#[tokio::test]
async fn json_lines_uploads_and_appends() {
    let m = mesh().await;
    let product = product_part("refunds");
    let created = m
        .upload(
            "carol",
            &[
                ("product", None, product.as_bytes()),
                (
                    "refunds",
                    Some("refunds.jsonl"),
                    b"{\"refund_id\": 1, \"amount\": 2.5, \"channel\": \"web\"}\n{\"refund_id\": 2, \"amount\": 4.0, \"channel\": \"shop\"}\n",
                ),
            ],
        )
        .await
        .ok(StatusCode::CREATED);
    let names: Vec<&str> = created["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{created}");
    for n in ["refund_id", "amount", "channel"] {
        assert!(names.contains(&n), "{names:?}");
    }
    assert_eq!(m.count("carol", "sales.refunds.refunds").await, 2);
    let appended = m
        .post_raw(
            "carol",
            "/api/v1/products/sales/refunds/tables/refunds/data?format=jsonl",
            "application/x-ndjson",
            "{\"refund_id\": 3, \"amount\": 1.5, \"channel\": \"web\"}\n",
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(appended["rows"], 1, "{appended}");
    let rows = m
        .rows("carol", "SELECT channel, count(*) AS n FROM sales.refunds.refunds GROUP BY channel ORDER BY channel")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"channel": "shop", "n": 1}),
            json!({"channel": "web", "n": 2})
        ]
    );
}

#[tokio::test]
async fn bad_uploads_leave_nothing_behind() {
    let m = mesh().await;
    let before = delta_tables(m.dir.path());

    // A ragged CSV: the third row lacks a field.
    let product = product_part("returns2");
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                (
                    "returns",
                    Some("returns.csv"),
                    b"a,b,c\n1,2,3\n4,5\n6,7,8\n",
                ),
            ],
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_data");
    assert_mentions(&message, "could not be parsed");
    assert_mentions(&message, "line 3");
    m.get("alice", "/api/v1/products/sales/returns2")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        delta_tables(m.dir.path()),
        before,
        "no half-made table is left"
    );

    // Other refusals: a file before the product part (or none), no table, an unknown
    // extension, a bad table name, someone who is not an approver of the team, a product
    // that exists.
    let r = m
        .upload("alice", &[("returns", Some("returns.csv"), RETURNS_CSV)])
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "the `product` part must come first",
    );
    let r = m
        .upload("alice", &[("product", None, product.as_bytes())])
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "at least one table",
    );
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                ("returns", Some("returns.xlsx"), RETURNS_CSV),
            ],
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "cannot tell the format",
    );
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                ("Returns Table", Some("r.csv"), RETURNS_CSV),
            ],
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, "invalid_name");
    let r = m
        .upload(
            "bob",
            &[
                ("product", None, product.as_bytes()),
                ("returns", Some("returns.csv"), RETURNS_CSV),
            ],
        )
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    let orders = product_part("orders");
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, orders.as_bytes()),
                ("orders", Some("orders.csv"), RETURNS_CSV),
            ],
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::CONFLICT, "already_exists"),
        "sales.orders",
    );
    let r = m
        .post_raw(
            "alice",
            "/api/v1/products",
            "multipart/form-data; boundary=nope",
            "garbage",
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, "invalid_request");

    m.get("alice", "/api/v1/products/sales/returns2")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let products = m.get("alice", "/api/v1/products").await.ok(StatusCode::OK);
    // The demo mesh's orders, customers and items; none of the refused uploads added one.
    assert_eq!(products.as_array().unwrap().len(), 3, "{products}");
    assert_eq!(
        delta_tables(m.dir.path()),
        before,
        "no half-made table is left"
    );
    assert_eq!(m.count("alice", "sales.orders.orders").await, 100_000);

    // An append that does not fit the table's schema changes nothing.
    let r = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/orders/tables/orders/data?format=csv",
            "text/csv",
            "order_id,customer_email,region,amount,order_date\nnot-a-number,x@example.com,eu,1.0,2025-01-01\n",
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_data"),
        "'not-a-number'",
    );
    assert_eq!(m.count("alice", "sales.orders.orders").await, 100_000);
}

#[tokio::test]
async fn uploads_over_the_limit_are_413() {
    let m = mesh_with(|c| c.max_upload_mb = 1).await;
    let mut big = b"return_id,order_id,reason,amount\n".to_vec();
    while big.len() < 2 * 1024 * 1024 {
        big.extend_from_slice(b"1,10,damaged and returned by courier,12.5\n");
    }
    let product = product_part("returns");
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                ("returns", Some("returns.csv"), &big),
            ],
        )
        .await;
    let message = r.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_mentions(&message, "1 MiB");
    m.get("alice", "/api/v1/products/sales/returns")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    let r = m
        .post_raw(
            "alice",
            "/api/v1/products/sales/orders/tables/orders/data?format=csv",
            "text/csv",
            big.clone(),
        )
        .await;
    r.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(m.count("alice", "sales.orders.orders").await, 100_000);

    // Under the limit is fine.
    let r = m
        .upload(
            "alice",
            &[
                ("product", None, product.as_bytes()),
                ("returns", Some("returns.csv"), RETURNS_CSV),
            ],
        )
        .await;
    r.ok(StatusCode::CREATED);
    // Staged uploads are cleaned up, whatever happened.
    let staged: Vec<_> = std::fs::read_dir(m.dir.path().join("uploads"))
        .unwrap()
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
}
