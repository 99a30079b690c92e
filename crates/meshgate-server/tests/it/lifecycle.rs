//! The whole share lifecycle (docs/design/LIFECYCLE.md) through the HTTP API: items of every kind, adding
//! and removing items, expiry and extensions, auto-approval, archiving, verification and
//! re-application, modification, local names, processor logs, scheduled tasks, and many
//! clients racing on one share.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::common::{Mesh, assert_mentions};

/// The first table of a product, by name.
async fn first_table(m: &Mesh, product: &str) -> String {
    let (d, p) = product.split_once('.').unwrap();
    let v = m
        .get("admin", &format!("/api/v1/products/{d}/{p}"))
        .await
        .ok(StatusCode::OK);
    v["tables"][0]["name"].as_str().unwrap().to_string()
}

fn item_statuses(share: &Value) -> Vec<String> {
    share["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_string())
        .collect()
}

async fn count(m: &Mesh, who: &str, sql: &str) -> i64 {
    let rows = m.rows(who, sql).await;
    rows[0]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn invalid_transitions_are_409_naming_state_and_allowed_actions_and_repeats_are_no_ops() {
    let m = Mesh::demo().await;
    let share = m.request_access("bob", "sales.orders").await;
    // bob cannot approve his own request, and an extension of a submitted share is refused
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/extend"),
            &json!({
                "expires_at": (Utc::now() + Duration::days(30)).to_rfc3339(), "reason": "more"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert_mentions(&msg, "`submitted`");
    assert_mentions(&msg, "approve");
    // approve, then approve again: the same decision, a no-op
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
    let again = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        again["version"], v["version"],
        "a repeated approval changes nothing"
    );
    // rejecting a processed share is not allowed
    let r = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/reject"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_mentions(
        r.json()["error"]["message"].as_str().unwrap(),
        "`processed`",
    );
}

#[tokio::test]
async fn add_and_remove_items_move_the_share_back_to_draft_and_resubmit() {
    let m = Mesh::demo().await;
    let table = first_table(&m, "sales.customers").await;
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.customers", "reason": "crm", "tables": [table],
            }),
        )
        .await
        .ok(StatusCode::CREATED);
    let share = v["id"].as_str().unwrap().to_string();
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    // add a folder and the whole product: processed → draft
    let v = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/items"),
            &json!({
                "folders": ["reports/2026"], "whole_product": true
            }),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "draft", "{v}");
    assert_eq!(v["summary"]["shared"], 1);
    assert_eq!(v["summary"]["pending"], 2);
    let folder = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "folder")
        .unwrap();
    assert_eq!(folder["folder"], "reports/2026/");
    // no extension while items wait for approval (their decision would be lost)
    let until = (Utc::now() + Duration::days(30)).to_rfc3339();
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/extend"),
            &json!({"expires_at": until, "reason": "more"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::CONFLICT, "conflict"),
        "pending approval",
    );
    // the same table again is a conflict; a traversal is refused
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/items"),
            &json!({"tables": [table]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/items"),
            &json!({"folders": ["../etc"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // remove the whole-product item while pending; a shared item cannot be removed
    let product_item = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "product")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let table_item = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "table")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = m
        .delete(
            "bob",
            &format!("/api/v1/shares/{share}/items/{product_item}"),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let r = m
        .delete("bob", &format!("/api/v1/shares/{share}/items/{table_item}"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // submit, approve: the folder gets its file grant
    m.post("bob", &format!("/api/v1/shares/{share}/submit"), &json!({}))
        .await
        .ok(StatusCode::OK);
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
    assert_eq!(
        item_statuses(&v),
        vec!["share_succeeded", "share_succeeded"]
    );
    let files = m
        .state
        .store
        .file_grants_of_share(share.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].prefix, "reports/2026/");
    // the folder item gives exactly its prefix of the product's files, also by signed URL
    for path in ["reports/2026/q1.csv", "raw/x.csv"] {
        let r = m
            .put_raw(
                "alice",
                &format!("/api/v1/products/sales/customers/files/{path}"),
                "text/csv",
                "a,b\n1,2\n",
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text());
    }
    let r = m
        .get(
            "bob",
            "/api/v1/products/sales/customers/files/reports/2026/q1.csv",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "a,b\n1,2\n");
    let r = m
        .get("bob", "/api/v1/products/sales/customers/files/raw/x.csv")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let signed = m
        .post(
            "bob",
            "/api/v1/products/sales/customers/files/sign",
            &json!({"path": "reports/2026/q1.csv"}),
        )
        .await
        .ok(StatusCode::OK);
    assert!(
        signed["url"].as_str().unwrap().contains("/files/v1/"),
        "{signed}"
    );
    // the logs tell what each run did
    let logs = m
        .get("alice", &format!("/api/v1/shares/{share}/logs"))
        .await
        .ok(StatusCode::OK);
    let text = logs.to_string();
    assert!(text.contains("folder reports/2026/: granted"), "{text}");
    assert!(text.contains("process_share"), "{text}");
}

#[tokio::test]
async fn whole_product_items_grant_every_table_and_local_names_alias_them() {
    let m = Mesh::demo().await;
    let table = first_table(&m, "sales.orders").await;
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.orders", "reason": "everything", "whole_product": true
            }),
        )
        .await
        .ok(StatusCode::CREATED);
    let share = v["id"].as_str().unwrap().to_string();
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["summary"]["shared"], 1, "{v}");
    let n = count(
        &m,
        "bob",
        &format!("SELECT count(*) AS n FROM sales.orders.{table}"),
    )
    .await;
    assert_eq!(n, 100_000);
    // the consumer names the share `shop`: its tables also appear as shop.<table>
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/finalize"),
            &json!({"local_name": "shop"}),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK)["local_name"], "shop");
    let n2 = count(
        &m,
        "bob",
        &format!("SELECT count(*) AS n FROM shop.{table}"),
    )
    .await;
    assert_eq!(n2, n);
    // reserved and duplicate names are refused
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/finalize"),
            &json!({"local_name": "default"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let other = m.request_access("bob", "sales.customers").await;
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{other}/finalize"),
            &json!({"local_name": "shop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // list-product-access shows both names
    let access = m.get("bob", "/api/v1/access").await.ok(StatusCode::OK);
    let text = access.to_string();
    assert!(text.contains(&format!("shop.{table}")), "{text}");
}

#[tokio::test]
async fn expiry_rules_extensions_and_scheduled_expiry() {
    let m = Mesh::demo().await;
    m.put(
        "alice",
        "/api/v1/products/sales/orders/share-settings",
        &json!({
            "expiry_required": true, "min_days": 1, "max_days": 90
        }),
    )
    .await
    .ok(StatusCode::OK);
    // no expiry, too long: refused with the rule
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "r"}),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "expiring",
    );
    let r = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.orders", "reason": "r",
                "expires_at": (Utc::now() + Duration::days(400)).to_rfc3339()
            }),
        )
        .await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "at most 90 days",
    );
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.orders", "reason": "r",
                "expires_at": (Utc::now() + Duration::days(5)).to_rfc3339()
            }),
        )
        .await
        .ok(StatusCode::CREATED);
    let share = v["id"].as_str().unwrap().to_string();
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert!(v["expires_at"].is_string(), "{v}");
    // extension: pending_extension keeps access; approval moves the expiry
    let until = (Utc::now() + Duration::days(60)).to_rfc3339();
    let v = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/extend"),
            &json!({"expires_at": until, "reason": "q3 too"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "submitted_for_extension");
    assert_eq!(item_statuses(&v), vec!["pending_extension"]);
    let table = first_table(&m, "sales.orders").await;
    assert_eq!(
        count(
            &m,
            "bob",
            &format!("SELECT count(*) AS n FROM sales.orders.{table}")
        )
        .await,
        100_000
    );
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/extension/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the requester cannot approve its own extension"
    );
    let v = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/extension/approve"),
            &json!({"notes": "ok"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed");
    assert_eq!(item_statuses(&v), vec!["share_succeeded"]);
    let expires: chrono::DateTime<Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > Utc::now() + Duration::days(59), "{v}");
    // a rejected extension leaves the expiry
    let v = m.post("bob", &format!("/api/v1/shares/{share}/extend"), &json!({"expires_at": (Utc::now() + Duration::days(80)).to_rfc3339(), "reason": "more"})).await.ok(StatusCode::OK);
    assert_eq!(v["status"], "submitted_for_extension");
    let v = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/extension/reject"),
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "extension_rejected");
    let again: chrono::DateTime<Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(again, expires);

    // The scheduler: a share that expired is revoked; one expiring soon gets one reminder.
    let sid: uuid::Uuid = share.parse().unwrap();
    let detail = m.state.store.get_share(sid).await.unwrap().unwrap();
    m.state
        .store
        .apply_share_change(meshgate_store::ShareChange {
            share_id: sid,
            expected_version: detail.share.version,
            terms: Some(meshgate_core::model::ShareTerms {
                expires_at: Some(Utc::now() - Duration::seconds(1)),
                ..detail.share.terms.clone()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let soon = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.orders", "reason": "soon",
                "expires_at": (Utc::now() + Duration::days(2)).to_rfc3339()
            }),
        )
        .await
        .ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_string();
    m.approve("alice", &soon, &json!({}))
        .await
        .ok(StatusCode::OK);
    meshgate_server::shares::run_scheduled_tasks(&m.state)
        .await
        .unwrap();
    meshgate_server::shares::run_scheduled_tasks(&m.state)
        .await
        .unwrap();
    // the worker finishes the revocation
    for _ in 0..100 {
        if m.share("bob", &share).await["summary"]["revoked"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let v = m.share("bob", &share).await;
    assert_eq!(v["summary"]["revoked"], 1, "{v}");
    let expired = m
        .audit(&format!("action=share.expire&object={share}"))
        .await;
    assert_eq!(expired.len(), 1);
    let reminders = m
        .audit(&format!("action=share.expiring&object={soon}"))
        .await;
    assert_eq!(reminders.len(), 1, "one reminder, not one per tick");
    // a request whose expiry passes before anyone decides cannot be approved
    let late = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.customers", "reason": "late",
                "expires_at": (Utc::now() + Duration::milliseconds(1500)).to_rfc3339()
            }),
        )
        .await
        .ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let r = m.approve("alice", &late, &json!({})).await;
    assert_mentions(&r.error(StatusCode::CONFLICT, "conflict"), "has passed");
}

