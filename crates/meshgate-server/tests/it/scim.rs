//! SCIM 2.0 provisioning at `/scim/v2` (docs/design/SIGN_IN.md §SCIM): SCIM tokens, each
//! operation on Users and Groups, filters, paging, PATCH (deactivation, membership), the
//! SCIM error bodies, and that deactivating a user stops every credential it has at the
//! next request. scim2-tester runs against a real server in CI (`.ci/run`).

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Mesh, Resp, assert_mentions};

const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A SCIM token of the service principal `okta`, made by the admin.
async fn scim_token(m: &Mesh) -> String {
    let r = m
        .post(
            "admin",
            "/api/v1/principals",
            &json!({"name": "okta", "kind": "service"}),
        )
        .await;
    assert!(
        matches!(r.status, StatusCode::CREATED | StatusCode::CONFLICT),
        "{}",
        r.text()
    );
    let v = m
        .post(
            "admin",
            "/api/v1/tokens",
            &json!({"principal": "okta", "scope": "scim", "name": "okta scim"}),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["scope"], "scim");
    v["token"].as_str().unwrap().to_string()
}

async fn scim(m: &Mesh, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    m.send_bearer(
        method,
        &format!("/scim/v2{path}"),
        Some(token),
        Some("application/scim+json"),
        body,
    )
    .await
}

/// Asserts a SCIM error body with `status` (and `scim_type`, if given); returns the detail.
fn scim_error(r: &Resp, status: StatusCode, scim_type: Option<&str>) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.content_type(), "application/scim+json", "{}", r.text());
    let v = r.json();
    assert_eq!(v["schemas"], json!([ERROR_URN]), "{v}");
    assert_eq!(v["status"], status.as_u16().to_string(), "{v}");
    if let Some(t) = scim_type {
        assert_eq!(v["scimType"], t, "{v}");
    }
    let detail = v["detail"].as_str().unwrap().to_string();
    assert!(!detail.is_empty());
    detail
}

fn ok(r: &Resp, status: StatusCode) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.content_type(), "application/scim+json");
    r.json()
}

async fn user_id(m: &Mesh, token: &str, user_name: &str) -> String {
    let filter =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{user_name}\"").as_bytes())
            .collect::<String>();
    let v = ok(
        &scim(m, token, "GET", &format!("/Users?filter={filter}"), None).await,
        StatusCode::OK,
    );
    assert_eq!(v["totalResults"], 1, "{v}");
    v["Resources"][0]["id"].as_str().unwrap().to_string()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[tokio::test]
