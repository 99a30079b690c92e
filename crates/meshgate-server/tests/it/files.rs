//! HTTP tests of product files (issue 3, item 2) through the router: upload, list, download
//! and delete by the owning team; refusals (and their audit) for principals without a file
//! grant; folder grants that cover their prefix only; signed URLs with HEAD, ranges (206,
//! suffix, 416), expiry, tampering and revocation; path validation; the upload size limit.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use meshgate_core::access::GrantScope;
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    FileGrant, Grantee, ItemKind, NewAuditEvent, Permission, Share, ShareItem, ShareTerms,
};
use meshgate_store::ShareChange;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::common::{Mesh, Resp, assert_mentions};

const FILES: &str = "/api/v1/products/sales/docs/files";
const REPORT: &[u8] = b"id,amount\n1,10\n2,20\n3,30\n";
const RAW: &[u8] = b"raw bytes, not for bob";

/// The demo mesh plus `sales.docs` (alice's team `sales.core`) holding two files:
/// `reports/a.csv` and `raw/b.csv`. Returns the mesh and the product id.
async fn docs_mesh() -> (Mesh, Uuid) {
    let m = Mesh::demo().await;
    let v = m
        .upload_csv("alice", "sales", "core", "docs", "meta", b"k\n1\n")
        .await;
    let id = Uuid::parse_str(v["id"].as_str().expect("product id")).unwrap();
    put(&m, "alice", "reports/a.csv", REPORT)
        .await
        .ok(StatusCode::CREATED);
    put(&m, "alice", "raw/b.csv", RAW)
        .await
        .ok(StatusCode::CREATED);
    (m, id)
}

async fn put(m: &Mesh, who: &str, path: &str, body: &[u8]) -> Resp {
    m.put_raw(
        who,
        &format!("{FILES}/{path}"),
        "application/octet-stream",
        body.to_vec(),
    )
    .await
}