#[tokio::test]
async fn auto_approval_by_requester_domain() {
    let m = Mesh::demo().await;
    m.put(
        "alice",
        "/api/v1/products/sales/orders/share-settings",
        &json!({
            "auto_approve": {"requester_domains": ["marketing"]}
        }),
    )
    .await
    .ok(StatusCode::OK);
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "dash"}),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["status"], "processed", "{v}");
    assert_mentions(v["decision_notes"].as_str().unwrap(), "marketing");
    let events = m.audit("action=share.approve").await;
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == "system" && e["detail"]["extra"]["auto"] == true),
        "{events:?}"
    );
    // an unknown domain in the rule is refused
    let r = m
        .put(
            "alice",
            "/api/v1/products/sales/orders/share-settings",
            &json!({
                "auto_approve": {"requester_domains": ["nope"]}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn delete_archives_and_force_revokes_first() {
    let m = Mesh::demo().await;
    let share = m.request_access("bob", "sales.orders").await;
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let del = |reason: &str, force: bool| json!({"reason": reason, "force": force});
    let r = m
        .send(
            "DELETE",
            &format!("/api/v1/shares/{share}"),
            Some("bob"),
            Some("application/json"),
            axum::body::Body::from(del("done", false).to_string()),
        )
        .await;
    assert_mentions(&r.error(StatusCode::CONFLICT, "conflict"), "force");
    let r = m
        .send(
            "DELETE",
            &format!("/api/v1/shares/{share}"),
            Some("bob"),
            Some("application/json"),
            axum::body::Body::from(del("project over", true).to_string()),
        )
        .await;
    let v = r.ok(StatusCode::OK);
    assert_eq!(v["status"], "deleted");
    assert_eq!(v["deleted_reason"], "project over");
    assert_eq!(v["summary"]["revoked"], 1);
    assert!(
        v["items"][0]["health"].is_null(),
        "a revoked item has no health: {v}"
    );
    // the record stays readable; the grants are gone
    let v = m.share("alice", &share).await;
    assert_eq!(v["status"], "deleted");
    assert!(
        m.state
            .store
            .grants_of_share(share.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    let table = first_table(&m, "sales.orders").await;
    let r = m
        .query("bob", &format!("SELECT count(*) FROM sales.orders.{table}"))
        .await;
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn verify_finds_a_lost_grant_and_reapply_restores_it() {
    let m = Mesh::demo().await;
    let share = m.request_access("bob", "sales.orders").await;
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"][0]["health"], "healthy", "{v}");
    let item: uuid::Uuid = v["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let sid: uuid::Uuid = share.parse().unwrap();
    // sabotage: the grant disappears behind meshgate's back
    let d = m.state.store.get_share(sid).await.unwrap().unwrap();
    m.state
        .store
        .apply_share_change(meshgate_store::ShareChange {
            share_id: sid,
            expected_version: d.share.version,
            grants_to_remove: vec![item],
            ..Default::default()
        })
        .await
        .unwrap();
    let v = m
        .post("bob", &format!("/api/v1/shares/{share}/verify"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"][0]["health"], "unhealthy", "{v}");
    assert_mentions(v["items"][0]["health_message"].as_str().unwrap(), "missing");
    assert_eq!(v["status"], "processed", "verify changes no status");
    assert_eq!(
        m.audit(&format!("action=share.unhealthy&object={share}"))
            .await
            .len(),
        1
    );
    // only approvers re-apply
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/reapply"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let v = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/reapply"),
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"][0]["health"], "healthy", "{v}");
    let table = first_table(&m, "sales.orders").await;
    assert_eq!(
        count(
            &m,
            "bob",
            &format!("SELECT count(*) AS n FROM sales.orders.{table}")
        )
        .await,
        100_000
    );
    // bulk verification of the product
    let b = m
        .post("alice", "/api/v1/products/sales/orders/verify", &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(b["items"], 1);
    assert_eq!(b["healthy"], 1);
}

#[tokio::test]
async fn modify_subscription_narrows_a_processed_item() {
    let m = Mesh::demo().await;
    let share = m.request_access("bob", "sales.customers").await;
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let item = v["items"][0]["id"].as_str().unwrap().to_string();
    let table = first_table(&m, "sales.customers").await;
    let before = m
        .rows(
            "bob",
            &format!("SELECT * FROM sales.customers.{table} LIMIT 1"),
        )
        .await;
    let cols = before[0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert!(cols.len() > 2);
    let keep = vec![cols[0].clone()];
    let r = m
        .post(
            "bob",
            &format!("/api/v1/shares/{share}/items/{item}/modify"),
            &json!({"columns": keep}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "requesters do not modify grants"
    );
    let v = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/items/{item}/modify"),
            &json!({"columns": keep, "notes": "least privilege"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"][0]["health"], "healthy", "{v}");
    assert_eq!(v["items"][0]["scope"]["columns"], json!(keep));
    let after = m
        .rows(
            "bob",
            &format!("SELECT * FROM sales.customers.{table} LIMIT 1"),
        )
        .await;
    assert_eq!(after[0].as_object().unwrap().len(), 1, "{after:?}");
    assert_eq!(
        m.audit(&format!("action=share.modify&object={share}"))
            .await
            .len(),
        1
    );
}

/// ≥ 32 clients approve, revoke, add and remove items, submit and reject on one share at once:
/// each answer is a success or a 409 (never a 5xx or a silent overwrite), and the final state
/// is consistent: every shared table item has exactly one grant, nothing else has any, and no
/// share or item is left in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_racing_on_one_share_leave_a_valid_state() {
    let m = std::sync::Arc::new(Mesh::demo().await);
    let tables: Vec<String> = {
        let v = m
            .get("admin", "/api/v1/products/sales/orders")
            .await
            .ok(StatusCode::OK);
        let mut t: Vec<String> = v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        let c = m
            .get("admin", "/api/v1/products/sales/customers")
            .await
            .ok(StatusCode::OK);
        let _ = c;
        t.truncate(1);
        t
    };
    let share = m.request_access("bob", "sales.orders").await;
    let mut tasks = Vec::new();
    for client in 0..32u64 {
        let m = m.clone();
        let share = share.clone();
        let tables = tables.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut rng = client
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for _ in 0..6 {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (rng >> 33) % 7;
                let r = match pick {
                    0 | 1 => {
                        m.post(
                            "alice",
                            &format!("/api/v1/shares/{share}/approve"),
                            &json!({}),
                        )
                        .await
                    }
                    2 => {
                        m.post(
                            "carol",
                            &format!("/api/v1/shares/{share}/revoke"),
                            &json!({}),
                        )
                        .await
                    }
                    3 => {
                        m.post(
                            "bob",
                            &format!("/api/v1/shares/{share}/items"),
                            &json!({"folders": [format!("f{}/", rng % 3)]}),
                        )
                        .await
                    }
                    4 => {
                        let v = m.share("bob", &share).await;
                        let removable = v["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|i| {
                                matches!(
                                    i["status"].as_str(),
                                    Some(
                                        "pending_approval"
                                            | "share_rejected"
                                            | "share_failed"
                                            | "revoke_succeeded"
                                    )
                                )
                            })
                            .map(|i| i["id"].as_str().unwrap().to_string());
                        match removable {
                            Some(item) => {
                                m.delete("bob", &format!("/api/v1/shares/{share}/items/{item}"))
                                    .await
                            }
                            None => continue,
                        }
                    }
                    5 => {
                        m.post("bob", &format!("/api/v1/shares/{share}/submit"), &json!({}))
                            .await
                    }
                    _ => {
                        m.post(
                            "bob",
                            &format!("/api/v1/shares/{share}/items"),
                            &json!({"tables": tables}),
                        )
                        .await
                    }
                };
                assert!(
                    r.status == StatusCode::OK
                        || r.status == StatusCode::CONFLICT
                        // the item another client removed first is gone
                        || (r.status == StatusCode::NOT_FOUND && pick == 4),
                    "client {client} action {pick}: {} {}",
                    r.status,
                    r.text()
                );
                if r.status == StatusCode::CONFLICT {
                    r.error(
                        StatusCode::CONFLICT,
                        r.json()["error"]["code"].as_str().unwrap(),
                    );
                }
                seen.push(r.status);
            }
            seen
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            if s == StatusCode::OK {
                ok += 1
            } else if s == StatusCode::CONFLICT {
                conflicts += 1
            }
        }
    }
    assert!(ok > 0, "some actions succeed");
    // let the worker drain
    assert!(m.jobs_drained(std::time::Duration::from_secs(10)).await);
    let sid: uuid::Uuid = share.parse().unwrap();
    let d = m.state.store.get_share(sid).await.unwrap().unwrap();
    use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
    assert!(
        !matches!(
            d.share.status,
            ShareStatus::ShareInProgress
                | ShareStatus::RevokeInProgress
                | ShareStatus::Approved
                | ShareStatus::Revoked
        ),
        "left in {}",
        d.share.status
    );
    let grants = m.state.store.grants_of_share(sid).await.unwrap();
    let files = m.state.store.file_grants_of_share(sid).await.unwrap();
    for item in &d.items {
        assert!(
            !matches!(
                item.status,
                ItemStatus::ShareInProgress
                    | ItemStatus::RevokeInProgress
                    | ItemStatus::ShareApproved
                    | ItemStatus::RevokeApproved
            ),
            "item left in {}",
            item.status
        );
        let n = grants.iter().filter(|g| g.share_item_id == item.id).count()
            + files.iter().filter(|g| g.share_item_id == item.id).count();
        let want = usize::from(matches!(
            item.status,
            ItemStatus::ShareSucceeded | ItemStatus::RevokeFailed | ItemStatus::PendingExtension
        ));
        assert_eq!(
            n, want,
            "item {} in {} has {n} grants",
            item.id, item.status
        );
    }
    eprintln!("{ok} successes, {conflicts} conflicts");
}

/// Items added after an approved extension are approved under the expiry in force, not the
/// one first requested.
#[tokio::test]
async fn approving_added_items_keeps_an_extended_expiry() {
    let m = Mesh::demo().await;
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "r",
                    "expires_at": (Utc::now() + Duration::days(5)).to_rfc3339()}),
        )
        .await
        .ok(StatusCode::CREATED);
    let share = v["id"].as_str().unwrap().to_string();
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let until = (Utc::now() + Duration::days(60)).to_rfc3339();
    m.post(
        "bob",
        &format!("/api/v1/shares/{share}/extend"),
        &json!({"expires_at": until, "reason": "longer"}),
    )
    .await
    .ok(StatusCode::OK);
    let v = m
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/extension/approve"),
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    let extended = v["expires_at"].clone();
    m.post(
        "bob",
        &format!("/api/v1/shares/{share}/items"),
        &json!({"folders": ["exports/"]}),
    )
    .await
    .ok(StatusCode::OK);
    m.post("bob", &format!("/api/v1/shares/{share}/submit"), &json!({}))
        .await
        .ok(StatusCode::OK);
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
    assert_eq!(v["expires_at"], extended, "{v}");
}
