//! HTTP tests of tenant isolation and short-lived credentials (docs/design/ACCESS.md §Tenant isolation,
//! issue 5) through the REST API: vending (the intersection of the caller's rights and the
//! session policy), use through the rows API and SQL, cross-tenant denials (named and
//! audited), row-by-row WITH CHECK on writes, revocation, expiry, tampering, schema
//! validation and atomicity of appends, and concurrent writers on one multi-tenant table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::{Mesh, Resp, assert_mentions};

/// Tenants `t1` (3 rows), `t2` (2) and `t10` (2): `t10-…` keys also start with `t1`, so a
/// prefix `t1-` must not be read as "tenant names starting with t1".
const ITEMS_CSV: &[u8] = b"item_id,name,qty,price\n\
t1-1,apple,3,1.5\n\
t1-2,pear,5,0.75\n\
t1-3,plum,7,2.25\n\
t2-1,fig,1,3.5\n\
t2-2,kiwi,2,0.5\n\
t10-1,lime,9,0.2\n\
t10-2,date,4,1.1\n";

const ITEMS: &str = "sales.items.items";
const ROWS: &str = "/api/v1/products/sales/items/tables/items/rows";
const CREDENTIALS: &str = "/api/v1/credentials";

/// The demo mesh plus the multi-tenant `sales.items` (owned by alice's team `sales.core`),
/// keyed by `item_id` with the default separator `-`.
async fn items_mesh() -> Mesh {
    let m = Mesh::demo().await;
    let meta = json!({
        "domain": "sales", "team": "core", "name": "items",
        "tables": [{"name": "items", "tenant_key": "item_id"}],
    });
    m.create_product("alice", &meta, &[("items", ITEMS_CSV)])
        .await
        .ok(StatusCode::CREATED);
    m
}

/// A vended credential.
#[derive(Clone)]
struct Cred {
    id: String,
    token: String,
    body: Value,
}

async fn vend(m: &Mesh, who: &str, body: &Value) -> Resp {
    m.post(who, CREDENTIALS, body).await
}

/// `who` vends a credential on the items table with `actions` and an optional key prefix.
async fn cred(m: &Mesh, who: &str, actions: &[&str], prefix: Option<&str>) -> Cred {
    let mut body = json!({"tables": [ITEMS], "actions": actions});
    if let Some(p) = prefix {
        body["key_prefix"] = json!(p);
    }
    cred_with(m, who, &body).await
}

async fn cred_with(m: &Mesh, who: &str, body: &Value) -> Cred {
    let v = vend(m, who, body).await.ok(StatusCode::CREATED);
    Cred {
        id: v["id"].as_str().expect("credential id").to_string(),
        token: v["token"].as_str().expect("credential token").to_string(),
        body: v,
    }
}

/// A request made with a raw bearer token.
async fn call(m: &Mesh, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    match body {
        Some(b) => {
            m.send_bearer(
                method,
                path,
                Some(token),
                Some("application/json"),
                Body::from(b.to_string()),
            )
            .await
        }
        None => {
            m.send_bearer(method, path, Some(token), None, Body::empty())
                .await
        }
    }
}

async fn get_t(m: &Mesh, token: &str, path: &str) -> Resp {
    call(m, token, "GET", path, None).await
}

async fn append_t(m: &Mesh, token: &str, rows: &Value) -> Resp {
    call(m, token, "POST", ROWS, Some(rows)).await
}

async fn sql_t(m: &Mesh, token: &str, sql: &str) -> Resp {
    call(
        m,
        token,
        "POST",
        "/api/v1/query",
        Some(&json!({"sql": sql, "format": "json"})),
    )
    .await
}

async fn sql_rows_t(m: &Mesh, token: &str, sql: &str) -> Vec<Value> {
    let v = sql_t(m, token, sql).await.ok(StatusCode::OK);
    v.as_array().expect("rows are an array").clone()
}

/// The `item_id`s of a list of row objects, in order.
fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["item_id"].as_str().expect("item_id is text").to_string())
        .collect()
}

/// Rows per tenant of the items table as `token` reads them with SQL.
async fn tenant_counts(m: &Mesh, token: &str) -> BTreeMap<String, i64> {
    sql_rows_t(
        m,
        token,
        &format!("SELECT tenant, count(*) AS n FROM {ITEMS} GROUP BY tenant"),
    )
    .await
    .iter()
    .map(|r| {
        (
            r["tenant"].as_str().expect("tenant is text").to_string(),
            r["n"].as_i64().expect("count is a number"),
        )
    })
    .collect()
}