/// A request with extra headers; `who` = `None` sends no bearer token.
async fn send(
    m: &Mesh,
    method: &str,
    uri: &str,
    who: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(w) = who {
        req = req.header(header::AUTHORIZATION, format!("Bearer {}", m.token(w)));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = m
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

fn header_of(r: &Resp, name: header::HeaderName) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn paths(listing: &Value) -> Vec<String> {
    listing["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Gives `grantee` a file grant on `prefix` of `product_id`, as the share processor does for
/// a fulfilled folder item: a share with one folder item, and the grant. Returns the item id
/// and the share id (to remove the grant with).
async fn grant_folder(m: &Mesh, product_id: Uuid, grantee: Grantee, prefix: &str) -> (Uuid, Uuid) {
    let store = &m.state.store;
    let bob = store.get_principal_by_name("bob").await.unwrap().unwrap();
    let now = Utc::now();
    let share = Share {
        id: Uuid::now_v7(),
        product_id,
        requester_team_id: match grantee {
            Grantee::Team(t) => Some(t),
            Grantee::Principal(_) => None,
        },
        requester_principal_id: match grantee {
            Grantee::Principal(p) => Some(p),
            Grantee::Team(_) => None,
        },
        created_by: bob.id,
        reason: "files test".into(),
        status: ShareStatus::Processed,
        requested_expiry: None,
        decision_notes: None,
        decided_by: None,
        version: 1,
        created_at: now,
        updated_at: now,
        deleted_reason: None,
        terms: ShareTerms::default(),
    };
    let item = ShareItem {
        id: Uuid::now_v7(),
        share_id: share.id,
        kind: ItemKind::Folder,
        table_id: None,
        path: Some(prefix.to_string()),
        permission: Permission::Read,
        scope: GrantScope::default(),
        status: ItemStatus::ShareSucceeded,
        health: None,
        health_message: None,
        last_verified_at: None,
        created_at: now,
        updated_at: now,
    };
    let audit = || NewAuditEvent::new(None, "test.setup", "share", Some(share.id.to_string()));
    store
        .create_share(&share, std::slice::from_ref(&item), audit())
        .await
        .unwrap();
    let version = store
        .get_share(share.id)
        .await
        .unwrap()
        .unwrap()
        .share
        .version;
    store
        .apply_share_change(ShareChange {
            share_id: share.id,
            expected_version: version,
            file_grants_to_add: vec![FileGrant {
                id: Uuid::now_v7(),
                share_item_id: item.id,
                grantee,
                product_id,
                prefix: prefix.to_string(),
                created_at: now,
            }],
            audit: vec![audit()],
            ..Default::default()
        })
        .await
        .unwrap();
    (item.id, share.id)
}

/// Removes the grants of a share item, as revocation does.
async fn remove_grant(m: &Mesh, share_id: Uuid, item_id: Uuid) {
    let store = &m.state.store;
    let version = store
        .get_share(share_id)
        .await
        .unwrap()
        .unwrap()
        .share
        .version;
    store
        .apply_share_change(ShareChange {
            share_id,
            expected_version: version,
            grants_to_remove: vec![item_id],
            audit: vec![NewAuditEvent::new(
                None,
                "test.revoke",
                "share",
                Some(share_id.to_string()),
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        store
            .file_grants_of_share(share_id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn team_id(m: &Mesh, domain: &str, team: &str) -> Uuid {
    let d = m
        .state
        .store
        .get_domain_by_name(domain)
        .await
        .unwrap()
        .unwrap();
    m.state
        .store
        .get_team_by_name(d.id, team)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// bob's team `marketing.analytics` gets `reports/` of `sales.docs`.
async fn bob_gets_reports(m: &Mesh, product_id: Uuid) -> (Uuid, Uuid) {
    let team = team_id(m, "marketing", "analytics").await;
    grant_folder(m, product_id, Grantee::Team(team), "reports/").await
}

async fn sign(m: &Mesh, who: &str, body: &Value) -> Resp {
    m.post(who, &format!("{FILES}/sign"), body).await
}

/// The path and query of a signed URL, to send through the router.
fn local(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

/// The audit events of `action` (newest last).
async fn audited(m: &Mesh, action: &str) -> Vec<Value> {
    m.audit(&format!("action={action}")).await
}

#[tokio::test]
async fn the_owning_team_uploads_lists_downloads_and_deletes() {
    let (m, _) = docs_mesh().await;

    // Replacing is a 200 with the new size; a steward uploads too.
    let v = put(&m, "alice", "reports/a.csv", REPORT)
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["size"], REPORT.len());
    assert_eq!(v["path"], "reports/a.csv");
    put(&m, "carol", "reports/z%20y.txt", b"z")
        .await
        .ok(StatusCode::CREATED);

    let listing = m.get("alice", FILES).await.ok(StatusCode::OK);
    assert_eq!(
        paths(&listing),
        ["raw/b.csv", "reports/a.csv", "reports/z y.txt"]
    );
    assert_eq!(listing["next_after"], Value::Null);
    let a = &listing["files"][1];
    assert_eq!(a["size"], REPORT.len());
    assert!(a["last_modified"].is_string(), "{a}");
    assert!(a["etag"].is_string(), "{a}");

    // Prefixes (also part-way through a name) and paging.
    let v = m
        .get("alice", &format!("{FILES}?prefix=reports/"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(paths(&v), ["reports/a.csv", "reports/z y.txt"]);
    let v = m
        .get("alice", &format!("{FILES}?prefix=ra"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(paths(&v), ["raw/b.csv"]);
    let page = m
        .get("alice", &format!("{FILES}?limit=2"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(paths(&page), ["raw/b.csv", "reports/a.csv"]);
    assert_eq!(page["next_after"], "reports/a.csv");
    let page = m
        .get("alice", &format!("{FILES}?limit=2&after=reports/a.csv"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(paths(&page), ["reports/z y.txt"]);
    assert_eq!(page["next_after"], Value::Null);

    // Download: the exact bytes, with length, ranges advertised, validators.
    let r = send(
        &m,
        "GET",
        &format!("{FILES}/reports/a.csv"),
        Some("alice"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(&r.body[..], REPORT);
    assert_eq!(
        header_of(&r, header::CONTENT_LENGTH),
        REPORT.len().to_string()
    );
    assert_eq!(header_of(&r, header::ACCEPT_RANGES), "bytes");
    assert!(header_of(&r, header::ETAG).starts_with('"'));
    assert!(header_of(&r, header::LAST_MODIFIED).ends_with(" GMT"));
    // A member (not a steward) of the team reads too; names with spaces work.
    let mut m = m;
    m.add_user("dave", Some(("sales", "core"))).await;
    let r = send(
        &m,
        "GET",
        &format!("{FILES}/reports/z%20y.txt"),
        Some("dave"),
        &[],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"z"[..]));
    // … but may not write: that is `AppendData`, owners and stewards.
    let msg = put(&m, "dave", "reports/new.csv", b"x")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(
        &msg,
        "principal `dave` may not upload files of `sales.docs`",
    );

    let missing = m.get("alice", &format!("{FILES}/reports/nope.csv")).await;
    missing.error(StatusCode::NOT_FOUND, "not_found");

    // Delete, then it is gone.
    let v = m
        .delete("alice", &format!("{FILES}/raw/b.csv"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["size"], RAW.len());
    m.get("alice", &format!("{FILES}/raw/b.csv"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    m.delete("alice", &format!("{FILES}/raw/b.csv"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let msg = m
        .delete("dave", &format!("{FILES}/reports/a.csv"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "may not delete files of `sales.docs`");

    // A file literally named `sign` is still a file.
    put(&m, "alice", "sign", b"s").await.ok(StatusCode::CREATED);
    let r = send(&m, "GET", &format!("{FILES}/sign"), Some("alice"), &[]).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"s"[..]));
    m.delete("alice", &format!("{FILES}/sign"))
        .await
        .ok(StatusCode::OK);

    // Audited with path and bytes; refusals as denied.
    let uploads = audited(&m, "file.upload").await;
    assert!(
        uploads
            .iter()
            .any(|e| e["detail"]["path"] == "reports/a.csv"
                && e["detail"]["bytes"] == REPORT.len()
                && e["detail"]["replaced"] == true
                && e["outcome"] == "success")
    );
    assert!(
        uploads
            .iter()
            .any(|e| e["actor"] == "dave" && e["outcome"] == "denied")
    );
    let downloads = audited(&m, "file.download").await;
    assert!(downloads.iter().any(|e| e["actor"] == "alice"
        && e["detail"]["path"] == "reports/a.csv"
        && e["detail"]["bytes"] == REPORT.len()
        && e["detail"]["via"] == "api"));
    let deletes = audited(&m, "file.delete").await;
    assert!(deletes.iter().any(|e| e["detail"]["path"] == "raw/b.csv"
        && e["detail"]["bytes"] == RAW.len()
        && e["outcome"] == "success"));
    assert!(
        deletes
            .iter()
            .any(|e| e["actor"] == "dave" && e["outcome"] == "denied")
    );
}

#[tokio::test]
async fn a_consumer_without_a_grant_is_refused_and_audited() {
    let (m, _) = docs_mesh().await;
    let msg = m
        .get("bob", &format!("{FILES}/reports/a.csv"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(
        &msg,
        "principal `bob` may not read `reports/a.csv` of `sales.docs`",
    );
    // A missing file is refused the same way: no probing for names.
    m.get("bob", &format!("{FILES}/reports/nope.csv"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let msg = m
        .get("bob", FILES)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "may not list files of `sales.docs`");
    sign(&m, "bob", &json!({"path": "reports/a.csv"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    put(&m, "bob", "reports/a.csv", b"overwrite")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    for action in ["file.download", "file.list", "file.sign", "file.upload"] {
        let events = audited(&m, action).await;
        assert!(
            events
                .iter()
                .any(|e| e["actor"] == "bob" && e["outcome"] == "denied"),
            "{action}: {events:?}"
        );
    }
    // An unknown product is a 404.
    m.get("bob", "/api/v1/products/sales/nope/files")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_folder_grant_covers_its_prefix_only() {
    let (m, product_id) = docs_mesh().await;
    bob_gets_reports(&m, product_id).await;

    let r = send(
        &m,
        "GET",
        &format!("{FILES}/reports/a.csv"),
        Some("bob"),
        &[],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
    let msg = m
        .get("bob", &format!("{FILES}/raw/b.csv"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "no grant covers it");

    // Listing shows only covered files; a prefix outside every grant is refused.
    let v = m.get("bob", FILES).await.ok(StatusCode::OK);
    assert_eq!(paths(&v), ["reports/a.csv"]);
    let v = m
        .get("bob", &format!("{FILES}?prefix=rep"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(paths(&v), ["reports/a.csv"]);
    let msg = m
        .get("bob", &format!("{FILES}?prefix=raw/"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "may not list `raw/` of `sales.docs`");

    sign(&m, "bob", &json!({"path": "raw/b.csv"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    sign(&m, "bob", &json!({"path": "reports/missing.csv"}))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    sign(&m, "bob", &json!({"path": "reports/a.csv"}))
        .await
        .ok(StatusCode::OK);
    // The grant reads; it does not write.
    put(&m, "bob", "reports/a.csv", b"x")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn signed_urls_serve_get_head_and_ranges_without_a_token() {
    let (m, product_id) = docs_mesh().await;
    bob_gets_reports(&m, product_id).await;

    let before = Utc::now();
    let v = sign(&m, "bob", &json!({"path": "reports/a.csv"}))
        .await
        .ok(StatusCode::OK);
    let url = v["url"].as_str().unwrap();
    // Served by meshgate itself, recognisably presigned, bound to bob, expiring in 1 h.
    assert!(
        url.starts_with(&format!(
            "{}/files/v1/{product_id}/reports/a.csv?",
            m.state.config.public_url()
        )),
        "{url}"
    );
    let bob = m.principal("bob").await;
    assert!(
        url.contains(&format!("X-Meshgate-Principal={}", bob.id)),
        "{url}"
    );
    assert!(url.contains("X-Databricks-Signature="), "{url}");
    let expires_at: DateTime<Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = (expires_at - before).num_seconds();
    assert!((3598..=3601).contains(&ttl), "{ttl}");
    let url = local(url);
    let size = REPORT.len();

    let r = send(&m, "GET", &url, None, &[]).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
    assert_eq!(header_of(&r, header::CONTENT_LENGTH), size.to_string());

    let head = send(&m, "HEAD", &url, None, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(header_of(&head, header::CONTENT_LENGTH), size.to_string());
    assert_eq!(header_of(&head, header::ACCEPT_RANGES), "bytes");
    assert_eq!(header_of(&head, header::ETAG), header_of(&r, header::ETAG));
    assert!(!header_of(&head, header::LAST_MODIFIED).is_empty());

    // One range: 206 with exactly those bytes.
    let r = send(&m, "GET", &url, None, &[("range", "bytes=2-5")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &REPORT[2..6]);
    assert_eq!(
        header_of(&r, header::CONTENT_RANGE),
        format!("bytes 2-5/{size}")
    );
    assert_eq!(header_of(&r, header::CONTENT_LENGTH), "4");
    // Open-ended and suffix ranges.
    let r = send(&m, "GET", &url, None, &[("range", "bytes=10-")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &REPORT[10..]);
    let r = send(&m, "GET", &url, None, &[("range", "bytes=-5")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &REPORT[size - 5..]);
    assert_eq!(
        header_of(&r, header::CONTENT_RANGE),
        format!("bytes {}-{}/{size}", size - 5, size - 1)
    );
    // HEAD with a range says what a GET would send.
    let h = send(&m, "HEAD", &url, None, &[("range", "bytes=0-0")]).await;
    assert_eq!(h.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header_of(&h, header::CONTENT_LENGTH), "1");
    // Unsatisfiable: 416 with the size.
    let r = send(
        &m,
        "GET",
        &url,
        None,
        &[("range", &format!("bytes={size}-"))],
    )
    .await;
    r.error(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable");
    assert_eq!(
        header_of(&r, header::CONTENT_RANGE),
        format!("bytes */{size}")
    );
    // Several ranges: the whole file.
    let r = send(&m, "GET", &url, None, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
    // A stale If-Range: the whole file, not a piece of a changed one.
    let r = send(
        &m,
        "GET",
        &url,
        None,
        &[("range", "bytes=0-1"), ("if-range", "\"not-the-etag\"")],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));

    // Ranges through the API too.
    let r = send(
        &m,
        "GET",
        &format!("{FILES}/reports/a.csv"),
        Some("bob"),
        &[("range", "bytes=0-1")],
    )
    .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &REPORT[..2])
    );

    // Audited as bob's downloads through the URL, and the signing.
    let downloads = audited(&m, "file.download").await;
    assert!(downloads.iter().any(|e| e["actor"] == "bob"
        && e["detail"]["via"] == "signed_url"
        && e["detail"]["bytes"] == 4
        && e["detail"]["range"] == "2-5"));
    let signs = audited(&m, "file.sign").await;
    assert!(
        signs
            .iter()
            .any(|e| e["actor"] == "bob" && e["detail"]["path"] == "reports/a.csv")
    );

    // The lifetime is bounded.
    for bad in [0, -1, 7 * 24 * 3600 + 1] {
        sign(
            &m,
            "bob",
            &json!({"path": "reports/a.csv", "expires_in_secs": bad}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let v = sign(
        &m,
        "bob",
        &json!({"path": "reports/a.csv", "expires_in_secs": 7 * 24 * 3600}),
    )
    .await
    .ok(StatusCode::OK);
    assert!(v["url"].is_string());
}

#[tokio::test]
async fn signed_urls_refuse_tampering_expiry_and_revoked_grants() {
    let (m, product_id) = docs_mesh().await;
    let (item, share) = bob_gets_reports(&m, product_id).await;
    let v = sign(&m, "bob", &json!({"path": "reports/a.csv"}))
        .await
        .ok(StatusCode::OK);
    let url = local(v["url"].as_str().unwrap());
    let bob = m.principal("bob").await;
    let alice = m.principal("alice").await;

    let invalid = |r: Resp, what: &str| {
        let msg = r.error(StatusCode::FORBIDDEN, "url_invalid");
        assert_mentions(&msg, "invalid");
        assert!(!msg.contains("X-Databricks"), "{what}: {msg}");
    };
    // Another file, another principal, a moved expiry, a flipped signature, no signature.
    invalid(
        send(
            &m,
            "GET",
            &url.replace("reports/a.csv", "raw/b.csv"),
            None,
            &[],
        )
        .await,
        "path",
    );
    invalid(
        send(
            &m,
            "GET",
            &url.replace(&bob.id.to_string(), &alice.id.to_string()),
            None,
            &[],
        )
        .await,
        "principal",
    );
    let (head, sig) = url.split_once("X-Databricks-Signature=").unwrap();
    let flipped: String = sig
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    invalid(
        send(
            &m,
            "GET",
            &format!("{head}X-Databricks-Signature={flipped}"),
            None,
            &[],
        )
        .await,
        "signature",
    );
    invalid(
        send(&m, "GET", head.trim_end_matches('&'), None, &[]).await,
        "missing",
    );
    let exp_at = url.find("X-Meshgate-Expires=").unwrap() + "X-Meshgate-Expires=".len();
    let mut later = url.clone();
    later.replace_range(exp_at..exp_at + 1, "9");
    invalid(send(&m, "GET", &later, None, &[]).await, "expiry");
    invalid(
        send(
            &m,
            "GET",
            &format!("/files/v1/{product_id}/reports/a.csv"),
            None,
            &[],
        )
        .await,
        "bare",
    );
    // HEAD answers carry no body, only the status.
    let r = send(&m, "HEAD", &later, None, &[]).await;
    assert_eq!((r.status, r.body.is_empty()), (StatusCode::FORBIDDEN, true));
    invalid(
        send(
            &m,
            "GET",
            "/files/v1/not-a-uuid/reports/a.csv?X-Databricks-Signature=x",
            None,
            &[],
        )
        .await,
        "id",
    );

    // Authentic but past its expiry (signed with the server's own signer): expired.
    let past = Utc::now().timestamp() - 1;
    let expired =
        meshgate_server::files::sign_url(&m.state, product_id, "reports/a.csv", bob.id, past)
            .unwrap();
    let msg = send(&m, "GET", &local(&expired), None, &[])
        .await
        .error(StatusCode::FORBIDDEN, "url_expired");
    assert_mentions(&msg, "expired");

    // Revoking the grant kills the outstanding URL.
    let r = send(&m, "GET", &url, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    remove_grant(&m, share, item).await;
    let msg = send(&m, "GET", &url, None, &[])
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "principal `bob` may not read `reports/a.csv`");
    assert_eq!(
        send(&m, "HEAD", &url, None, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let denied = audited(&m, "file.download").await;
    assert!(
        denied
            .iter()
            .any(|e| e["actor"] == "bob" && e["outcome"] == "denied")
    );
}

#[tokio::test]
async fn bad_paths_are_400s() {
    let (m, _) = docs_mesh().await;
    let long = "a".repeat(1025);
    for (path, why) in [
        ("../x.csv", "`..`"),
        ("a/%2E%2E/b", "`..`"),
        ("a//b", "empty segment"),
        ("/etc/passwd", "starts with `/`"),
        ("reports/", "ends with `/`"),
        ("a%0Ab", "contains"),
        ("a%5Cb", "contains"),
        (long.as_str(), "1025 bytes"),
    ] {
        let msg = put(&m, "alice", path, b"x")
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, why);
        m.get("alice", &format!("{FILES}/{path}"))
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let msg = sign(&m, "alice", &json!({"path": "../../etc/passwd"}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "invalid file path");
    m.get("alice", &format!("{FILES}?prefix=../"))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    // Nothing escaped the product's files.
    let v = m.get("alice", FILES).await.ok(StatusCode::OK);
    assert_eq!(paths(&v), ["raw/b.csv", "reports/a.csv"]);
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_and_leave_nothing() {
    let (m, _) = docs_mesh().await;
    let mut state = m.state.clone();
    let mut config = (*state.config).clone();
    config.max_upload_mb = 1;
    state.config = Arc::new(config);
    let app = meshgate_server::router(state);
    let big = vec![b'x'; 1024 * 1024 + 1];
    let upload = |path: &str, body: &[u8], declared: bool| {
        let mut req = Request::builder()
            .method("PUT")
            .uri(format!("{FILES}/{path}"))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", m.token("alice")),
            );
        if declared {
            req = req.header(header::CONTENT_LENGTH, body.len());
        }
        // Streamed in chunks, so without the header the size is only known by counting.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        req.body(Body::from_stream(futures::stream::iter(chunks)))
            .unwrap()
    };
    for declared in [true, false] {
        let r = app
            .clone()
            .oneshot(upload("big.bin", &big, declared))
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared: {declared}"
        );
    }
    m.get("alice", &format!("{FILES}/big.bin"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    // Exactly the limit is fine.
    let r = app
        .clone()
        .oneshot(upload("ok.bin", &big[..1024 * 1024], false))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = send(&m, "HEAD", &format!("{FILES}/ok.bin"), Some("alice"), &[]).await;
    assert_eq!(
        header_of(&r, header::CONTENT_LENGTH),
        (1024 * 1024).to_string()
    );
}
