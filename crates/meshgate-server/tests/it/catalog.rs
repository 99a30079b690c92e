//! HTTP tests of the governed catalog (issue 7) through the REST API: metadata form types
//! (typed, versioned) and forms on products, tables and share requests; enforcement rules on
//! publishing and requesting, inherited down the domain hierarchy; listing states and who
//! sees what; the glossary (terms, relations, attachment); classification and tags (and the
//! tag masks they drive); and search with facets, ranking and visibility.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{LEDGER_CSV, Mesh, Resp, assert_mentions};

const BOUNDARY: &str = "catalog-test-boundary-7a1f";

const PEOPLE_CSV: &[u8] = b"person_id,name,email,region\n\
1,ann,ann@example.com,EU\n\
2,ben,ben@example.com,US\n";

/// Creates a one-table CSV product as `who` with extra fields in its `product` part (e.g.
/// `draft`); the answer.
async fn create_product(
    m: &Mesh,
    who: &str,
    domain: &str,
    team: &str,
    name: &str,
    extra: Value,
) -> Resp {
    let mut meta = json!({"domain": domain, "team": team, "name": name});
    if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra.as_object()) {
        meta.extend(extra.clone());
    }
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"product\"\r\n\r\n{meta}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"people\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(PEOPLE_CSV);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    m.send(
        "POST",
        "/api/v1/products",
        Some(who),
        Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
        Body::from(body),
    )
    .await
}

async fn patch(m: &Mesh, who: &str, path: &str, body: &Value) -> Resp {
    m.send(
        "PATCH",
        path,
        Some(who),
        Some("application/json"),
        Body::from(body.to_string()),
    )
    .await
}

/// The demo mesh with a form type `ownership` of every field kind and a glossary
/// `business` with terms `party`, `customer` (is_a party) and `vip` (is_a customer).
async fn catalog_mesh() -> Mesh {
    let m = Mesh::demo().await;
    m.post(
        "admin",
        "/api/v1/glossaries",
        &json!({"name": "business", "description": "words the business uses"}),
    )
    .await
    .ok(StatusCode::CREATED);
    for (term, description) in [
        ("party", "a person or organisation we deal with"),
        ("customer", "a party that buys from us"),
        ("vip", "a customer with a key account"),
    ] {
        m.post(
            "admin",
            "/api/v1/glossaries/business/terms",
            &json!({"name": term, "description": description}),
        )
        .await
        .ok(StatusCode::CREATED);
    }
    for (term, target) in [("customer", "business.party"), ("vip", "business.customer")] {
        m.put(
            "admin",
            &format!("/api/v1/glossaries/business/terms/{term}/relations/is_a/{target}"),
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    }
    m.post(
        "admin",
        "/api/v1/form-types",
        &json!({
            "name": "ownership",
            "description": "who answers for a product",
            "fields": [
                {"name": "owner", "type": "principal", "required": true, "description": "accountable person"},
                {"name": "tier", "type": "enum", "values": ["gold", "silver", "bronze"]},
                {"name": "reviewed", "type": "date"},
                {"name": "certified", "type": "boolean"},
                {"name": "rows", "type": "number"},
                {"name": "subject", "type": "glossary_term", "glossary": "business"},
                {"name": "notes", "type": "string"}
            ]
        }),
    )
    .await
    .ok(StatusCode::CREATED);
    m
}

fn form_path(product: &str, form: &str) -> String {
    let (d, p) = product.split_once('.').unwrap();
    format!("/api/v1/products/{d}/{p}/forms/{form}")
}

async fn search(m: &Mesh, who: &str, query: &str) -> Value {
    m.get(who, &format!("/api/v1/search?{query}"))
        .await
        .ok(StatusCode::OK)
}

fn products(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["product"].as_str().unwrap().to_string())
        .collect()
}