/// All rows of the items table as alice (the owner, API token) counts them.
async fn total(m: &Mesh) -> i64 {
    let rows = m
        .rows("alice", &format!("SELECT count(*) AS n FROM {ITEMS}"))
        .await;
    rows[0]["n"].as_i64().expect("count is a number")
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Asserts a 403 that names the principal, the action, the table and the session policy.
fn assert_policy_denial(r: &Resp, principal: &str, action: &str) -> String {
    let message = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, &format!("`{principal}`"));
    assert_mentions(&message, action);
    assert_mentions(&message, ITEMS);
    assert_mentions(&message, "no session policy allows");
    message
}

/// The denied audit events of `action` (e.g. `rows.read`).
async fn denied_events(m: &Mesh, action: &str) -> Vec<Value> {
    m.audit(&format!("action={action}"))
        .await
        .into_iter()
        .filter(|e| e["action"] == action && e["outcome"] == "denied")
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a timestamp ({e}): {v}"))
}

// ----- vending and use -----

#[tokio::test]
async fn a_credential_reads_only_its_tenant_through_rows_and_sql() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read"], Some("t1-")).await;

    // The answer: the policy as granted, one hour by default, a signed token.
    assert!(c.token.starts_with("mgs_"), "{}", c.body);
    assert_eq!(
        c.body["policy"],
        json!({"tables": [ITEMS], "actions": ["read"], "key_prefix": "t1-"})
    );
    assert_eq!(c.body["revoked_at"], Value::Null);
    let ttl = time(&c.body["expires_at"]) - time(&c.body["created_at"]);
    assert_eq!(ttl.num_seconds(), 3600, "{}", c.body);

    // Rows API: the tenant's rows only (not t10's, whose keys also start with `t1`).
    let listed = get_t(&m, &c.token, &format!("{ROWS}?limit=100"))
        .await
        .ok(StatusCode::OK);
    let rows = listed["rows"].as_array().expect("rows").clone();
    assert_eq!(keys(&rows), ["t1-1", "t1-2", "t1-3"], "{listed}");
    assert!(rows.iter().all(|r| r["tenant"] == "t1"), "{listed}");
    assert_eq!(listed["next_after"], "t1-3");

    // Paging.
    let page = get_t(&m, &c.token, &format!("{ROWS}?limit=2"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(keys(page["rows"].as_array().unwrap()), ["t1-1", "t1-2"]);
    assert_eq!(page["next_after"], "t1-2");
    let page = get_t(&m, &c.token, &format!("{ROWS}?limit=2&after=t1-2"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(keys(page["rows"].as_array().unwrap()), ["t1-3"]);
    let page = get_t(&m, &c.token, &format!("{ROWS}?limit=2&after=t1-3"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(page["rows"], json!([]), "{page}");
    assert_eq!(page["next_after"], Value::Null);

    // Lookup by key.
    let row = get_t(&m, &c.token, &format!("{ROWS}?key=t1-2"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(row["item_id"], "t1-2");
    assert_eq!(row["name"], "pear");
    assert_eq!(row["qty"], 5);
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-99"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // SQL goes through the same enforcement: other tenants' rows do not exist for it.
    let rows = sql_rows_t(
        &m,
        &c.token,
        &format!("SELECT * FROM {ITEMS} ORDER BY item_id"),
    )
    .await;
    assert_eq!(keys(&rows), ["t1-1", "t1-2", "t1-3"]);
    assert_eq!(tenant_counts(&m, &c.token).await, counts(&[("t1", 3)]));
    assert_eq!(
        sql_rows_t(
            &m,
            &c.token,
            &format!("SELECT name FROM {ITEMS} WHERE item_id = 't2-1' OR tenant = 't10'"),
        )
        .await,
        Vec::<Value>::new()
    );
    assert_eq!(
        sql_rows_t(&m, &c.token, &format!("SELECT sum(qty) AS q FROM {ITEMS}"),).await,
        vec![json!({"q": 15})]
    );
    // A table outside the policy is not there, even one alice owns.
    let r = sql_t(&m, &c.token, "SELECT count(*) FROM sales.orders.orders").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_mentions(&r.text(), "orders");

    // Alice's own API token still reads every tenant.
    assert_eq!(
        tenant_counts(&m, &m.token("alice")).await,
        counts(&[("t1", 3), ("t2", 2), ("t10", 2)])
    );

    // A credential without a key prefix reads the whole table.
    let all = cred(&m, "alice", &["read"], None).await;
    assert_eq!(
        tenant_counts(&m, &all.token).await,
        counts(&[("t1", 3), ("t2", 2), ("t10", 2)])
    );
    let listed = get_t(&m, &all.token, &format!("{ROWS}?limit=100"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(listed["rows"].as_array().unwrap().len(), 7, "{listed}");
}

#[tokio::test]
async fn cross_tenant_reads_are_denied_named_and_audited() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read"], Some("t1-")).await;

    for key in ["t2-1", "t10-1"] {
        let r = get_t(&m, &c.token, &format!("{ROWS}?key={key}")).await;
        let message = assert_policy_denial(&r, "alice", "read");
        assert_mentions(&message, key);
        assert!(
            !r.text().contains("fig") && !r.text().contains("lime"),
            "{}",
            r.text()
        );
    }

    let events = denied_events(&m, "rows.read").await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for e in &events {
        assert_eq!(e["actor"], "alice", "{e}");
        assert_eq!(e["detail"]["table"], ITEMS, "{e}");
        assert_eq!(e["detail"]["credential"], c.id.as_str(), "{e}");
        let reason = e["detail"]["reason"].as_str().expect("reason");
        assert_mentions(reason, "no session policy allows");
    }

    // A table the policy does not name: denied (not merely absent), and audited.
    let orders = "/api/v1/products/sales/orders/tables/orders/rows?limit=1";
    let message = get_t(&m, &c.token, orders)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, "`alice`");
    assert_mentions(&message, "read");
    assert_mentions(&message, "sales.orders.orders");
    assert_mentions(&message, "no session policy allows");
    assert_eq!(denied_events(&m, "rows.read").await.len(), 3);

    // The credential's own tenant is still readable.
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .ok(StatusCode::OK);
}

/// Issue 13, finding 9: a key prefix without the separator (`t1`) names the whole tenant
/// `t1`; before, it was a bare string prefix and also covered `t10-…`. Reads (rows API and
/// SQL), lookups and writes all apply the same rule; a prefix that starts with the separator
/// names no tenant and is refused when the credential is made.
#[tokio::test]
async fn a_prefix_without_the_separator_names_a_whole_tenant() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read", "write"], Some("t1")).await;

    assert_eq!(tenant_counts(&m, &c.token).await, counts(&[("t1", 3)]));
    let rows = sql_rows_t(
        &m,
        &c.token,
        &format!("SELECT * FROM {ITEMS} WHERE item_id LIKE 't10%' OR tenant = 't10'"),
    )
    .await;
    assert!(rows.is_empty(), "{rows:?}");
    let listed = get_t(&m, &c.token, &format!("{ROWS}?limit=100"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        keys(listed["rows"].as_array().unwrap()),
        ["t1-1", "t1-2", "t1-3"],
        "{listed}"
    );
    let r = get_t(&m, &c.token, &format!("{ROWS}?key=t10-1")).await;
    assert_policy_denial(&r, "alice", "read");
    assert!(!r.text().contains("lime"), "{}", r.text());
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .ok(StatusCode::OK);

    // WITH CHECK: `t10-…` is outside `t1`; `t1-…` is inside.
    let before = total(&m).await;
    let r = append_t(&m, &c.token, &json!([{"item_id": "t10-9", "name": "x"}])).await;
    assert_policy_denial(&r, "alice", "write");
    assert_eq!(total(&m).await, before, "nothing was written");
    append_t(&m, &c.token, &json!([{"item_id": "t1-9", "name": "ok"}]))
        .await
        .ok(StatusCode::CREATED);

    // A prefix inside a tenant names a whole key: `t1-1` is not `t1-10`.
    append_t(&m, &c.token, &json!([{"item_id": "t1-10", "name": "ten"}]))
        .await
        .ok(StatusCode::CREATED);
    let narrow = cred(&m, "alice", &["read"], Some("t1-1")).await;
    let rows = sql_rows_t(&m, &narrow.token, &format!("SELECT item_id FROM {ITEMS}")).await;
    assert_eq!(keys(&rows), ["t1-1"]);

    let message = vend(
        &m,
        "alice",
        &json!({"tables": [ITEMS], "actions": ["read"], "key_prefix": "-1"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "key_prefix");
    assert_mentions(&message, "separator");
}

// ----- writes -----

#[tokio::test]
async fn one_row_outside_the_prefix_rejects_the_whole_write() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read", "write"], Some("t1-")).await;
    let before = total(&m).await;

    let batch = json!([
        {"item_id": "t1-100", "name": "a", "qty": 1, "price": 1.0},
        {"item_id": "t2-100", "name": "b", "qty": 2, "price": 2.0},
        {"item_id": "t1-101", "name": "c", "qty": 3, "price": 3.0},
    ]);
    let r = append_t(&m, &c.token, &batch).await;
    let message = assert_policy_denial(&r, "alice", "write");
    assert_mentions(&message, "row 1");
    assert_mentions(&message, "t2-100");
    // A key that merely starts with the tenant's name is another tenant.
    let r = append_t(
        &m,
        &c.token,
        &json!([{"item_id": "t1-102", "name": "d"}, {"item_id": "t10-100", "name": "e"}]),
    )
    .await;
    assert_mentions(&assert_policy_denial(&r, "alice", "write"), "t10-100");

    // Nothing was written, and the denials are audited.
    assert_eq!(total(&m).await, before);
    assert_eq!(tenant_counts(&m, &c.token).await, counts(&[("t1", 3)]));
    let events = denied_events(&m, "rows.write").await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["actor"], "alice");
    assert_eq!(events[0]["detail"]["credential"], c.id.as_str());

    // The same batch inside the prefix is written, to the tenant's partition.
    let r = append_t(
        &m,
        &c.token,
        &json!([
            {"item_id": "t1-100", "name": "a", "qty": 1, "price": 1.0},
            {"item_id": "t1-101", "name": "c", "qty": 3, "price": 3.0},
        ]),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(r["rows"], 2, "{r}");
    assert_eq!(total(&m).await, before + 2);
    assert_eq!(tenant_counts(&m, &c.token).await, counts(&[("t1", 5)]));
    let row = get_t(&m, &c.token, &format!("{ROWS}?key=t1-101"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(row["name"], "c");
    assert_eq!(row["tenant"], "t1");
    assert_eq!(row["price"], 3.0);
    let appended = m.audit("action=rows.append").await;
    assert_eq!(appended.len(), 1, "{appended:#?}");
    assert_eq!(appended[0]["detail"]["rows"], 2);
    assert_eq!(appended[0]["detail"]["credential"], c.id.as_str());
}

#[tokio::test]
async fn a_read_only_credential_cannot_write() {
    let m = items_mesh().await;
    let before = total(&m).await;
    for prefix in [Some("t1-"), None] {
        let c = cred(&m, "alice", &["read"], prefix).await;
        let r = append_t(&m, &c.token, &json!([{"item_id": "t1-200", "name": "x"}])).await;
        assert_policy_denial(&r, "alice", "write");
    }
    assert_eq!(total(&m).await, before);
    assert_eq!(denied_events(&m, "rows.write").await.len(), 2);
    // A write-only credential cannot read.
    let w = cred(&m, "alice", &["write"], Some("t1-")).await;
    let r = get_t(&m, &w.token, &format!("{ROWS}?key=t1-1")).await;
    assert_policy_denial(&r, "alice", "read");
    let r = sql_t(&m, &w.token, &format!("SELECT * FROM {ITEMS}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    append_t(&m, &w.token, &json!([{"item_id": "t1-200", "name": "x"}]))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(total(&m).await, before + 1);
}

#[tokio::test]
async fn credentials_cannot_act_on_the_control_plane() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read", "write"], None).await;
    let attempts: Vec<(&str, &str, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/shares",
            Some(json!({"product": "sales.items", "reason": "widen it"})),
        ),
        (
            "POST",
            CREDENTIALS,
            Some(json!({"tables": [ITEMS], "actions": ["read"]})),
        ),
        ("GET", CREDENTIALS, None),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"principal": "alice", "name": "escape"})),
        ),
        ("GET", "/api/v1/audit", None),
        (
            "PUT",
            "/api/v1/domains/sales/teams/core/members/bob",
            Some(json!({"role": "owner"})),
        ),
        ("DELETE", "/api/v1/products/sales/items", None),
    ];
    for (method, path, body) in attempts {
        let r = call(&m, &c.token, method, path, body.as_ref()).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text()
        );
        assert_mentions(&r.error(StatusCode::FORBIDDEN, "forbidden"), "credential");
    }
    // A file append is control plane too (it has no row-by-row check).
    let r = m
        .send_bearer(
            "POST",
            "/api/v1/products/sales/items/tables/items/data?format=csv",
            Some(&c.token),
            Some("text/csv"),
            Body::from("item_id,name,qty,price\nt2-9,evil,1,1.0\n"),
        )
        .await;
    assert_mentions(&r.error(StatusCode::FORBIDDEN, "forbidden"), "credential");

    // None of it happened.
    assert_eq!(total(&m).await, 7);
    let listed = m.get("alice", CREDENTIALS).await.ok(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    m.get("alice", "/api/v1/products/sales/items")
        .await
        .ok(StatusCode::OK);
    let members = m
        .get("admin", "/api/v1/domains/sales/teams/core/members")
        .await
        .ok(StatusCode::OK);
    assert!(!members.to_string().contains("bob"), "{members}");
}

// ----- lifecycle -----

#[tokio::test]
async fn a_revoked_credential_gets_401_and_is_listed_as_revoked() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read"], Some("t1-")).await;
    let other = cred(&m, "alice", &["read"], Some("t2-")).await;
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .ok(StatusCode::OK);

    // Only its principal (or an admin) may revoke it.
    m.delete("bob", &format!("{CREDENTIALS}/{}", c.id))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .ok(StatusCode::OK);
    m.delete("alice", &format!("{CREDENTIALS}/{}", uuid::Uuid::now_v7()))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    let revoked = m
        .delete("alice", &format!("{CREDENTIALS}/{}", c.id))
        .await
        .ok(StatusCode::OK);
    assert_eq!(revoked["id"], c.id.as_str());
    let at = time(&revoked["revoked_at"]);
    assert!(at < time(&c.body["expires_at"]), "revoked before expiry");

    // The next call, any call, is a 401.
    for r in [
        get_t(&m, &c.token, &format!("{ROWS}?key=t1-1")).await,
        sql_t(&m, &c.token, &format!("SELECT * FROM {ITEMS}")).await,
        get_t(&m, &c.token, CREDENTIALS).await,
    ] {
        r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // The other credential is untouched.
    get_t(&m, &other.token, &format!("{ROWS}?key=t2-1"))
        .await
        .ok(StatusCode::OK);

    // Listing: both, the revoked one with `revoked_at`, and never a token.
    let listed = m.get("alice", CREDENTIALS).await.ok(StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let by_id = |id: &str| {
        listed
            .iter()
            .find(|x| x["id"] == id)
            .unwrap_or_else(|| panic!("{id} listed"))
            .clone()
    };
    assert_eq!(by_id(&c.id)["revoked_at"], revoked["revoked_at"]);
    assert_eq!(by_id(&other.id)["revoked_at"], Value::Null);
    assert_eq!(by_id(&other.id)["policy"]["key_prefix"], "t2-");
    assert!(
        listed.iter().all(|x| x.get("token").is_none()),
        "{listed:?}"
    );
    // Others cannot list them; the admin can.
    m.get("bob", &format!("{CREDENTIALS}?principal=alice"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let as_admin = m
        .get("admin", &format!("{CREDENTIALS}?principal=alice"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(as_admin.as_array().unwrap().len(), 2);

    // Vending and revoking are audited.
    assert_eq!(m.audit("action=credential.create").await.len(), 2);
    let events = m
        .audit(&format!("action=credential.revoke&object={}", c.id))
        .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["actor"], "alice");
}

#[tokio::test]
async fn an_expired_credential_gets_401() {
    let m = items_mesh().await;
    let c = cred_with(
        &m,
        "alice",
        &json!({"tables": [ITEMS], "actions": ["read"], "key_prefix": "t1-", "expires_in": 1}),
    )
    .await;
    let ttl = time(&c.body["expires_at"]) - time(&c.body["created_at"]);
    assert_eq!(ttl.num_seconds(), 1, "{}", c.body);
    // Accepted while fresh (a 403 on the control plane, not a 401) …
    get_t(&m, &c.token, CREDENTIALS)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // … refused once past its expiry.
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    sql_t(&m, &c.token, &format!("SELECT * FROM {ITEMS}"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c).expect("base64url") as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

fn b64_encode(bytes: &[u8]) -> String {
    let (mut out, mut buf, mut bits) = (String::new(), 0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(B64[((buf >> bits) & 63) as usize] as char);
        }
        buf &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(B64[((buf << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[tokio::test]
async fn tampered_tokens_get_401() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read"], Some("t1-")).await;
    let other = cred(&m, "alice", &["read"], Some("t2-")).await;
    let split = |token: &str| {
        let (p, s) = token
            .strip_prefix("mgs_")
            .expect("mgs_ prefix")
            .split_once('.')
            .expect("payload.signature");
        (p.to_string(), s.to_string())
    };
    let (payload, sig) = split(&c.token);
    let (other_payload, other_sig) = split(&other.token);
    let json = b64_decode(&payload);
    assert_eq!(b64_encode(&json), payload, "the test's codec round-trips");
    let mut claims: Value = serde_json::from_slice(&json).expect("claims are JSON");
    assert_eq!(claims["policy"]["key_prefix"], "t1-", "{claims}");

    // Widened claims under the original signature: no prefix, writes, a later expiry.
    let mut widened = claims.clone();
    widened["policy"]
        .as_object_mut()
        .unwrap()
        .remove("key_prefix");
    widened["policy"]["actions"] = json!(["read", "write"]);
    widened["expires_at"] = json!("2999-01-01T00:00:00Z");
    let forged_payload = b64_encode(widened.to_string().as_bytes());
    // The same claims re-signed with another key.
    let parsed: meshgate_core::credential::Claims =
        serde_json::from_value(widened.clone()).expect("claims");
    let resigned =
        meshgate_core::credential::sign(&parsed, &meshgate_core::credential::generate_key())
            .expect("sign");
    // One payload character changed.
    let mut flipped = payload.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    claims["policy"]["key_prefix"] = json!("t2-");

    let forgeries = [
        format!("mgs_{forged_payload}.{sig}"),
        resigned,
        format!("mgs_{flipped}.{sig}"),
        format!("mgs_{other_payload}.{sig}"),
        format!("mgs_{payload}.{other_sig}"),
        format!("mgs_{}.{sig}", b64_encode(claims.to_string().as_bytes())),
        format!("mgs_{payload}.{}", &sig[..sig.len() - 2]),
        format!("mgs_{payload}."),
        format!("mgs_{payload}"),
        format!("mgt_{payload}.{sig}"),
        "mgs_".to_string(),
    ];
    for forged in &forgeries {
        for r in [
            get_t(&m, forged, &format!("{ROWS}?key=t2-1")).await,
            append_t(&m, forged, &json!([{"item_id": "t2-9", "name": "x"}])).await,
        ] {
            let message = r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
            assert!(!message.contains(forged.as_str()), "{message}");
        }
    }
    assert_eq!(total(&m).await, 7);
    // The genuine tokens still work.
    get_t(&m, &c.token, &format!("{ROWS}?key=t1-1"))
        .await
        .ok(StatusCode::OK);
    get_t(&m, &other.token, &format!("{ROWS}?key=t2-1"))
        .await
        .ok(StatusCode::OK);
}

// ----- the intersection: never wider -----

#[tokio::test]
async fn a_session_policy_cannot_widen_access() {
    let mut m = items_mesh().await;
    // dan: a plain member of the owning team (reads its products, may not write them).
    m.add_user("dan", Some(("sales", "core"))).await;

    // bob cannot read sales.items at all.
    let r = vend(&m, "bob", &json!({"tables": [ITEMS], "actions": ["read"]})).await;
    let message = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, "`bob`");
    assert_mentions(&message, "read");
    assert_mentions(&message, ITEMS);
    let r = vend(
        &m,
        "bob",
        &json!({"tables": [ITEMS], "actions": ["write"], "key_prefix": "t1-"}),
    )
    .await;
    assert_mentions(&r.error(StatusCode::FORBIDDEN, "forbidden"), "write");

    // dan reads but may not write: the write part is named.
    let r = vend(
        &m,
        "dan",
        &json!({"tables": [ITEMS], "actions": ["read", "write"], "key_prefix": "t1-"}),
    )
    .await;
    let message = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, "`dan`");
    assert_mentions(&message, "write");
    assert_mentions(&message, ITEMS);
    let read = cred(&m, "dan", &["read"], Some("t1-")).await;
    assert_eq!(tenant_counts(&m, &read.token).await, counts(&[("t1", 3)]));
    let r = append_t(&m, &read.token, &json!([{"item_id": "t1-9", "name": "x"}])).await;
    assert_policy_denial(&r, "dan", "write");

    // One forbidden table among allowed ones spoils the whole policy.
    let r = vend(
        &m,
        "bob",
        &json!({"tables": ["marketing.nope.nope", ITEMS], "actions": ["read"]}),
    )
    .await;
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::BAD_REQUEST,
        "{}",
        r.text()
    );

    // The refused widenings are audited as denied; nothing was vended.
    let denied: Vec<Value> = m
        .audit("action=credential.create")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert!(denied.len() >= 3, "{denied:#?}");
    assert!(denied.iter().any(|e| e["actor"] == "bob"), "{denied:#?}");
    assert!(denied.iter().any(|e| e["actor"] == "dan"), "{denied:#?}");
    for who in ["bob", "dan"] {
        let listed = m.get(who, CREDENTIALS).await.ok(StatusCode::OK);
        let n = listed.as_array().unwrap().len();
        assert_eq!(n, usize::from(who == "dan"), "{who}: {listed}");
    }
}

#[tokio::test]
async fn bad_session_policies_are_400() {
    let m = items_mesh().await;
    let bad = |body: Value| {
        let m = &m;
        async move {
            vend(m, "alice", &body)
                .await
                .error(StatusCode::BAD_REQUEST, "invalid_request")
        }
    };
    // Unknown tables, all named.
    let message = bad(
        json!({"tables": [ITEMS, "sales.items.nope", "sales.nope.items"], "actions": ["read"]}),
    )
    .await;
    assert_mentions(&message, "`sales.items.nope`");
    assert_mentions(&message, "`sales.nope.items`");
    assert!(!message.contains(&format!("`{ITEMS}`")), "{message}");
    assert_mentions(
        &bad(json!({"tables": ["nope.items.items"], "actions": ["read"]})).await,
        "nope.items.items",
    );
    assert_mentions(
        &bad(json!({"tables": ["items"], "actions": ["read"]})).await,
        "domain.product.table",
    );
    // Expiry beyond 12 h (or not positive).
    for s in [43_201, 86_400, 0, -5] {
        let message = bad(json!({"tables": [ITEMS], "actions": ["read"], "expires_in": s})).await;
        assert_mentions(&message, "expires_in");
    }
    let longest = cred_with(
        &m,
        "alice",
        &json!({"tables": [ITEMS], "actions": ["read"], "expires_in": 43_200}),
    )
    .await;
    let ttl = time(&longest.body["expires_at"]) - time(&longest.body["created_at"]);
    assert_eq!(ttl.num_hours(), 12);
    // Empty parts, unknown actions and fields.
    assert_mentions(
        &bad(json!({"tables": [], "actions": ["read"]})).await,
        "tables",
    );
    assert_mentions(
        &bad(json!({"tables": [ITEMS], "actions": []})).await,
        "actions",
    );
    bad(json!({"tables": [ITEMS], "actions": ["delete"]})).await;
    bad(json!({"tables": [ITEMS], "actions": ["read"], "key_prefix": ""})).await;
    bad(json!({"tables": [ITEMS], "actions": ["read"], "admin": true})).await;
    // A key prefix on a table without a tenant key cannot scope it.
    let message =
        bad(json!({"tables": ["sales.orders.orders"], "actions": ["read"], "key_prefix": "t1-"}))
            .await;
    assert_mentions(&message, "sales.orders.orders");
    assert_mentions(&message, "tenant key");

    // Only the one good request vended anything.
    let listed = m.get("alice", CREDENTIALS).await.ok(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn a_credential_loses_what_its_principal_loses() {
    let m = items_mesh().await;
    // carol, a steward of the owning team, may write.
    let c = cred(&m, "carol", &["read", "write"], Some("t1-")).await;
    append_t(&m, &c.token, &json!([{"item_id": "t1-50", "name": "ok"}]))
        .await
        .ok(StatusCode::CREATED);
    let before = total(&m).await;

    // Removed from the team, her credential keeps nothing of what she lost.
    m.delete("admin", "/api/v1/domains/sales/teams/core/members/carol")
        .await
        .ok(StatusCode::OK);
    let r = append_t(&m, &c.token, &json!([{"item_id": "t1-51", "name": "late"}])).await;
    let message = r.error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&message, "`carol`");
    assert_mentions(&message, "write");
    assert_eq!(total(&m).await, before);
    let r = get_t(&m, &c.token, &format!("{ROWS}?key=t1-1")).await;
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
        "{}",
        r.text()
    );
    assert!(!r.text().contains("apple"), "{}", r.text());
    let r = sql_t(&m, &c.token, &format!("SELECT * FROM {ITEMS}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

#[tokio::test]
async fn a_consumer_with_a_read_share_can_vend_read_but_not_write() {
    let m = items_mesh().await;
    let share = m.request_access("bob", "sales.items").await;
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");

    let c = cred(&m, "bob", &["read"], Some("t2-")).await;
    let listed = get_t(&m, &c.token, &format!("{ROWS}?limit=100"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(keys(listed["rows"].as_array().unwrap()), ["t2-1", "t2-2"]);
    assert_eq!(tenant_counts(&m, &c.token).await, counts(&[("t2", 2)]));
    let r = get_t(&m, &c.token, &format!("{ROWS}?key=t1-1")).await;
    assert_policy_denial(&r, "bob", "read");
    let r = append_t(&m, &c.token, &json!([{"item_id": "t2-9", "name": "x"}])).await;
    assert_policy_denial(&r, "bob", "write");

    for actions in [json!(["write"]), json!(["read", "write"])] {
        let r = vend(
            &m,
            "bob",
            &json!({"tables": [ITEMS], "actions": actions, "key_prefix": "t2-"}),
        )
        .await;
        let message = r.error(StatusCode::FORBIDDEN, "forbidden");
        assert_mentions(&message, "`bob`");
        assert_mentions(&message, "write");
        assert_mentions(&message, ITEMS);
    }
    assert_eq!(total(&m).await, 7);
}

// ----- validation and atomicity -----

#[tokio::test]
async fn rows_that_do_not_fit_the_schema_are_400_and_nothing_is_written() {
    let m = items_mesh().await;
    let c = cred(&m, "alice", &["read", "write"], Some("t1-")).await;
    let alice = m.token("alice");
    let before = total(&m).await;
    let good = |k: &str| json!({"item_id": k, "name": "ok", "qty": 1, "price": 1.0});

    // (batch, row, column) — every batch has valid rows around the bad one.
    let cases = [
        (
            json!([good("t1-300"), {"item_id": "t1-301", "qty": "many"}]),
            "row 1",
            "`qty`",
        ),
        (
            json!([good("t1-300"), good("t1-301"), {"item_id": "t1-302", "price": "cheap"}]),
            "row 2",
            "`price`",
        ),
        (
            json!([{"item_id": "t1-300", "colour": "red"}, good("t1-301")]),
            "row 0",
            "`colour`",
        ),
        (
            json!([good("t1-300"), {"item_id": "t1-301", "qty": 1.5}]),
            "row 1",
            "`qty`",
        ),
        (
            json!([good("t1-300"), {"item_id": "t1-301", "name": {"nested": true}}]),
            "row 1",
            "`name`",
        ),
        (
            json!([good("t1-300"), {"item_id": "t1-301", "tenant": "t2"}]),
            "row 1",
            "`tenant`",
        ),
        (
            json!([good("t1-300"), {"name": "no key"}]),
            "row 1",
            "`item_id`",
        ),
    ];
    for token in [&c.token, &alice] {
        for (batch, row, column) in &cases {
            let r = append_t(&m, token, batch).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{batch}: {}", r.text());
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert_mentions(&message, row);
            assert_mentions(&message, column);
            for other in ["row 0", "row 1", "row 2"] {
                assert!(
                    other == *row || !message.contains(other),
                    "{batch}: names only {row}: {message}"
                );
            }
        }
        // Not rows at all.
        for body in [json!([]), json!({"item_id": "t1-1"})] {
            append_t(&m, token, &body)
                .await
                .error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        let r = append_t(&m, token, &json!([good("t1-300"), 7])).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert_mentions(&r.text(), "row 1");
    }
    // Atomic: none of the valid rows of a refused batch was written.
    assert_eq!(total(&m).await, before);
    assert_eq!(m.audit("action=rows.append").await.len(), 0);
    // The owner's token may write any tenant's rows (no session policy); a valid batch is
    // written whole.
    append_t(
        &m,
        &alice,
        &json!([good("t1-300"), good("t2-300"), good("t3-1")]),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(total(&m).await, before + 3);
    assert_eq!(
        tenant_counts(&m, &alice).await,
        counts(&[("t1", 4), ("t2", 3), ("t10", 2), ("t3", 1)])
    );
}

// ----- concurrency -----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tenants_append_concurrently_without_losing_rows() {
    const TENANTS: usize = 16;
    const APPENDS: usize = 4;
    const PER_APPEND: usize = 5;
    let m = items_mesh().await;
    let before = total(&m).await;
    let mut creds = Vec::new();
    for t in 0..TENANTS {
        creds.push(cred(&m, "alice", &["read", "write"], Some(&format!("w{t:02}-"))).await);
    }
    let m = Arc::new(m);
    let start = Arc::new(tokio::sync::Barrier::new(TENANTS));
    let mut tasks = Vec::new();
    for (t, c) in creds.iter().cloned().enumerate() {
        let m = m.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for a in 0..APPENDS {
                let rows: Vec<Value> = (0..PER_APPEND)
                    .map(|i| {
                        let n = a * PER_APPEND + i;
                        json!({"item_id": format!("w{t:02}-{n:03}"), "name": format!("n{n}"),
                               "qty": (t * 1000 + n) as i64, "price": n as f64 / 4.0})
                    })
                    .collect();
                let r = append_t(&m, &c.token, &Value::Array(rows)).await;
                assert_eq!(r.status, StatusCode::CREATED, "tenant {t}: {}", r.text());
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer panicked");
    }

    // Every row is there exactly once, in its tenant's partition, intact.
    let per = (APPENDS * PER_APPEND) as i64;
    assert_eq!(total(&m).await, before + per * TENANTS as i64);
    let all = tenant_counts(&m, &m.token("alice")).await;
    for t in 0..TENANTS {
        assert_eq!(all.get(&format!("w{t:02}")), Some(&per), "{all:?}");
    }
    let distinct = m
        .rows(
            "alice",
            &format!("SELECT count(DISTINCT item_id) AS n FROM {ITEMS}"),
        )
        .await;
    assert_eq!(distinct[0]["n"], before + per * TENANTS as i64);
    for (t, c) in creds.iter().enumerate() {
        let tenant = format!("w{t:02}");
        assert_eq!(tenant_counts(&m, &c.token).await, counts(&[(&tenant, per)]));
        let rows = sql_rows_t(
            &m,
            &c.token,
            &format!("SELECT item_id, qty FROM {ITEMS} ORDER BY item_id"),
        )
        .await;
        let expected: Vec<Value> = (0..APPENDS * PER_APPEND)
            .map(|n| json!({"item_id": format!("{tenant}-{n:03}"), "qty": t * 1000 + n}))
            .collect();
        assert_eq!(rows, expected, "tenant {tenant}");
    }
    let appends = m.audit("action=rows.append&limit=1000").await;
    assert_eq!(appends.len(), TENANTS * APPENDS);
    let versions: BTreeSet<i64> = appends
        .iter()
        .map(|e| e["detail"]["version"].as_i64().expect("version"))
        .collect();
    assert_eq!(versions.len(), TENANTS * APPENDS, "one commit per append");
}
