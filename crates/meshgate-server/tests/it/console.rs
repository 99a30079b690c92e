//! The web console's server side (docs/design/CONSOLE.md): the embedded files and the
//! security headers of every answer, the quickstart's demo sign-in, and the API endpoints the
//! console added — an approval's preview, who-sees-what, the masked-columns header of
//! `POST /query`, and the audit log's time range and CSV export. The pages themselves are
//! tested in a real browser (tests/console, run by `.ci/run`).

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Mesh, PEOPLE_CSV, PEOPLE_FILTERS};

const PEOPLE: &str = "sales.people.people";

async fn people_mesh() -> Mesh {
    let m = Mesh::demo().await;
    m.upload_csv("alice", "sales", "core", "people", "people", PEOPLE_CSV)
        .await;
    m.post(
        "alice",
        PEOPLE_FILTERS,
        &json!({"name": "eu", "row_filter": "region = 'EU'"}),
    )
    .await
    .ok(StatusCode::CREATED);
    m
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_every_answer_is_not_stored() {
    let m = Mesh::demo().await;
    let r = m.send("GET", "/", None, None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type().starts_with("text/html"),
        "{}",
        r.content_type()
    );
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "default-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // The shell loads its code; it holds no inline script.
    assert!(r.text().contains("/console/js/app.js"));
    assert!(!r.text().contains("<script>"));

    // Files: revalidated by ETag.
    let r = m
        .send("GET", "/console/js/app.js", None, None, Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("text/javascript"));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
    let etag = r.headers[header::ETAG].to_str().unwrap().to_string();
    let again = m
        .app
        .clone()
        .oneshot(
            Request::get("/console/js/app.js")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Only embedded files: no path leads out of the console.
    for path in [
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/js/../../build.rs",
        "/console/nope.js",
        "/console/",
    ] {
        let r = m.send("GET", path, None, None, Body::empty()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
    }

    // API answers: never stored, never framed, nothing loads from them.
    let r = m.get("bob", "/api/v1/whoami").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        r.headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; frame-ancestors 'none'"
    );
    let r = m
        .send("GET", "/api/v1/products", None, None, Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

/// A request to the demo sign-in from `peer`.
async fn demo(
    m: &Mesh,
    method: &str,
    body: Option<Value>,
    peer: &str,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::builder().method(method).uri("/auth/demo");
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let mut req = req
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let addr: std::net::SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let r = m.app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookie,
    )
}

#[tokio::test]
async fn the_demo_sign_in_is_offered_only_where_configured_and_only_to_this_machine() {
    // Off by default: a server not started by the quickstart has no demo people.
    let m = Mesh::demo().await;
    let (status, _, _) = demo(&m, "GET", None, "127.0.0.1:5000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, cookie) = demo(
        &m,
        "POST",
        Some(json!({"person": "admin"})),
        "127.0.0.1:5000",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(cookie.is_none());

    let m = Mesh::demo_with(|c| c.auth.demo_people = vec!["bob".into(), "alice".into()]).await;
    let (status, body, _) = demo(&m, "GET", None, "127.0.0.1:5000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "alice"]);
    // Another machine gets nothing, not even the list.
    for peer in ["10.0.0.7:5000", "[2001:db8::1]:5000"] {
        let (status, _, cookie) = demo(&m, "POST", Some(json!({"person": "bob"})), peer).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{peer}");
        assert!(cookie.is_none());
        assert_eq!(demo(&m, "GET", None, peer).await.0, StatusCode::NOT_FOUND);
    }
    // Only the listed people: not the admin, not an unknown name.
    for person in ["admin", "nobody"] {
        let (status, _, cookie) = demo(
            &m,
            "POST",
            Some(json!({"person": person})),
            "127.0.0.1:5000",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{person}");
        assert!(cookie.is_none());
    }
    // A listed person from this machine gets a session (an HttpOnly cookie), no token.
    let (status, body, cookie) =
        demo(&m, "POST", Some(json!({"person": "bob"})), "[::1]:5000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["principal"]["name"], "bob");
    assert_eq!(body["method"], "demo");
    assert!(!body.to_string().contains("mgt_"), "{body}");
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn an_approval_preview_shows_what_the_requester_would_read_and_grants_nothing() {
    let m = people_mesh().await;
    let share = m.request_access("bob", "sales.people").await;
    let url = format!("/api/v1/shares/{share}/preview");
    let narrowed = json!({"items": [{"table": "people", "data_filters": ["eu"],
        "columns": ["person_id", "name", "region"], "masks": {"name": "redact"}}], "limit": 10});

    // Only approvers: the requester cannot read through a preview what it asked for.
    let r = m.post("bob", &url, &narrowed).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // A mesh admin may approve any request but reads no product's data: no preview either.
    let r = m.post("admin", &url, &narrowed).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(!r.text().contains("ann"), "{}", r.text());

    let v = m.post("alice", &url, &narrowed).await.ok(StatusCode::OK);
    assert_eq!(v["principal"], "bob");
    assert_eq!(v["grantee"], "marketing.analytics");
    let t = &v["tables"][0];
    assert_eq!(t["table"], PEOPLE);
    assert_eq!(t["total_rows"], 2, "{t}");
    assert_eq!(
        t["rows"],
        json!([
            {"person_id": 1, "name": "xxx", "region": "EU"},
            {"person_id": 5, "name": "xxx", "region": "EU"},
        ])
    );
    let masked: Vec<(&str, bool)> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["masked"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        masked,
        [("person_id", false), ("name", true), ("region", false)]
    );

    // As requested (no narrowing): every row and column.
    let v = m.post("alice", &url, &json!({})).await.ok(StatusCode::OK);
    assert_eq!(v["tables"][0]["total_rows"], 5);
    assert_eq!(v["tables"][0]["columns"].as_array().unwrap().len(), 5);

    // An invalid narrowing is refused as approve refuses it.
    let r = m
        .post(
            "alice",
            &url,
            &json!({"items": [{"table": "people", "data_filters": ["nope"]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    // Nothing was granted: bob still reads nothing, and the share still waits.
    let r = m
        .query("bob", &format!("SELECT count(*) FROM {PEOPLE}"))
        .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(m.share("alice", &share).await["status"], "submitted");
    let audited = m.audit("action=share.preview").await;
    assert_eq!(audited.len(), 2, "{audited:?}");

    // Approved exactly so, bob reads what the preview showed.
    let decision = json!({"items": narrowed["items"].clone()});
    m.approve("alice", &share, &decision)
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        m.rows("bob", &format!("SELECT * FROM {PEOPLE} ORDER BY person_id"))
            .await,
        vec![
            json!({"person_id": 1, "name": "xxx", "region": "EU"}),
            json!({"person_id": 5, "name": "xxx", "region": "EU"}),
        ]
    );
    // Nothing is pending any more: nothing to preview.
    let r = m.post("alice", &url, &json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}

#[tokio::test]
async fn who_sees_counts_the_rows_each_principal_reads_now() {
    let m = people_mesh().await;
    let url = "/api/v1/products/sales/people/who-sees?principal=bob";
    let reach = |v: &Value| {
        (
            v["tables"][0]["readable"].clone(),
            v["tables"][0]["rows"].clone(),
        )
    };
    let v = m.get("alice", url).await.ok(StatusCode::OK);
    assert_eq!(reach(&v), (json!(false), Value::Null));
    // Bob may not ask (he does not own the product), nor may an admin outside its team.
    assert_eq!(m.get("bob", url).await.status, StatusCode::FORBIDDEN);
    assert_eq!(m.get("admin", url).await.status, StatusCode::FORBIDDEN);

    let share = m.request_access("bob", "sales.people").await;
    m.approve(
        "alice",
        &share,
        &json!({"items": [{"table": "people", "data_filters": ["eu"]}]}),
    )
    .await
    .ok(StatusCode::OK);
    let v = m.get("alice", url).await.ok(StatusCode::OK);
    assert_eq!(reach(&v), (json!(true), json!(2)));
    // A row rule for bob narrows it on the next count; the owner reads everything.
    m.put(
        "alice",
        "/api/v1/products/sales/people/row-rules",
        &json!([{"user_name": "bob", "values": {"person_id": ["1"]}}]),
    )
    .await
    .ok(StatusCode::OK);
    let v = m.get("alice", url).await.ok(StatusCode::OK);
    assert_eq!(reach(&v), (json!(true), json!(1)));
    let v = m
        .get(
            "alice",
            "/api/v1/products/sales/people/who-sees?principal=alice",
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(reach(&v), (json!(true), json!(5)));
    let r = m
        .get(
            "alice",
            "/api/v1/products/sales/people/who-sees?principal=nobody",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn query_answers_name_the_masked_columns() {
    let m = people_mesh().await;
    let share = m.request_access("bob", "sales.people").await;
    m.approve(
        "alice",
        &share,
        &json!({"items": [{"table": "people", "masks": {"name": "redact", "email": "hash"}}]}),
    )
    .await
    .ok(StatusCode::OK);
    let masked = |r: &crate::common::Resp| {
        r.headers
            .get("x-meshgate-masked-columns")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let r = m
        .query(
            "bob",
            &format!("SELECT person_id, name, email FROM {PEOPLE}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(masked(&r).as_deref(), Some("name,email"));
    let r = m
        .query("bob", &format!("SELECT person_id, region FROM {PEOPLE}"))
        .await;
    assert_eq!(masked(&r), None);
    // The owner reads values as they are.
    let r = m
        .query("alice", &format!("SELECT name FROM {PEOPLE}"))
        .await;
    assert_eq!(masked(&r), None);
}

#[tokio::test]
async fn the_audit_log_filters_by_time_and_exports_csv() {
    let m = Mesh::demo().await;
    let all = m.audit("limit=1000").await;
    assert!(!all.is_empty());
    let last_at = all.last().unwrap()["at"].as_str().unwrap().to_string();
    let later = (chrono::DateTime::parse_from_rfc3339(&last_at).unwrap()
        + chrono::Duration::seconds(1))
    .to_utc()
    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(m.audit(&format!("from={later}")).await.is_empty());
    assert_eq!(
        m.audit(&format!("to={later}&limit=1000")).await.len(),
        all.len()
    );
    let r = m.get("admin", "/api/v1/audit?format=csv&limit=1000").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.content_type().starts_with("text/csv"));
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("seq,at,actor,action,object_type,object_id,outcome,request_id,detail")
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.records().count(), all.len());
    assert_eq!(
        m.get("admin", "/api/v1/audit?format=xml").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        m.get("bob", "/api/v1/audit?format=csv").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_groups_members_are_listed_by_name() {
    let m = Mesh::demo().await;
    m.create_group("analysts").await;
    m.group_member("analysts", "carol", true).await;
    m.group_member("analysts", "bob", true).await;
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let v = m
        .get("alice", "/api/v1/principals/analysts/members")
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(v), ["bob", "carol"]);
    m.group_member("analysts", "bob", false).await;
    let v = m
        .get("admin", "/api/v1/principals/analysts/members")
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(v), ["carol"]);
    // Not a group; no such principal.
    let r = m.get("admin", "/api/v1/principals/alice/members").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = m.get("admin", "/api/v1/principals/nobody/members").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}
