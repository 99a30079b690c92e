//! Unusual-read alerts end to end (issue 17, item 3; docs/design/AUDIT.md §Unusual reads):
//! bob builds a baseline of small reads, then reads far more than ever; the detector (the
//! follower of the audit chain, under its lease) raises an alert with the numbers, audits it,
//! suspends bob (the mesh's response is `suspend`), and the dispatcher tells the product's
//! owner and the admin — never bob. While suspended, every surface refuses bob, also with a
//! credential, a recipient token and URLs handed out before; an admin acknowledges the alert
//! and lifts the suspension, and the very same credential and URLs serve again.
//!
//! Buckets are two seconds long here (a day in production), so a baseline of a few "days"
//! takes a few seconds.

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Mesh, Resp, assert_mentions};
use crate::roles::{
    FILES, Handles, ITEMS, ROWS, SURFACES, Surface, bobs_recipient_token, ds, ds_query, items_mesh,
    probe, raw_get, reads, share_items,
};
use crate::sharing::{ds_error, local};

const BUCKET_SECS: i64 = 2;
const PATIENCE: Duration = Duration::from_secs(30);

/// Sleeps until just after the next bucket starts, so the next read lands in a new bucket.
async fn next_bucket() {
    let now = chrono::Utc::now();
    let ms = now.timestamp_millis();
    let next = (ms.div_euclid(BUCKET_SECS * 1000) + 1) * BUCKET_SECS * 1000;
    let wait = u64::try_from(next - ms + 150).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Runs the dispatcher until the audit log is drained.
async fn dispatch(m: &Mesh) {
    while meshgate_server::notify::dispatch_once(&m.state)
        .await
        .expect("dispatch")
        > 0
    {}
}

/// `PATCH /audit/alert-settings` as `who`.
async fn tune(m: &Mesh, who: &str, changes: Value) -> Resp {
    m.send(
        "PATCH",
        "/api/v1/audit/alert-settings",
        Some(who),
        Some("application/json"),
        Body::from(changes.to_string()),
    )
    .await
}

async fn alerts(m: &Mesh, who: &str) -> Vec<Value> {
    let v = m.get(who, "/api/v1/audit/alerts").await.ok(StatusCode::OK);
    v.as_array().expect("an array").clone()
}

/// Asserts `surface` refuses bob as suspended.
async fn refused(m: &Mesh, h: &Handles, surface: Surface) {
    let msg = match surface {
        Surface::Sql => m
            .query("bob", &format!("SELECT item_id FROM {ITEMS}"))
            .await
            .error(StatusCode::FORBIDDEN, "suspended"),
        Surface::Rows => m
            .get("bob", &format!("{ROWS}?key=t1-2"))
            .await
            .error(StatusCode::FORBIDDEN, "suspended"),
        Surface::Credential => raw_get(m, "GET", &format!("{ROWS}?key=t1-1"), Some(&h.credential))
            .await
            .error(StatusCode::FORBIDDEN, "suspended"),
        Surface::Sharing => {
            let msg = ds_error(
                &ds(m, h, "/shares").await,
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
            );
            let query = ds_error(
                &ds_query(m, &h.recipient).await,
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
            );
            assert_mentions(&query, "suspended");
            msg
        }
        Surface::SharingUrl => ds_error(
            &raw_get(m, "GET", &local(&h.sharing_url), None).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        ),
        Surface::Files => m
            .get("bob", &format!("{FILES}/reports/a.csv"))
            .await
            .error(StatusCode::FORBIDDEN, "suspended"),
        Surface::SignedUrl => raw_get(m, "GET", &local(&h.signed_url), None)
            .await
            .error(StatusCode::FORBIDDEN, "suspended"),
    };
    assert_mentions(&msg, "principal `bob` is suspended");
}

#[tokio::test]
async fn an_unusual_read_alerts_the_owners_suspends_the_reader_everywhere_until_lifted() {
    let m = items_mesh().await;
    share_items(&m, "marketing.analytics").await;
    let recipient = bobs_recipient_token(&m).await;

    // Only admins see and tune alerts.
    m.get("alice", "/api/v1/audit/alerts")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    tune(&m, "alice", json!({"response": "alert"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    // Settings the detector cannot run with are refused, naming the field.
    let msg = tune(&m, "admin", json!({"min_history": 50}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "min_history");
    let msg = tune(&m, "admin", json!({"treshold": 3}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "treshold");
    let v = tune(
        &m,
        "admin",
        json!({
            "response": "suspend", "bucket_secs": BUCKET_SECS, "min_history": 2,
            "floor_rows": 0, "floor_bytes": 0, "floor_reads": 1000, "threshold": 3,
        }),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(v["settings"]["response"], "suspend", "{v}");
    assert_eq!(v["settings"]["max_factor"], 3.0, "untouched: {v}");

    // The detector runs on the replica holding its lease.
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(meshgate_server::replicas::singletons::run(
        m.state.clone(),
        stop.clone(),
    ));
    tokio::spawn(meshgate_server::audit::alerts::run(
        m.state.clone(),
        stop.clone(),
    ));

    // bob's first day: every surface (and what they hand out); then three days of one row.
    let h = reads(&m, &recipient).await;
    for _ in 0..3 {
        next_bucket().await;
        let rows = m
            .rows(
                "bob",
                &format!("SELECT item_id FROM {ITEMS} WHERE item_id = 't1-1'"),
            )
            .await;
        assert_eq!(rows.len(), 1);
    }
    // Nothing is unusual so far.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alerts(&m, "admin").await, Vec::<Value>::new());

    // Then 3^5 = 243 rows in one query: far above every day bob ever had.
    next_bucket().await;
    let big =
        format!("SELECT a.item_id FROM {ITEMS} a, {ITEMS} b, {ITEMS} c, {ITEMS} d, {ITEMS} e");
    assert_eq!(m.rows("bob", &big).await.len(), 243);

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let alert = loop {
        if let Some(a) = alerts(&m, "admin").await.into_iter().next() {
            break a;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no alert within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(alert["principal"], "bob", "{alert:#}");
    assert_eq!(alert["read_action"], "query.run", "{alert:#}");
    assert_eq!(alert["tables"], json!([ITEMS]), "{alert:#}");
    assert_eq!(alert["response"], "suspend", "{alert:#}");
    assert_eq!(alert["status"], "open", "{alert:#}");
    assert_eq!(alert["suspended"], true, "{alert:#}");
    let rows = alert["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["measure"] == "rows" && f["table"].is_null())
        .unwrap_or_else(|| panic!("a finding on bob's rows: {alert:#}"))
        .clone();
    assert_eq!(rows["observed"], 243.0, "{rows}");
    assert!(rows["threshold"].as_f64().unwrap() < 243.0, "{rows}");
    assert!(rows["history"].as_u64().unwrap() >= 2, "{rows}");
    assert_mentions(alert["summary"].as_str().unwrap(), "rows today 243");
    let id = alert["id"].as_str().unwrap().to_string();
    // Only that read: one alert.
    assert_eq!(alerts(&m, "admin").await.len(), 1);

    // Audited: the alert with its numbers, and the suspension.
    let raised = m.audit("action=alert.raised").await;
    assert_eq!(raised.len(), 1, "{raised:#?}");
    assert_eq!(raised[0]["object_id"], id.as_str());
    assert_eq!(raised[0]["actor"], "system");
    assert!(
        raised[0]["detail"]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    let suspend = m.audit("action=principal.suspend").await;
    assert_eq!(suspend.len(), 1, "{suspend:#?}");
    assert_eq!(suspend[0]["detail"]["alert"], id.as_str());
    let v = m
        .get("admin", "/api/v1/audit/suspensions")
        .await
        .ok(StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["principal"], "bob");
    assert_eq!(v[0]["alert_id"], id.as_str());

    // Suspended: every surface refuses bob, with what was handed out before too.
    for s in SURFACES {
        refused(&m, &h, s).await;
    }
    // Others read on: the share is untouched.
    assert_eq!(
        m.rows("alice", &format!("SELECT item_id FROM {ITEMS}"))
            .await
            .len(),
        3
    );

    // Told: the product's owner (alice) and the admin, with the numbers; not bob.
    dispatch(&m).await;
    for who in ["alice", "admin"] {
        let inbox = m.get(who, "/api/v1/notifications").await.ok(StatusCode::OK);
        let n = inbox
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["event"] == "unusual_read")
            .unwrap_or_else(|| panic!("{who} is told: {inbox:#}"))
            .clone();
        assert_eq!(n["alert_id"], id.as_str(), "{n}");
        assert_eq!(n["share_id"], Value::Null, "{n}");
        assert_mentions(n["title"].as_str().unwrap(), "bob");
        assert_mentions(n["body"].as_str().unwrap(), "rows today 243");
        assert_mentions(n["body"].as_str().unwrap(), "suspended");
        assert_mentions(
            n["link"].as_str().unwrap(),
            &format!("/api/v1/audit/alerts/{id}"),
        );
    }

    // Acknowledged, with a note; audited.
    let v = m
        .post(
            "admin",
            &format!("/api/v1/audit/alerts/{id}/acknowledge"),
            &json!({"note": "bob's quarterly export, agreed with alice"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "acknowledged", "{v}");
    assert_eq!(v["note"], "bob's quarterly export, agreed with alice");
    let open = m
        .get("admin", "/api/v1/audit/alerts?status=open")
        .await
        .ok(StatusCode::OK);
    assert_eq!(open, json!([]));
    assert_eq!(m.audit("action=alert.acknowledge").await.len(), 1);
    m.get("admin", "/api/v1/audit/alerts/not-an-id")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // Lifted: the very same credential, recipient token and URLs serve again.
    let r = m.delete("admin", "/api/v1/audit/suspensions/bob").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    for s in SURFACES {
        probe(&m, &h, s, true).await;
    }
    assert_eq!(m.audit("action=principal.unsuspend").await.len(), 1);
    m.delete("admin", "/api/v1/audit/suspensions/bob")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}