fn facet(results: &Value, facet: &str) -> Vec<(String, u64)> {
    results["facets"][facet]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn form_types_check_values_by_type_and_keep_old_revisions_valid() {
    let m = catalog_mesh().await;
    // Only admins define form types; field definitions are checked.
    let msg = m
        .post(
            "alice",
            "/api/v1/form-types",
            &json!({"name": "x", "fields": [{"name": "a", "type": "string"}]}),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "alice");
    for (fields, needle) in [
        (json!([]), "at least one field"),
        (json!([{"name": "t", "type": "enum"}]), "needs `values`"),
        (json!([{"name": "t", "type": "colour"}]), "colour"),
        (
            json!([{"name": "t", "type": "string"}, {"name": "t", "type": "number"}]),
            "field `t` is given twice",
        ),
        (
            json!([{"name": "t", "type": "glossary_term", "glossary": "nope"}]),
            "glossary `nope`",
        ),
    ] {
        let msg = m
            .post(
                "admin",
                "/api/v1/form-types",
                &json!({"name": "bad", "fields": fields}),
            )
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, needle);
    }

    // Values of every type are accepted; each wrong one is named with its problem.
    let path = form_path("sales.orders", "ownership");
    let good = json!({"values": {
        "owner": "alice", "tier": "gold", "reviewed": "2024-02-29", "certified": true,
        "rows": 100000, "subject": "business.customer", "notes": "the web shop's orders"
    }});
    let v = m.put("alice", &path, &good).await.ok(StatusCode::OK);
    assert_eq!(
        (v["form"].as_str(), v["revision"].as_i64()),
        (Some("ownership"), Some(1))
    );
    for (values, needle) in [
        (
            json!({"owner": "alice", "rows": "many"}),
            "field `rows`: expected a number",
        ),
        (
            json!({"owner": "alice", "certified": "yes"}),
            "field `certified`: expected true or false",
        ),
        (
            json!({"owner": "alice", "reviewed": "29/02/2024"}),
            "field `reviewed`: expected a date",
        ),
        (
            json!({"owner": "alice", "tier": "platinum"}),
            "field `tier`: expected one of `gold`, `silver`, `bronze`",
        ),
        (
            json!({"owner": "alice", "subject": "business.martian"}),
            "unknown glossary term `business.martian`",
        ),
        (
            json!({"owner": "alice", "subject": "other.customer"}),
            "not a term of glossary `business`",
        ),
        (
            json!({"owner": "nobody"}),
            "field `owner`: unknown principal `nobody`",
        ),
        (
            json!({"tier": "gold"}),
            "missing required field(s): `owner`",
        ),
        (
            json!({"owner": "alice", "colour": "red"}),
            "no field `colour`",
        ),
    ] {
        let msg = m
            .put("alice", &path, &json!({"values": values}))
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, needle);
    }
    // Bob (not an owner) may read but not fill the form.
    m.put("bob", &path, &good)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let forms = m
        .get("bob", "/api/v1/products/sales/orders/forms")
        .await
        .ok(StatusCode::OK);
    assert_eq!(forms[0]["values"]["tier"], "gold");

    // A new revision with a new required field: the old form stays valid, at revision 1.
    let v = m
        .put(
            "admin",
            "/api/v1/form-types/ownership",
            &json!({"fields": [
                {"name": "owner", "type": "principal", "required": true},
                {"name": "tier", "type": "enum", "values": ["gold", "silver"]},
                {"name": "steward", "type": "principal", "required": true}
            ]}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["revision"], 2);
    let forms = m
        .get("alice", "/api/v1/products/sales/orders/forms")
        .await
        .ok(StatusCode::OK);
    assert_eq!(forms[0]["revision"], 1);
    assert_eq!(forms[0]["latest_revision"], 2);
    assert_eq!(forms[0]["values"]["rows"], 100000);
    let old = m
        .get("alice", "/api/v1/form-types/ownership/revisions/1")
        .await
        .ok(StatusCode::OK);
    assert_eq!(old["fields"].as_array().unwrap().len(), 7);
    // Filling it again uses revision 2.
    let msg = m
        .put("alice", &path, &json!({"values": {"owner": "alice"}}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "`steward`");
    let v = m
        .put(
            "alice",
            &path,
            &json!({"values": {"owner": "alice", "steward": "carol"}}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["revision"], 2);
    // Forms on a table too; a used form type cannot be deleted.
    m.put(
        "alice",
        "/api/v1/products/sales/orders/tables/orders/forms/ownership",
        &json!({"values": {"owner": "carol", "steward": "alice"}}),
    )
    .await
    .ok(StatusCode::OK);
    let msg = m
        .delete("admin", "/api/v1/form-types/ownership")
        .await
        .error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&msg, "form(s) of it are filled");
    let audit = m.audit("action=form.").await;
    assert_eq!(audit.len(), 3, "{audit:?}");
}

#[tokio::test]
async fn publish_rules_name_exactly_the_missing_forms_and_apply_to_child_domains() {
    let m = catalog_mesh().await;
    m.post(
        "admin",
        "/api/v1/form-types",
        &json!({"name": "quality", "fields": [{"name": "tier", "type": "enum", "values": ["gold", "silver"], "required": true}]}),
    )
    .await
    .ok(StatusCode::CREATED);
    // Rule validation: unknown forms, too many, an unknown action.
    for (body, needle) in [
        (
            json!({"action": "publish_product", "forms": ["ownership", "ghost"]}),
            "unknown form type(s) `ghost`",
        ),
        (
            json!({"action": "publish_product", "forms": []}),
            "between 1 and 5",
        ),
        (
            json!({"action": "publish_product", "forms": ["ownership", "quality", "ownership"]}),
            "listed twice",
        ),
        (
            json!({"action": "delete_everything", "forms": ["ownership"]}),
            "unknown action",
        ),
    ] {
        let msg = m
            .post("admin", "/api/v1/domains/sales/rules", &body)
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, needle);
    }
    m.post(
        "alice",
        "/api/v1/domains/sales/rules",
        &json!({"action": "publish_product", "forms": ["ownership"]}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    m.post(
        "admin",
        "/api/v1/domains/sales/rules",
        &json!({"action": "publish_product", "forms": ["ownership", "quality"], "include_children": true}),
    )
    .await
    .ok(StatusCode::CREATED);

    // A unit of `sales`, with alice owning a team there.
    m.post(
        "admin",
        "/api/v1/domains",
        &json!({"name": "emea", "parent": "sales"}),
    )
    .await
    .ok(StatusCode::CREATED);
    m.create_team("emea", "core").await;
    m.put(
        "admin",
        "/api/v1/domains/emea/teams/core/members/alice",
        &json!({"role": "owner"}),
    )
    .await
    .ok(StatusCode::OK);
    let rules = m
        .get("bob", "/api/v1/domains/emea/rules")
        .await
        .ok(StatusCode::OK);
    assert_eq!(rules[0]["domain"], "sales");
    assert_eq!(rules[0]["inherited"], true);

    // In a domain with a publish rule, a new product starts as a draft.
    let v = create_product(&m, "alice", "emea", "core", "people", json!({}))
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["listing"], "draft");
    let msg = m
        .post("alice", "/api/v1/products/emea/people/publish", &json!({}))
        .await
        .error(StatusCode::CONFLICT, "missing_forms");
    assert_mentions(
        &msg,
        "missing metadata form(s) `ownership` (required by a rule of domain `sales`), `quality` (required by a rule of domain `sales`)",
    );
    m.put(
        "alice",
        &form_path("emea.people", "ownership"),
        &json!({"values": {"owner": "alice"}}),
    )
    .await
    .ok(StatusCode::OK);
    let msg = m
        .post("alice", "/api/v1/products/emea/people/publish", &json!({}))
        .await
        .error(StatusCode::CONFLICT, "missing_forms");
    assert_mentions(&msg, "`quality`");
    assert!(!msg.contains("`ownership`"), "{msg}");
    let cat = m
        .get("alice", "/api/v1/products/emea/people/catalog")
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        cat["publish_requirements"],
        json!([{"form": "ownership", "present": true}, {"form": "quality", "present": false}])
    );
    m.put(
        "alice",
        &form_path("emea.people", "quality"),
        &json!({"values": {"tier": "gold"}}),
    )
    .await
    .ok(StatusCode::OK);
    // Bob may not publish someone else's product (and cannot even see the draft).
    m.post("bob", "/api/v1/products/emea/people/publish", &json!({}))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let v = m
        .post("alice", "/api/v1/products/emea/people/publish", &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["listing"], "published");
    // Publishing again is a no-op; a required form stays while published.
    m.post("alice", "/api/v1/products/emea/people/publish", &json!({}))
        .await
        .ok(StatusCode::OK);
    let msg = m
        .delete("alice", &form_path("emea.people", "quality"))
        .await
        .error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&msg, "unpublish it first");

    // Edits make new revisions of the published product.
    let before = m
        .get("bob", "/api/v1/products/emea/people")
        .await
        .ok(StatusCode::OK)["revision"]
        .as_i64()
        .unwrap();
    let v = patch(
        &m,
        "alice",
        "/api/v1/products/emea/people",
        &json!({"description": "people of EMEA"}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(v["revision"].as_i64().unwrap(), before + 1);
    assert_eq!(v["listing"], "published");
    let seen = m
        .get("bob", "/api/v1/products/emea/people")
        .await
        .ok(StatusCode::OK);
    assert_eq!(seen["description"], "people of EMEA");

    // A domain outside the rule: products are published at creation, as before.
    let v = create_product(
        &m,
        "alice",
        "sales",
        "core",
        "free",
        json!({"draft": false}),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(v["listing"], "draft", "sales has the rule itself");
    let v = create_product(
        &m,
        "alice",
        "emea",
        "core",
        "drafty",
        json!({"draft": true}),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(v["listing"], "draft");
    // A cycle in the hierarchy is refused, naming it.
    let msg = m
        .put(
            "admin",
            "/api/v1/domains/sales/parent",
            &json!({"parent": "emea"}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "sales → emea → sales");
    let audit = m.audit("action=product.publish").await;
    assert_eq!(
        audit.len(),
        1,
        "the no-op publish is not a change: {audit:?}"
    );
}

#[tokio::test]
async fn drafts_and_unpublished_products_are_for_their_team_and_unpublishing_keeps_shares() {
    let m = catalog_mesh().await;
    let v = create_product(
        &m,
        "alice",
        "sales",
        "core",
        "people",
        json!({"draft": true}),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(v["listing"], "draft");
    // Outsiders: no product, no listing, no search hit, no request.
    m.get("bob", "/api/v1/products/sales/people")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let listed = m.get("bob", "/api/v1/products").await.ok(StatusCode::OK);
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "people"),
        "{listed}"
    );
    assert!(products(&search(&m, "bob", "q=people").await).is_empty());
    m.post(
        "bob",
        "/api/v1/shares",
        &json!({"product": "sales.people", "reason": "x"}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    // The team and admins see it.
    assert_eq!(
        products(&search(&m, "carol", "q=people").await),
        ["sales.people"]
    );
    assert_eq!(
        products(&search(&m, "admin", "q=people&listing=draft").await),
        ["sales.people"]
    );
    m.post(
        "alice",
        "/api/v1/products/sales/people/unpublish",
        &json!({}),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
    m.post("alice", "/api/v1/products/sales/people/publish", &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        products(&search(&m, "bob", "q=people").await),
        ["sales.people"]
    );

    // Bob gets access; unpublishing hides the product and refuses new requests, but bob's
    // grant stays in force.
    let share = m.request_access("bob", "sales.people").await;
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        m.rows("bob", "SELECT count(*) AS n FROM sales.people.people")
            .await[0]["n"],
        2
    );
    let v = m
        .post(
            "carol",
            "/api/v1/products/sales/people/unpublish",
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["listing"], "unpublished");
    assert!(products(&search(&m, "bob", "q=people").await).is_empty());
    m.get("bob", "/api/v1/products/sales/people")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        m.rows("bob", "SELECT count(*) AS n FROM sales.people.people")
            .await[0]["n"],
        2,
        "existing shares keep working"
    );
    // Admins see it, and a request for it is refused as not published.
    let msg = m
        .post(
            "admin",
            "/api/v1/shares",
            &json!({"product": "sales.people", "team": "marketing.analytics", "reason": "x"}),
        )
        .await
        .error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&msg, "only published products can be requested");
    assert_eq!(m.share("bob", &share).await["summary"]["shared"], 1);
}

#[tokio::test]
async fn request_rules_require_forms_on_access_requests() {
    let m = catalog_mesh().await;
    m.post(
        "admin",
        "/api/v1/form-types",
        &json!({"name": "purpose", "fields": [
            {"name": "use", "type": "enum", "values": ["analytics", "marketing"], "required": true},
            {"name": "until", "type": "date"}
        ]}),
    )
    .await
    .ok(StatusCode::CREATED);
    m.post(
        "admin",
        "/api/v1/domains/sales/rules",
        &json!({"action": "request_access", "forms": ["purpose"], "description": "say why"}),
    )
    .await
    .ok(StatusCode::CREATED);
    let msg = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "attribution"}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "missing_forms");
    assert_mentions(
        &msg,
        "needs metadata form(s) `purpose` (required by a rule of domain `sales`)",
    );
    let msg = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "attribution",
                    "forms": {"purpose": {"use": "resale"}}}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "form `purpose` field `use`");
    let msg = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "attribution",
                    "forms": {"nonesuch": {}}}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "unknown form type `nonesuch`");
    assert!(m.audit("action=share.request").await.is_empty());

    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.orders", "reason": "attribution",
                    "forms": {"purpose": {"use": "analytics", "until": "2030-01-01"}}}),
        )
        .await
        .ok(StatusCode::CREATED);
    let id = v["id"].as_str().unwrap();
    // The approver sees the forms of the request.
    let forms = m
        .get("alice", &format!("/api/v1/shares/{id}/forms"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(forms[0]["form"], "purpose");
    assert_eq!(forms[0]["values"]["use"], "analytics");

    // A draft may lack them; submitting it may not.
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({"product": "sales.customers", "reason": "newsletter", "draft": true}),
        )
        .await
        .ok(StatusCode::CREATED);
    let draft = v["id"].as_str().unwrap().to_string();
    let msg = m
        .post("bob", &format!("/api/v1/shares/{draft}/submit"), &json!({}))
        .await
        .error(StatusCode::CONFLICT, "missing_forms");
    assert_mentions(&msg, "`purpose`");
    m.put(
        "alice",
        &format!("/api/v1/shares/{draft}/forms/purpose"),
        &json!({"values": {"use": "marketing"}}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    m.put(
        "bob",
        &format!("/api/v1/shares/{draft}/forms/purpose"),
        &json!({"values": {"use": "marketing"}}),
    )
    .await
    .ok(StatusCode::OK);
    let v = m
        .post("bob", &format!("/api/v1/shares/{draft}/submit"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "submitted");
}

#[tokio::test]
async fn glossary_refuses_duplicates_cycles_and_unknown_terms() {
    let m = catalog_mesh().await;
    let msg = m
        .post(
            "admin",
            "/api/v1/glossaries/business/terms",
            &json!({"name": "customer"}),
        )
        .await
        .error(StatusCode::CONFLICT, "already_exists");
    assert_mentions(
        &msg,
        "name: glossary `business` already has a term `customer`",
    );
    m.post(
        "alice",
        "/api/v1/glossaries/business/terms",
        &json!({"name": "x"}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    m.post(
        "admin",
        "/api/v1/glossaries/business/terms",
        &json!({"name": "Bad Name"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_name");
    // party is_a vip would close vip → customer → party → vip.
    let msg = m
        .put(
            "admin",
            "/api/v1/glossaries/business/terms/party/relations/is_a/business.vip",
            &json!({}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "relation `is_a`");
    assert_mentions(
        &msg,
        "business.party is_a business.vip is_a business.customer is_a business.party",
    );
    let msg = m
        .put(
            "admin",
            "/api/v1/glossaries/business/terms/party/relations/is_a/business.nope",
            &json!({}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "target: unknown glossary term `business.nope`");
    m.put(
        "admin",
        "/api/v1/glossaries/business/terms/party/relations/kind_of/business.vip",
        &json!({}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    let v = m
        .put(
            "admin",
            "/api/v1/glossaries/business/terms/party/relations/classifies/business.vip",
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["classifies"], json!(["business.vip"]));
    assert_eq!(v["narrower"], json!(["business.customer"]));
    let v = m
        .get("bob", "/api/v1/glossaries/business/terms/vip")
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["is_a"], json!(["business.customer"]));
    assert_eq!(v["classified_by"], json!(["business.party"]));

    // Terms attach to products and columns; unknown and disabled ones are refused.
    m.put(
        "alice",
        "/api/v1/products/sales/customers/terms/business.customer",
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    m.put(
        "alice",
        "/api/v1/products/sales/customers/tables/customers/columns/email/terms/business.party",
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    m.put(
        "alice",
        "/api/v1/products/sales/customers/tables/customers/columns/nope/terms/business.party",
        &json!({}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    m.put(
        "alice",
        "/api/v1/products/sales/customers/terms/business.martian",
        &json!({}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    m.put(
        "alice",
        "/api/v1/products/sales/customers/terms/customer",
        &json!({}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    patch(
        &m,
        "admin",
        "/api/v1/glossaries/business/terms/vip",
        &json!({"enabled": false}),
    )
    .await
    .ok(StatusCode::OK);
    let msg = m
        .put(
            "alice",
            "/api/v1/products/sales/customers/terms/business.vip",
            &json!({}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "is disabled");
    let cat = m
        .get("bob", "/api/v1/products/sales/customers/catalog")
        .await
        .ok(StatusCode::OK);
    assert_eq!(cat["terms"], json!(["business.customer"]));
    let email = cat["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "email")
        .unwrap()
        .clone();
    assert_eq!(email["terms"], json!(["business.party"]));
    // An attached term cannot be deleted; detaching it allows it.
    let msg = m
        .delete("admin", "/api/v1/glossaries/business/terms/customer")
        .await
        .error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&msg, "carry it");
    m.delete(
        "alice",
        "/api/v1/products/sales/customers/terms/business.customer",
    )
    .await
    .ok(StatusCode::OK);
    m.delete(
        "alice",
        "/api/v1/products/sales/customers/terms/business.customer",
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    m.delete("admin", "/api/v1/glossaries/business")
        .await
        .error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn classification_is_a_tag_that_tag_masks_consume() {
    let m = catalog_mesh().await;
    let base = "/api/v1/products/sales/customers/tables/customers";
    let v = m
        .put(
            "alice",
            &format!("{base}/columns/name/classification"),
            &json!({"classification": "restricted"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["tags"], json!(["restricted"]));
    // The email column keeps the `pii` tags automatic classification gave it beside its
    // classification (which the detection had made `confidential` already).
    let v = m
        .put(
            "alice",
            &format!("{base}/columns/email/classification"),
            &json!({"classification": "confidential"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["tags"], json!(["pii", "pii_email", "confidential"]));
    let v = m
        .put(
            "alice",
            &format!("{base}/columns/email/classification"),
            &json!({"classification": "internal"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        v["tags"],
        json!(["pii", "pii_email", "internal"]),
        "one classification at a time"
    );
    let msg = m
        .put(
            "alice",
            &format!("{base}/classification"),
            &json!({"classification": "secret"}),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&msg, "classification: unknown classification `secret`");
    m.put(
        "alice",
        &format!("{base}/table-tags"),
        &json!({"tags": ["customer_data", "gdpr"]}),
    )
    .await
    .ok(StatusCode::OK);
    let v = m
        .put(
            "alice",
            &format!("{base}/classification"),
            &json!({"classification": "confidential"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["tags"], json!(["customer_data", "gdpr", "confidential"]));
    m.put(
        "bob",
        &format!("{base}/table-tags"),
        &json!({"tags": ["x"]}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    m.put(
        "alice",
        &format!("{base}/table-tags"),
        &json!({"tags": ["Not A Tag"]}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_name");
    // The existing column tag listing shows classifications, and the product's
    // classification is its most sensitive one.
    let tags = m
        .get("bob", &format!("{base}/tags"))
        .await
        .ok(StatusCode::OK);
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .any(|t| t["column"] == "name" && t["tags"] == json!(["restricted"])),
        "{tags}"
    );
    let cat = m
        .get("bob", "/api/v1/products/sales/customers/catalog")
        .await
        .ok(StatusCode::OK);
    assert_eq!(cat["classification"], "restricted");
    assert_eq!(cat["tables"][0]["classification"], "confidential");

    // A tag mask on a classification applies to the columns it classifies.
    m.put(
        "admin",
        "/api/v1/tag-masks",
        &json!({"tag": "restricted", "mask": "redact"}),
    )
    .await
    .ok(StatusCode::OK);
    let share = m.request_access("bob", "sales.customers").await;
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let rows = m
        .rows(
            "bob",
            "SELECT name FROM sales.customers.customers ORDER BY customer_id LIMIT 1",
        )
        .await;
    let owner = m
        .rows(
            "alice",
            "SELECT name FROM sales.customers.customers ORDER BY customer_id LIMIT 1",
        )
        .await;
    assert_ne!(
        rows[0]["name"], owner[0]["name"],
        "bob reads the redacted name"
    );
    assert!(
        rows[0]["name"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c == 'x' || c == 'X' || !c.is_alphabetic()),
        "{rows:?}"
    );
}

#[tokio::test]
async fn search_covers_metadata_with_facets_ranking_and_visibility() {
    let m = catalog_mesh().await;
    // Fresh demo mesh: both products are published and found by name, table and column.
    let r = search(&m, "bob", "q=orders").await;
    assert_eq!(products(&r)[0], "sales.orders", "the name ranks first: {r}");
    let r = search(&m, "bob", "q=email").await;
    assert_eq!(
        products(&r)
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2,
        "a column name of both products: {r}"
    );
    assert!(
        r["results"][0].get("rows").is_none(),
        "metadata, never data"
    );
    // Writes are visible to the next search: description, form values, terms, tags.
    patch(
        &m,
        "alice",
        "/api/v1/products/sales/customers",
        &json!({"description": "the loyalty programme's members"}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(
        products(&search(&m, "bob", "q=loyalty").await),
        ["sales.customers"]
    );
    m.put(
        "alice",
        &form_path("sales.orders", "ownership"),
        &json!({"values": {"owner": "alice", "notes": "reconciled nightly with the ledger"}}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(
        products(&search(&m, "bob", "q=ledger").await),
        ["sales.orders"]
    );
    m.put(
        "alice",
        "/api/v1/products/sales/customers/tables/customers/columns/email/terms/business.vip",
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    // A broader term finds products carrying a narrower one, by filter and by text.
    let r = search(&m, "bob", "term=business.party").await;
    assert_eq!(products(&r), ["sales.customers"]);
    assert_eq!(
        products(&search(&m, "bob", "q=organisation").await),
        ["sales.customers"],
        "the broader term's description"
    );
    assert!(products(&search(&m, "bob", "term=business.vip&q=orders").await).is_empty());
    // Automatic classification tagged the e-mail columns of both demo products (`pii`,
    // `pii_email`, `confidential`); alice rejects the orders' detection, which takes its tags
    // off again, and classifies the orders table `internal`.
    let mut detected = products(&search(&m, "bob", "tag=pii_email").await);
    detected.sort();
    assert_eq!(detected, ["sales.customers", "sales.orders"]);
    m.post(
        "alice",
        "/api/v1/products/sales/orders/tables/orders/columns/customer_email/suggestions/email/reject",
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    m.put(
        "alice",
        "/api/v1/products/sales/orders/tables/orders/classification",
        &json!({"classification": "internal"}),
    )
    .await
    .ok(StatusCode::OK);
    // Facets over everything bob sees of `sales` (the demo mesh has other domains too).
    let r = search(&m, "bob", "domain=sales").await;
    assert_eq!(r["total"], 2);
    assert_eq!(facet(&r, "domain"), [("sales".to_string(), 2)]);
    assert_eq!(facet(&r, "team"), [("sales.core".to_string(), 2)]);
    let one = |v: &str| (v.to_string(), 1);
    assert_eq!(
        facet(&r, "tag"),
        [
            one("confidential"),
            one("internal"),
            one("pii"),
            one("pii_email")
        ]
    );
    assert_eq!(
        facet(&r, "classification"),
        [one("confidential"), one("internal")]
    );
    assert_eq!(facet(&r, "term"), [("business.vip".to_string(), 1)]);
    assert_eq!(
        products(&search(&m, "bob", "tag=pii").await),
        ["sales.customers"]
    );
    assert_eq!(
        products(&search(&m, "bob", "classification=internal").await),
        ["sales.orders"]
    );
    assert_eq!(search(&m, "bob", "team=sales.core").await["total"], 2);
    assert_eq!(
        search(&m, "bob", "team=marketing.analytics").await["total"],
        0
    );
    // Domain filters include the domain's units.
    m.post("admin", "/api/v1/domains", &json!({"name": "retail"}))
        .await
        .ok(StatusCode::CREATED);
    m.put(
        "admin",
        "/api/v1/domains/sales/parent",
        &json!({"parent": "retail"}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(search(&m, "bob", "domain=retail").await["total"], 2);
    assert_eq!(search(&m, "bob", "domain=marketing").await["total"], 0);
    // A draft is found by its team only; a deleted product by nobody.
    create_product(
        &m,
        "alice",
        "sales",
        "core",
        "people_ledger",
        json!({"draft": true}),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(search(&m, "alice", "q=ledger").await["total"], 2);
    assert_eq!(search(&m, "bob", "q=ledger").await["total"], 1);
    m.delete("alice", "/api/v1/products/sales/people_ledger")
        .await
        .ok(StatusCode::OK);
    assert_eq!(search(&m, "alice", "q=ledger").await["total"], 1);
    // Odd input is searched for; bad parameters are named.
    search(&m, "bob", "q=%22unbalanced%20(%20AND").await;
    for (query, needle) in [
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("classification=secret", "classification"),
        ("listing=gone", "listing"),
        ("term=nope", "term"),
        ("team=nodot", "team"),
    ] {
        let msg = m
            .get("bob", &format!("/api/v1/search?{query}"))
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, needle);
    }
    m.get("bob", "/api/v1/search?domain=nowhere")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    // Paging.
    let page = search(&m, "bob", "domain=sales&limit=1&offset=1").await;
    assert_eq!(
        (page["total"].as_u64(), products(&page).len()),
        (Some(2), 1)
    );
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_store_on_start() {
    let m = catalog_mesh().await;
    patch(
        &m,
        "alice",
        "/api/v1/products/sales/orders",
        &json!({"description": "zeppelin shipments"}),
    )
    .await
    .ok(StatusCode::OK);
    // A second state on the same data dir builds its index from the store alone.
    let config = meshgate_server::Config {
        data_dir: m.dir.path().to_path_buf(),
        ..meshgate_server::Config::default()
    };
    let state = meshgate_server::AppState::open(config).await.unwrap();
    let r = state
        .catalog
        .index
        .search(
            &meshgate_server::catalog::search::Viewer::Admin,
            &meshgate_server::catalog::search::SearchQuery {
                text: "zeppelin".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.total, 1);
    assert_eq!(r.results[0].product, "sales.orders");
}

/// The search index follows the audit log (docs/design/ARCHITECTURE.md §Server layout): the
/// server that made a change finds it at once (its hook runs after the request); a second
/// server on the same store finds products created, changed and deleted through the first
/// once it catches up — and not before, since the log is its only way to learn of them.
#[tokio::test]
async fn the_search_index_follows_changes_made_through_another_server() {
    let m = Mesh::demo().await;
    let other = m.replica().await;
    let ledger = "sales.ledger".to_string();
    assert!(!products(&search(&other, "alice", "q=ledger").await).contains(&ledger));

    m.upload_csv("alice", "sales", "core", "ledger", "ledger", LEDGER_CSV)
        .await;
    assert!(products(&search(&m, "alice", "q=ledger").await).contains(&ledger));
    assert!(!products(&search(&other, "alice", "q=ledger").await).contains(&ledger));
    other.state.catch_up().await;
    assert!(products(&search(&other, "alice", "q=ledger").await).contains(&ledger));

    patch(
        &m,
        "alice",
        "/api/v1/products/sales/ledger",
        &json!({"description": "zebra crossings by month"}),
    )
    .await
    .ok(StatusCode::OK);
    assert!(!products(&search(&other, "alice", "q=zebra").await).contains(&ledger));
    other.state.catch_up().await;
    assert!(products(&search(&other, "alice", "q=zebra").await).contains(&ledger));
    // Caught up already: catching up again changes nothing.
    other.state.catch_up().await;
    assert!(products(&search(&other, "alice", "q=zebra").await).contains(&ledger));

    m.delete("alice", "/api/v1/products/sales/ledger")
        .await
        .ok(StatusCode::OK);
    assert!(!products(&search(&m, "alice", "q=ledger").await).contains(&ledger));
    other.state.catch_up().await;
    assert!(!products(&search(&other, "alice", "q=ledger").await).contains(&ledger));
}