async fn scim_tokens_are_made_by_admins_and_open_scim_only() {
    let m = Mesh::demo().await;
    // Only admins make SCIM tokens.
    let r = m
        .post("alice", "/api/v1/tokens", &json!({"scope": "scim"}))
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    let r = m
        .post("admin", "/api/v1/tokens", &json!({"scope": "bogus"}))
        .await;
    r.error(StatusCode::BAD_REQUEST, "invalid_request");
    let token = scim_token(&m).await;
    let listed = m
        .get("admin", "/api/v1/tokens?principal=okta")
        .await
        .ok(StatusCode::OK);
    assert_eq!(listed[0]["scope"], "scim");
    // A SCIM token opens nothing but /scim/v2...
    for path in [
        "/api/v1/whoami",
        "/api/v1/principals",
        "/delta-sharing/shares",
    ] {
        let r = m
            .send_bearer("GET", path, Some(&token), None, Body::empty())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.text());
        assert!(r.text().contains("SCIM"), "{path}: {}", r.text());
    }
    let v = ok(
        &scim(&m, &token, "GET", "/Users", None).await,
        StatusCode::OK,
    );
    assert_eq!(
        v["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    // ...and /scim/v2 takes nothing but a SCIM token: not an admin's API token, no token, a
    // malformed or oversized one.
    let r = scim(&m, &m.token("admin"), "GET", "/Users", None).await;
    assert_mentions(
        &scim_error(&r, StatusCode::UNAUTHORIZED, None),
        "not a SCIM token",
    );
    let r = m
        .send_bearer("GET", "/scim/v2/Users", None, None, Body::empty())
        .await;
    assert_mentions(
        &scim_error(&r, StatusCode::UNAUTHORIZED, None),
        "missing bearer token",
    );
    assert!(r.headers.get("www-authenticate").is_some());
    let long = "x".repeat(10_000);
    let r = scim(&m, &long, "GET", "/Users", None).await;
    assert_mentions(
        &scim_error(&r, StatusCode::UNAUTHORIZED, None),
        "longer than",
    );
    let r = scim(&m, "mgt_nope", "GET", "/Users", None).await;
    scim_error(&r, StatusCode::UNAUTHORIZED, None);
    let mut req = axum::http::Request::builder()
        .uri("/scim/v2/Users")
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
    req = req.header("x-test", "1");
    let r = tower::ServiceExt::oneshot(m.app.clone(), req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Revoked: refused.
    let id = listed[0]["id"].as_str().unwrap();
    m.delete("admin", &format!("/api/v1/tokens/{id}"))
        .await
        .ok(StatusCode::OK);
    let r = scim(&m, &token, "GET", "/Users", None).await;
    scim_error(&r, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn discovery_documents_describe_users_and_groups() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    let spc = ok(
        &scim(&m, &t, "GET", "/ServiceProviderConfig", None).await,
        StatusCode::OK,
    );
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    let types = ok(
        &scim(&m, &t, "GET", "/ResourceTypes", None).await,
        StatusCode::OK,
    );
    assert_eq!(types["totalResults"], 2);
    let user = ok(
        &scim(&m, &t, "GET", "/ResourceTypes/User", None).await,
        StatusCode::OK,
    );
    assert_eq!(user["endpoint"], "/Users");
    let schemas = ok(&scim(&m, &t, "GET", "/Schemas", None).await, StatusCode::OK);
    assert_eq!(schemas["Resources"].as_array().unwrap().len(), 2);
    let schema = ok(
        &scim(&m, &t, "GET", &format!("/Schemas/{USER_URN}"), None).await,
        StatusCode::OK,
    );
    assert_eq!(schema["id"], USER_URN);
    for path in [
        "/Schemas/urn:nope",
        "/ResourceTypes/Printer",
        "/Printers",
        "/Users/not-an-id",
    ] {
        scim_error(
            &scim(&m, &t, "GET", path, None).await,
            StatusCode::NOT_FOUND,
            None,
        );
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = scim(&m, &t, method, "/ServiceProviderConfig", Some(&json!({}))).await;
        scim_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    }
}

#[tokio::test]
async fn users_are_created_found_listed_replaced_and_deleted() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    let ann = json!({
        "schemas": [USER_URN],
        "userName": "Ann.Lee@example.com",
        "externalId": "00u1",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"},
    });
    let r = scim(&m, &t, "POST", "/Users", Some(&ann)).await;
    let created = ok(&r, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        created["meta"]["location"].as_str().unwrap()
    );
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(created["userName"], "Ann.Lee@example.com");
    assert_eq!(created["externalId"], "00u1");
    assert_eq!(created["emails"][0]["value"], "ann@example.com");
    assert_eq!(created["active"], true);
    assert!(
        created
            .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            .is_none()
    );
    // It is a principal, named from its userName, shown by its name.
    let p = m
        .get("admin", "/api/v1/principals/ann-lee")
        .await
        .ok(StatusCode::OK);
    assert_eq!(p["login"], "Ann.Lee@example.com");
    assert_eq!(p["display_name"], "Ann Lee");
    assert_eq!(p["id"], id.as_str());
    let events = m.audit("action=principal.provision").await;
    let e = events
        .iter()
        .find(|e| e["object_id"] == id.as_str())
        .unwrap();
    assert_eq!(e["detail"]["source"], "scim");
    // userName is unique whatever the case, across kinds too.
    let r = scim(
        &m,
        &t,
        "POST",
        "/Users",
        Some(&json!({"userName": "ann.lee@EXAMPLE.com"})),
    )
    .await;
    assert_mentions(
        &scim_error(&r, StatusCode::CONFLICT, Some("uniqueness")),
        "exists already",
    );
    let r = scim(
        &m,
        &t,
        "POST",
        "/Users",
        Some(&json!({"userName": "Alice"})),
    )
    .await;
    scim_error(&r, StatusCode::CONFLICT, Some("uniqueness"));
    // Get, and find by userName (the demo's users without a login are found by name).
    let got = ok(
        &scim(&m, &t, "GET", &format!("/Users/{id}"), None).await,
        StatusCode::OK,
    );
    assert_eq!(got, created);
    assert_eq!(user_id(&m, &t, "ann.lee@EXAMPLE.COM").await, id);
    user_id(&m, &t, "alice").await;
    // More users, then paging, sorting, attributes.
    for n in ["zed", "yan", "xia"] {
        let r = scim(
            &m,
            &t,
            "POST",
            "/Users",
            Some(&json!({"userName": format!("{n}@example.com")})),
        )
        .await;
        ok(&r, StatusCode::CREATED);
    }
    let all = ok(&scim(&m, &t, "GET", "/Users", None).await, StatusCode::OK);
    let total = all["totalResults"].as_u64().unwrap();
    assert!(total >= 7, "{all}");
    let page = ok(
        &scim(&m, &t, "GET", "/Users?startIndex=2&count=2", None).await,
        StatusCode::OK,
    );
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["startIndex"].as_u64()
        ),
        (Some(total), Some(2), Some(2))
    );
    assert_eq!(page["Resources"][0]["id"], all["Resources"][1]["id"]);
    let none = ok(
        &scim(&m, &t, "GET", "/Users?count=0", None).await,
        StatusCode::OK,
    );
    assert_eq!(none["Resources"], json!([]));
    assert_eq!(none["totalResults"].as_u64(), Some(total));
    let sorted = ok(
        &scim(
            &m,
            &t,
            "GET",
            "/Users?sortBy=userName&sortOrder=descending&filter=userName%20ew%20%22example.com%22",
            None,
        )
        .await,
        StatusCode::OK,
    );
    let names: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "zed@example.com",
            "yan@example.com",
            "xia@example.com",
            "Ann.Lee@example.com"
        ]
    );
    let slim = ok(
        &scim(
            &m,
            &t,
            "GET",
            &format!("/Users/{id}?attributes=userName,name.givenName"),
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        slim,
        json!({"schemas": [USER_URN], "id": id, "userName": "Ann.Lee@example.com", "name": {"givenName": "Ann"}})
    );
    let without = ok(
        &scim(
            &m,
            &t,
            "GET",
            "/Users?excludedAttributes=emails,meta&filter=externalId%20eq%20%2200u1%22",
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(without["totalResults"], 1);
    assert!(
        without["Resources"][0].get("emails").is_none()
            && without["Resources"][0].get("meta").is_none()
    );
    let searched = ok(
        &scim(
            &m,
            &t,
            "POST",
            "/Users/.search",
            Some(&json!({"filter": "emails[type eq \"work\"]", "attributes": ["userName"]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(searched["totalResults"], 1);
    // Replace: a new userName, no emails.
    let replaced =
        json!({"schemas": [USER_URN], "userName": "ann@example.org", "displayName": "Ann L."});
    let v = ok(
        &scim(&m, &t, "PUT", &format!("/Users/{id}"), Some(&replaced)).await,
        StatusCode::OK,
    );
    assert_eq!(v["userName"], "ann@example.org");
    assert!(
        v.get("emails").is_none() && v.get("externalId").is_none(),
        "{v}"
    );
    assert_eq!(v["active"], true, "a PUT without active leaves it");
    let p = m
        .get("admin", "/api/v1/principals/ann-lee")
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (p["login"].as_str(), p["display_name"].as_str()),
        (Some("ann@example.org"), Some("Ann L."))
    );
    // Delete: 404 and gone from lists; the principal stays, inactive and without its login,
    // so the name can be provisioned again.
    let r = scim(&m, &t, "DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    scim_error(
        &scim(&m, &t, "GET", &format!("/Users/{id}"), None).await,
        StatusCode::NOT_FOUND,
        None,
    );
    scim_error(
        &scim(&m, &t, "DELETE", &format!("/Users/{id}"), None).await,
        StatusCode::NOT_FOUND,
        None,
    );
    let all = ok(&scim(&m, &t, "GET", "/Users", None).await, StatusCode::OK);
    assert_eq!(all["totalResults"].as_u64(), Some(total - 1));
    let p = m
        .get("admin", "/api/v1/principals/ann-lee")
        .await
        .ok(StatusCode::OK);
    assert_eq!(p["active"], false);
    assert!(p.get("login").is_none(), "{p}");
    assert_eq!(m.audit("action=principal.delete").await.len(), 1);
    let again = ok(
        &scim(
            &m,
            &t,
            "POST",
            "/Users",
            Some(&json!({"userName": "ann@example.org"})),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_ne!(again["id"], id.as_str());
    let p = m
        .get("admin", "/api/v1/principals/ann")
        .await
        .ok(StatusCode::OK);
    assert_eq!(p["id"], again["id"]);
}

#[tokio::test]
async fn deactivation_stops_every_credential_of_the_user_at_the_next_request() {
    let m = Mesh::demo().await;
    m.add_people().await;
    let t = scim_token(&m).await;
    // Alice's API token, a tenant credential and a recipient token all work.
    let api = m.token("alice");
    let cred = m
        .post(
            "alice",
            "/api/v1/credentials",
            &json!({"tables": ["sales.people.people"], "actions": ["read"]}),
        )
        .await
        .ok(StatusCode::CREATED)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let v = m
        .post("admin", "/api/v1/recipients/alice/tokens", &json!({}))
        .await
        .ok(StatusCode::CREATED);
    let link = url::Url::parse(v["profile_url"].as_str().unwrap()).unwrap();
    let profile = m.get("admin", link.path()).await.ok(StatusCode::OK);
    let recipient = profile["bearerToken"].as_str().unwrap().to_string();
    let query = json!({"sql": "SELECT count(*) AS n FROM sales.people.people"}).to_string();
    let uses = |token: String| {
        let m = &m;
        let query = query.clone();
        async move {
            [
                m.send_bearer("GET", "/api/v1/whoami", Some(&token), None, Body::empty())
                    .await
                    .status,
                m.send_bearer(
                    "POST",
                    "/api/v1/query",
                    Some(&token),
                    Some("application/json"),
                    Body::from(query),
                )
                .await
                .status,
                m.send_bearer(
                    "GET",
                    "/delta-sharing/shares",
                    Some(&token),
                    None,
                    Body::empty(),
                )
                .await
                .status,
            ]
        }
    };
    assert_eq!(uses(api.clone()).await, [StatusCode::OK; 3]);
    assert_eq!(uses(cred.clone()).await[..2], [StatusCode::OK; 2]);
    assert_eq!(uses(recipient.clone()).await[2], StatusCode::OK);
    // Entra ID's way of saying active: false.
    let id = user_id(&m, &t, "alice").await;
    let v = ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["active"], false);
    // The very next request with any of them is refused.
    assert_eq!(uses(api.clone()).await, [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(uses(cred.clone()).await, [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(uses(recipient.clone()).await, [StatusCode::UNAUTHORIZED; 3]);
    let events = m.audit("action=principal.deactivate").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let revoked = &events[0]["detail"]["revoked"];
    assert!(revoked["api_tokens"].as_u64().unwrap() >= 1, "{revoked}");
    assert_eq!(revoked["credentials"], 1, "{revoked}");
    assert!(
        revoked["recipient_tokens"].as_u64().unwrap() >= 1,
        "{revoked}"
    );
    // Everything is revoked in the store, not only refused for the inactive principal.
    let tokens = m
        .get("admin", "/api/v1/tokens?principal=alice")
        .await
        .ok(StatusCode::OK);
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !t["revoked_at"].is_null()),
        "{tokens}"
    );
    // The same PATCH again changes nothing and records nothing.
    ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(m.audit("action=principal.deactivate").await.len(), 1);
    // Reactivated: the principal may sign in again, with new tokens; the old ones stay revoked.
    let v = ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch(
                json!([{"op": "replace", "value": {"active": true}}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["active"], true);
    assert_eq!(m.audit("action=principal.reactivate").await.len(), 1);
    assert_eq!(uses(api).await[0], StatusCode::UNAUTHORIZED);
    let fresh = m
        .post("admin", "/api/v1/tokens", &json!({"principal": "alice"}))
        .await
        .ok(StatusCode::CREATED);
    let r = m
        .send_bearer(
            "GET",
            "/api/v1/whoami",
            fresh["token"].as_str(),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Its shares and data stay with its team.
    let r = m.get("carol", "/api/v1/products/sales/people").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn groups_and_their_members_are_provisioned() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    let alice = user_id(&m, &t, "alice").await;
    let bob = user_id(&m, &t, "bob").await;
    let carol = user_id(&m, &t, "carol").await;
    let r = scim(
        &m,
        &t,
        "POST",
        "/Groups",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Data Analysts",
            "members": [{"value": alice}],
        })),
    )
    .await;
    let g = ok(&r, StatusCode::CREATED);
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["displayName"], "Data Analysts");
    assert_eq!(g["members"][0]["value"], alice.as_str());
    assert_eq!(g["members"][0]["type"], "User");
    assert!(
        g["members"][0]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{alice}"))
    );
    let p = m
        .get("admin", "/api/v1/principals/data-analysts")
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (p["kind"].as_str(), p["login"].as_str()),
        (Some("group"), Some("Data Analysts"))
    );
    let who = m.get("alice", "/api/v1/whoami").await.ok(StatusCode::OK);
    assert!(
        who["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("data-analysts")),
        "{who}"
    );
    let u = ok(
        &scim(&m, &t, "GET", &format!("/Users/{alice}"), None).await,
        StatusCode::OK,
    );
    assert_eq!(u["groups"][0]["display"], "Data Analysts");
    // Okta adds and removes members one by one; Entra ID removes with a value.
    let path = format!("/Groups/{gid}");
    let v = ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &path,
            Some(&patch(
                json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    let syncs = m.audit("action=group.sync").await;
    assert!(
        syncs
            .iter()
            .any(|e| e["detail"]["added"] == json!([bob]) && e["detail"]["source"] == "scim"),
        "{syncs:?}"
    );
    let v = ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &path,
            Some(&patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["members"].as_array().unwrap().len(), 1);
    // A member added by hand is shown, and SCIM does not remove it.
    m.put(
        "admin",
        "/api/v1/principals/data-analysts/members/carol",
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    let v = ok(&scim(&m, &t, "PATCH", &path, Some(&patch(json!([{"op": "Remove", "path": "members", "value": [{"value": alice}, {"value": carol}]}])))).await, StatusCode::OK);
    assert_eq!(
        v["members"],
        json!([{"value": carol, "$ref": v["members"][0]["$ref"], "type": "User"}])
    );
    // Filters on groups; a rename.
    let found = ok(
        &scim(
            &m,
            &t,
            "GET",
            "/Groups?filter=displayName%20eq%20%22data%20analysts%22",
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(found["totalResults"], 1);
    let v = ok(
        &scim(
            &m,
            &t,
            "PATCH",
            &path,
            Some(&patch(
                json!([{"op": "replace", "value": {"id": gid, "displayName": "Analysts"}}]),
            )),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["displayName"], "Analysts");
    // A member that is not a user here fails the whole PATCH: nothing of it is written.
    let before = m.audit("action=group.sync").await.len();
    let r = scim(&m, &t, "PATCH", &path, Some(&patch(json!([
        {"op": "add", "path": "members", "value": [{"value": alice}]},
        {"op": "add", "path": "members", "value": [{"value": "0190c1e8-7a7e-7b1a-9c1e-6f0a0b0c0d0e"}]}])))).await;
    assert_mentions(
        &scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue")),
        "not the id of a User",
    );
    let v = ok(&scim(&m, &t, "GET", &path, None).await, StatusCode::OK);
    assert_eq!(v["members"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(m.audit("action=group.sync").await.len(), before);
    // PUT sets the SCIM members; delete removes the group and what it gave.
    let v = ok(
        &scim(
            &m,
            &t,
            "PUT",
            &path,
            Some(&json!({"displayName": "Analysts", "members": [{"value": bob}]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        v["members"].as_array().unwrap().len(),
        2,
        "carol stays: {v}"
    );
    let r = scim(&m, &t, "DELETE", &path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let who = m.get("bob", "/api/v1/whoami").await.ok(StatusCode::OK);
    assert_eq!(who["groups"], json!([]), "{who}");
    scim_error(
        &scim(&m, &t, "GET", &path, None).await,
        StatusCode::NOT_FOUND,
        None,
    );
}

#[tokio::test]
async fn malformed_requests_get_scim_errors_and_write_nothing() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    let id = user_id(&m, &t, "carol").await;
    let audit_len = m.audit("limit=1000").await.len();
    let raw = |method: &'static str, path: &'static str, body: Vec<u8>| {
        let m = &m;
        let t = t.clone();
        async move {
            m.send_bearer(
                method,
                &format!("/scim/v2{path}"),
                Some(&t),
                Some("application/scim+json"),
                Body::from(body),
            )
            .await
        }
    };
    for (body, scim_type, needle) in [
        (b"{not json".to_vec(), "invalidSyntax", "not valid JSON"),
        (b"[1]".to_vec(), "invalidSyntax", "JSON object"),
        (b"".to_vec(), "invalidSyntax", "no body"),
        (
            br#"{"emails": []}"#.to_vec(),
            "invalidValue",
            "`userName` is required",
        ),
        (
            br#"{"userName": 7}"#.to_vec(),
            "invalidValue",
            "must be a string",
        ),
        (
            br#"{"userName": " padded "}"#.to_vec(),
            "invalidValue",
            "surrounding spaces",
        ),
        (
            br#"{"userName": "x", "emails": ["x@y"]}"#.to_vec(),
            "invalidValue",
            "must be an object",
        ),
        (
            br#"{"userName": "x", "active": "maybe"}"#.to_vec(),
            "invalidValue",
            "true or false",
        ),
        (
            br#"{"userName": "x", "schemas": "urn"}"#.to_vec(),
            "invalidSyntax",
            "schemas",
        ),
    ] {
        let r = raw("POST", "/Users", body.clone()).await;
        let detail = scim_error(&r, StatusCode::BAD_REQUEST, Some(scim_type));
        assert_mentions(&detail, needle);
    }
    let big = format!("{{\"userName\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = raw("POST", "/Users", big.into_bytes()).await;
    assert_mentions(&scim_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None), "over");
    for (query, scim_type) in [
        ("filter=userName%20is%20%22x%22", "invalidFilter"),
        ("filter=%28userName%20pr", "invalidFilter"),
        ("count=ten", "invalidValue"),
        ("sortOrder=sideways", "invalidValue"),
        ("attributes=na%20me", "invalidValue"),
    ] {
        let r = scim(&m, &t, "GET", &format!("/Users?{query}"), None).await;
        scim_error(&r, StatusCode::BAD_REQUEST, Some(scim_type));
    }
    let path = format!("/Users/{id}");
    for (body, scim_type) in [
        (json!({"Operations": "replace"}), "invalidSyntax"),
        (json!({"Operations": []}), "invalidValue"),
        (
            patch(
                json!([{"op": "replace", "path": "displayName", "value": "Carol C."}, {"op": "remove", "path": "userName"}]),
            ),
            "mutability",
        ),
        (
            patch(json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}])),
            "invalidFilter",
        ),
        (
            patch(json!([{"op": "replace", "path": "name.given name", "value": "x"}])),
            "invalidPath",
        ),
        (
            patch(json!([{"op": "replace", "path": "meta", "value": {}}])),
            "mutability",
        ),
        (
            patch(json!([{"op": "add", "path": "emails", "value": [{"value": 5}]}])),
            "invalidValue",
        ),
    ] {
        let r = scim(&m, &t, "PATCH", &path, Some(&body)).await;
        scim_error(&r, StatusCode::BAD_REQUEST, Some(scim_type));
    }
    // Nothing a failed call sent was written: carol is as she was, and no event was added.
    let v = ok(&scim(&m, &t, "GET", &path, None).await, StatusCode::OK);
    assert_eq!(v["userName"], "carol");
    assert_ne!(v["displayName"], "Carol C.");
    assert_eq!(m.audit("limit=1000").await.len(), audit_len);
    let p = m
        .get("admin", "/api/v1/principals/carol")
        .await
        .ok(StatusCode::OK);
    assert!(p.get("login").is_none());
}

#[tokio::test]
async fn okta_and_entra_requests_work_as_they_send_them() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    // Entra ID: a create with the enterprise extension, roles and meta it does not own.
    let entra = json!({
        "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "2b4f0c36-entra", "userName": "dana@contoso.com", "active": true,
        "displayName": "Dana Diaz", "meta": {"resourceType": "User"}, "roles": [],
        "emails": [{"primary": true, "type": "work", "value": "dana@contoso.com"}],
        "name": {"formatted": "Dana Diaz", "familyName": "Diaz", "givenName": "Dana"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7", "department": "Sales"},
    });
    // Without a content type, as some clients send it.
    let r = m
        .send_bearer(
            "POST",
            "/scim/v2/Users",
            Some(&t),
            None,
            Body::from(entra.to_string()),
        )
        .await;
    let dana = ok(&r, StatusCode::CREATED);
    let id = dana["id"].as_str().unwrap().to_string();
    // Entra's PATCH: capitalised ops, paths into the extension (ignored) and value filters.
    let ops = patch(json!([
        {"op": "Add", "path": "title", "value": "Analyst"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "dana.diaz@contoso.com"},
        {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+49 1"},
        {"op": "Replace", "path": "name.familyName", "value": "Díaz"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Berlin"},
    ]));
    let v = ok(
        &scim(&m, &t, "PATCH", &format!("/Users/{id}"), Some(&ops)).await,
        StatusCode::OK,
    );
    assert_eq!(v["title"], "Analyst");
    assert_eq!(
        v["emails"],
        json!([{"primary": true, "type": "work", "value": "dana.diaz@contoso.com"}])
    );
    assert_eq!(
        v["phoneNumbers"],
        json!([{"type": "mobile", "value": "+49 1"}])
    );
    assert_eq!(v["name"]["familyName"], "Díaz");
    assert!(v.get("addresses").is_none());
    // Okta: the lookup before a create, then active false as a value object.
    let v = ok(
        &scim(
            &m,
            &t,
            "GET",
            "/Users?filter=userName+eq+%22DANA%40contoso.com%22&startIndex=1&count=100",
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(v["totalResults"], 1);
    let r = scim(
        &m,
        &t,
        "PATCH",
        &format!("/Users/{id}"),
        Some(&patch(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    )
    .await;
    assert_eq!(ok(&r, StatusCode::OK)["active"], false);
    // Okta's group push: create empty, add members with their display, rename, PUT.
    let g = ok(
        &scim(&m, &t, "POST", "/Groups", Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "okta-team", "members": []}))).await,
        StatusCode::CREATED,
    );
    let gid = g["id"].as_str().unwrap();
    assert!(g.get("members").is_none(), "{g}");
    let alice = user_id(&m, &t, "alice").await;
    let v = ok(
        &scim(&m, &t, "PATCH", &format!("/Groups/{gid}"), Some(&patch(json!([
            {"op": "add", "path": "members", "value": [{"value": alice, "display": "alice"}, {"value": id, "display": "dana"}]},
            {"op": "replace", "path": "displayName", "value": "okta-team-renamed"}])))).await,
        StatusCode::OK,
    );
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    assert_eq!(v["displayName"], "okta-team-renamed");
    // Entra lists groups without their members.
    let v = ok(
        &scim(&m, &t, "GET", "/Groups?excludedAttributes=members", None).await,
        StatusCode::OK,
    );
    assert!(
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("members").is_none())
    );
    // A PUT without members leaves the group without the members SCIM added.
    let v = ok(
        &scim(
            &m,
            &t,
            "PUT",
            &format!("/Groups/{gid}"),
            Some(&json!({"displayName": "okta-team-renamed"})),
        )
        .await,
        StatusCode::OK,
    );
    assert!(v.get("members").is_none(), "{v}");
}

#[tokio::test]
async fn concurrent_patches_of_one_group_lose_no_member() {
    let m = Mesh::demo().await;
    let t = scim_token(&m).await;
    let mut users = Vec::new();
    for i in 0..8 {
        let v = ok(
            &scim(
                &m,
                &t,
                "POST",
                "/Users",
                Some(&json!({"userName": format!("user{i}@example.com")})),
            )
            .await,
            StatusCode::CREATED,
        );
        users.push(v["id"].as_str().unwrap().to_string());
    }
    let g = ok(
        &scim(
            &m,
            &t,
            "POST",
            "/Groups",
            Some(&json!({"displayName": "crowd"})),
        )
        .await,
        StatusCode::CREATED,
    );
    let path = format!("/Groups/{}", g["id"].as_str().unwrap());
    let adds = users.iter().map(|u| {
        let body = patch(
            json!([{"op": "add", "path": "members", "value": [{"value": u}]},
                                {"op": "replace", "path": "externalId", "value": u}]),
        );
        let (m, t, path) = (&m, &t, &path);
        async move { scim(m, t, "PATCH", path, Some(&body)).await.status }
    });
    let statuses = futures::future::join_all(adds).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let v = ok(&scim(&m, &t, "GET", &path, None).await, StatusCode::OK);
    assert_eq!(v["members"].as_array().unwrap().len(), 8, "{v}");
}
