//! Regression tests for the boundaries of docs/design/SECURITY.md that are not route walks
//! (those are in `routes.rs`): data-plane credentials on the share lifecycle, separation of
//! duties, and registered-table and staging paths.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{Mesh, assert_mentions};

/// Carol, steward of `sales.core`, vends a credential; bob (marketing.analytics) requests
/// `sales.people`. The credential can neither approve, modify, revoke nor read the share,
/// nor revoke carol's API tokens.
#[tokio::test]
async fn a_credential_cannot_act_on_the_share_lifecycle_or_tokens() {
    let m = Mesh::demo().await;
    m.add_people().await;
    let cred = m
        .post(
            "carol",
            "/api/v1/credentials",
            &json!({"tables": ["sales.people.people"], "actions": ["read"]}),
        )
        .await
        .ok(StatusCode::CREATED);
    let cred = cred["token"].as_str().unwrap().to_string();
    let share = m.request_access("bob", "sales.people").await;
    let tokens = m.get("carol", "/api/v1/tokens").await.ok(StatusCode::OK);
    let token_id = tokens[0]["id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        ("POST", format!("/api/v1/shares/{share}/approve"), "{}"),
        ("POST", format!("/api/v1/shares/{share}/reject"), "{}"),
        ("POST", format!("/api/v1/shares/{share}/revoke"), "{}"),
        ("GET", format!("/api/v1/shares/{share}"), ""),
        ("GET", format!("/api/v1/shares/{share}/logs"), ""),
        ("DELETE", format!("/api/v1/tokens/{token_id}"), ""),
        ("GET", "/api/v1/tokens".to_string(), ""),
        (
            "POST",
            "/api/v1/credentials".to_string(),
            r#"{"tables":["sales.people.people"],"actions":["read"]}"#,
        ),
    ] {
        let r = m
            .send_bearer(
                method,
                &path,
                Some(&cred),
                Some("application/json"),
                axum::body::Body::from(body),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text()
        );
        assert_mentions(&r.text(), "credential");
    }
    // Nothing happened: the share still waits, carol's token still works.
    assert_eq!(m.share("alice", &share).await["status"], "submitted");
    m.get("carol", "/api/v1/whoami").await.ok(StatusCode::OK);
}

/// Carol is a steward of `sales.core` and, here, also a member of `marketing.analytics`.
async fn carol_in_both(m: &Mesh) {
    m.put(
        "admin",
        "/api/v1/domains/marketing/teams/analytics/members/carol",
        &json!({"role": "member"}),
    )
    .await
    .ok(StatusCode::OK);
}

#[tokio::test]
async fn nobody_approves_or_modifies_a_request_of_their_own_team() {
    let m = Mesh::demo().await;
    m.add_people().await;
    carol_in_both(&m).await;
    // bob's team asks; carol is in that team: she may not approve it.
    let share = m.request_access("bob", "sales.people").await;
    let r = m.approve("carol", &share, &json!({})).await;
    let msg = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "separation of duties");
    assert_eq!(m.share("alice", &share).await["status"], "submitted");
    // Alice (owner, not in the requesting team) may.
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    // Nor may carol modify the grant she could not give.
    let v = m.share("alice", &share).await;
    let item = v["items"][0]["id"].as_str().unwrap();
    let r = m
        .post(
            "carol",
            &format!("/api/v1/shares/{share}/items/{item}/modify"),
            &json!({"masks": {"email": "redact"}}),
        )
        .await;
    let msg = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "separation of duties");
    // Her own request, as a principal, neither.
    let own = m
        .post(
            "carol",
            "/api/v1/shares",
            &json!({"product": "sales.people", "reason": "mine", "team": "marketing.analytics"}),
        )
        .await;
    if own.status == StatusCode::CREATED {
        let id = own.json()["id"].as_str().unwrap().to_string();
        let r = m.approve("carol", &id, &json!({})).await;
        r.error(StatusCode::FORBIDDEN, "forbidden");
    }
    // Admins are held to it too.
    m.put(
        "admin",
        "/api/v1/domains/marketing/teams/analytics/members/admin",
        &json!({"role": "member"}),
    )
    .await
    .ok(StatusCode::OK);
    let again = m.request_access("bob", "sales.people").await;
    let r = m.approve("admin", &again, &json!({})).await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_mesh_that_allows_self_approval_audits_it() {
    let m = Mesh::demo_with(|c| c.lifecycle.allow_self_approval = true).await;
    m.add_people().await;
    carol_in_both(&m).await;
    let share = m.request_access("bob", "sales.people").await;
    m.approve("carol", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let events = m.audit("action=share.self_decision").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["object_id"], share.as_str());
}
