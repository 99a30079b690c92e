//! Automatic classification (docs/design/CLASSIFICATION.md): detections on create and append
//! become suggested tags; in mode `apply` a confident one tags its column at once, so the tag
//! masks hash it for every non-owner on the next query with no human step; owners and
//! stewards confirm or reject; every change is audited and no evidence holds a value.

use axum::body::Body;
use axum::http::StatusCode;
use meshgate_core::classification::ClassificationMode;
use serde_json::{Value, json};

use crate::common::Mesh;

const CONTACTS: &str = "sales.contacts.contacts";
const SUGGESTIONS: &str = "/api/v1/products/sales/contacts/suggestions";
const EMAIL: &str =
    "/api/v1/products/sales/contacts/tables/contacts/columns/contact/suggestions/email";

/// A CSV `id,contact,city` of rows `from..to`, the contacts e-mail addresses, and every value
/// in it (to look for in evidence and in the audit log).
fn contacts(from: usize, to: usize) -> (Vec<u8>, Vec<String>) {
    const CITIES: [&str; 4] = ["Lisbon", "Utrecht", "Tampere", "Porto"];
    let mut csv = String::from("id,contact,city\n");
    let mut values = Vec::new();
    for i in from..to {
        let email = format!("person.{i}.ab@mail-{}.example.org", i % 7);
        let city = CITIES[i % CITIES.len()];
        csv.push_str(&format!("{i},{email},{city}\n"));
        values.push(email);
        values.push(city.to_string());
    }
    (csv.into_bytes(), values)
}

/// Whether `v` is what the `hash` mask makes of a value: 64 hex characters.
fn hashed(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The `contact` column of `sales.contacts` as `who` reads it, by id.
async fn contact_column(m: &Mesh, who: &str) -> Vec<Value> {
    m.rows(who, &format!("SELECT contact FROM {CONTACTS} ORDER BY id"))
        .await
        .into_iter()
        .map(|r| r["contact"].clone())
        .collect()
}

/// bob (marketing) requests `product` and alice approves it whole, with no mask of her own.
async fn grant_bob(m: &Mesh, product: &str) {
    let share = m.request_access("bob", product).await;
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
}

async fn append_csv(m: &Mesh, who: &str, csv: Vec<u8>) {
    m.send(
        "POST",
        "/api/v1/products/sales/contacts/tables/contacts/data?format=csv",
        Some(who),
        Some("text/csv"),
        Body::from(csv),
    )
    .await
    .ok(StatusCode::OK);
}

/// The tags of `column` of `sales.contacts.contacts`.
async fn tags_of(m: &Mesh, column: &str) -> Value {
    let v = m
        .get(
            "alice",
            "/api/v1/products/sales/contacts/tables/contacts/tags",
        )
        .await
        .ok(StatusCode::OK);
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == column)
        .map_or(json!([]), |c| c["tags"].clone())
}

/// The classification events of `sales.contacts.contacts`, oldest first.
async fn events(m: &Mesh) -> Vec<Value> {
    m.audit("action=column.classification_&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["detail"]["table"] == CONTACTS)
        .collect()
}

fn assert_no_value_in(text: &str, values: &[String]) {
    for v in values {
        assert!(!text.contains(v.as_str()), "`{v}` is in: {text}");
    }
}

#[tokio::test]
async fn apply_masks_a_detected_column_for_non_owners_with_no_manual_tag() {
    let m = Mesh::demo().await;
    let (csv, values) = contacts(0, 40);
    m.upload_csv("alice", "sales", "core", "contacts", "contacts", &csv)
        .await;
    // Tagged by the detection, not by anyone.
    assert_eq!(
        tags_of(&m, "contact").await,
        json!(["pii", "pii_email", "confidential"])
    );
    let manual: Vec<Value> = m
        .audit("action=column.tag&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["detail"]["table"] == CONTACTS)
        .collect();
    assert!(manual.is_empty(), "{manual:?}");
    let listed = m.get("bob", SUGGESTIONS).await.ok(StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let s = &listed[0];
    assert_eq!(
        (&s["table"], &s["column"], &s["kind"], &s["status"]),
        (
            &json!(CONTACTS),
            &json!("contact"),
            &json!("email"),
            &json!("applied")
        )
    );
    assert!(s["confidence"].as_f64().unwrap() >= 0.9, "{s}");
    assert!(s["evidence"].as_str().unwrap().contains("40 of 40"), "{s}");
    assert_eq!(s["decided_by"], Value::Null);

    // The demo's mesh-wide tag mask hashes `pii` for bob as soon as he may read the table;
    // alice, an owner, reads the addresses.
    grant_bob(&m, "sales.contacts").await;
    let bobs = contact_column(&m, "bob").await;
    assert_eq!(bobs.len(), 40);
    assert!(bobs.iter().all(hashed), "{bobs:?}");
    let alices = contact_column(&m, "alice").await;
    assert_eq!(alices[0], json!(values[0]));

    // Audited: applied, by the write that brought the values, with no value in it.
    let events = events(&m).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["action"], "column.classification_applied");
    assert_eq!(
        (&e["actor"], &e["object_type"]),
        (&json!("alice"), &json!("table"))
    );
    assert_eq!(e["detail"]["trigger"], "create");
    assert_eq!(
        e["detail"]["tags_added"],
        json!(["pii", "pii_email", "confidential"])
    );
    assert_no_value_in(&e.to_string(), &values);
    // The catalog search finds the product by its new tag.
    let found = m
        .get("bob", "/api/v1/search?tag=pii_email")
        .await
        .ok(StatusCode::OK);
    assert!(
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["product"] == "sales.contacts"),
        "{found}"
    );
}

#[tokio::test]
async fn an_append_that_brings_personal_data_masks_it_on_the_very_next_query() {
    let m = Mesh::demo().await;
    // Three handles: nothing to detect yet (too few values, a neutral name).
    m.upload_csv(
        "alice",
        "sales",
        "core",
        "signups",
        "signups",
        b"id,handle\n1,zed\n2,amy\n3,kit\n",
    )
    .await;
    let path = "/api/v1/products/sales/signups/suggestions";
    assert_eq!(m.get("alice", path).await.ok(StatusCode::OK), json!([]));
    grant_bob(&m, "sales.signups").await;
    let read = "SELECT handle FROM sales.signups.signups ORDER BY id";
    assert_eq!(m.rows("bob", read).await[0]["handle"], "zed");

    // The rows API appends twenty e-mail addresses: classified before they are written.
    let rows: Vec<Value> = (4..24)
        .map(|i| json!({"id": i, "handle": format!("fan{i}.xy@inbox-{i}.example.net")}))
        .collect();
    m.post(
        "alice",
        "/api/v1/products/sales/signups/tables/signups/rows",
        &json!(rows),
    )
    .await
    .ok(StatusCode::CREATED);
    let bobs = m.rows("bob", read).await;
    assert_eq!(bobs.len(), 23);
    assert!(
        bobs.iter().all(|r| hashed(&r["handle"])),
        "the whole column is masked: {bobs:?}"
    );
    let applied = m
        .audit("action=column.classification_applied&limit=1000")
        .await
        .into_iter()
        .find(|e| e["detail"]["table"] == "sales.signups.signups")
        .expect("an applied event");
    assert_eq!(applied["detail"]["trigger"], "rows");
    assert_eq!(applied["actor"], "alice");
    for row in &rows {
        assert_no_value_in(
            &applied.to_string(),
            &[row["handle"].as_str().unwrap().into()],
        );
    }
}

#[tokio::test]
async fn suggest_mode_tags_nothing_until_an_owner_or_steward_confirms() {
    let m = Mesh::demo_with(|c| c.classification.mode = Some(ClassificationMode::Suggest)).await;
    let (csv, _) = contacts(0, 5);
    m.upload_csv("alice", "sales", "core", "contacts", "contacts", &csv)
        .await;
    assert_eq!(
        m.get("alice", SUGGESTIONS).await.ok(StatusCode::OK),
        json!([])
    );
    grant_bob(&m, "sales.contacts").await;

    // An append of forty more: the e-mail addresses are detected, and only suggested.
    let (csv, values) = contacts(5, 45);
    append_csv(&m, "alice", csv).await;
    let listed = m.get("alice", SUGGESTIONS).await.ok(StatusCode::OK);
    assert_eq!(listed[0]["status"], "pending", "{listed}");
    assert_eq!(listed[0]["kind"], "email");
    assert_eq!(tags_of(&m, "contact").await, json!([]));
    assert!(!hashed(&contact_column(&m, "bob").await[10]));
    let pending = m
        .get("alice", &format!("{SUGGESTIONS}?status=pending"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let applied = m
        .get("alice", &format!("{SUGGESTIONS}?status=applied"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(applied, json!([]));

    // bob may read the suggestions of a published product, not decide on them.
    m.post("bob", &format!("{EMAIL}/confirm"), &json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    // carol, a steward, confirms: the column is tagged and bob's next query is hashed.
    let v = m
        .post("carol", &format!("{EMAIL}/confirm"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (&v["status"], &v["decided_by"]),
        (&json!("confirmed"), &json!("carol"))
    );
    assert_eq!(v["added_tags"], json!(["pii", "pii_email", "confidential"]));
    assert_eq!(
        tags_of(&m, "contact").await,
        json!(["pii", "pii_email", "confidential"])
    );
    assert!(contact_column(&m, "bob").await.iter().all(hashed));
    // Confirming again changes nothing.
    m.post("carol", &format!("{EMAIL}/confirm"), &json!({}))
        .await
        .ok(StatusCode::OK);

    let events = events(&m).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "column.classification_suggested",
            "column.classification_confirmed"
        ]
    );
    assert_eq!(events[0]["detail"]["trigger"], "append");
    assert_eq!(events[1]["actor"], "carol");
    assert_eq!(events[1]["detail"]["from"], "pending");
    for e in &events {
        assert_no_value_in(&e.to_string(), &values);
    }
}

#[tokio::test]
async fn a_rejected_kind_is_untagged_and_never_suggested_again() {
    let m = Mesh::demo().await;
    let (csv, _) = contacts(0, 40);
    m.upload_csv("alice", "sales", "core", "contacts", "contacts", &csv)
        .await;
    grant_bob(&m, "sales.contacts").await;
    assert!(contact_column(&m, "bob").await.iter().all(hashed));

    let v = m
        .post("alice", &format!("{EMAIL}/reject"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (&v["status"], &v["decided_by"]),
        (&json!("rejected"), &json!("alice"))
    );
    assert_eq!(v["added_tags"], json!([]));
    assert_eq!(tags_of(&m, "contact").await, json!([]));
    let bobs = contact_column(&m, "bob").await;
    assert!(!bobs.iter().any(hashed), "{bobs:?}");

    // Forty more addresses: the kind stays rejected, the column untagged, nothing audited.
    let (csv, _) = contacts(40, 80);
    append_csv(&m, "alice", csv).await;
    let listed = m.get("alice", SUGGESTIONS).await.ok(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["status"], "rejected");
    assert_eq!(tags_of(&m, "contact").await, json!([]));
    assert!(!contact_column(&m, "bob").await.iter().any(hashed));
    let actions: Vec<Value> = events(&m)
        .await
        .into_iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("column.classification_applied"),
            json!("column.classification_rejected")
        ]
    );
    let rejected = events(&m).await.pop().unwrap();
    assert_eq!(
        rejected["detail"]["tags_removed"],
        json!(["pii", "pii_email", "confidential"])
    );
    assert_eq!(rejected["detail"]["from"], "applied");

    // Rejecting again changes nothing; what was never suggested is a 404; so is a column
    // or a table that does not exist.
    m.post("alice", &format!("{EMAIL}/reject"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(events(&m).await.len(), 2);
    let base = "/api/v1/products/sales/contacts/tables";
    for path in [
        format!("{base}/contacts/columns/contact/suggestions/phone/reject"),
        format!("{base}/contacts/columns/nope/suggestions/email/confirm"),
        format!("{base}/nope/columns/contact/suggestions/email/confirm"),
    ] {
        m.post("alice", &path, &json!({}))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }
    // Confirming after a rejection puts the tags back.
    m.post("alice", &format!("{EMAIL}/confirm"), &json!({}))
        .await
        .ok(StatusCode::OK);
    assert!(contact_column(&m, "bob").await.iter().all(hashed));
}

/// Evidence says why in counts, fixed phrases and the column's name: no sampled value
/// reaches a suggestion, the audit log or an answer, whatever the kind.
#[tokio::test]
async fn evidence_never_holds_a_sampled_value() {
    let m = Mesh::demo().await;
    let mut csv = String::from("id,email,phone,ssn,client_ip,date_of_birth,first_name,street\n");
    let mut values = Vec::new();
    const NAMES: [&str; 6] = ["Maria", "James", "Aiko", "Olumide", "Ingrid", "Carlos"];
    const STREETS: [&str; 3] = ["Main Street", "Oak Avenue", "Harbour Road"];
    for i in 0..30 {
        let row = [
            format!("member{i}.qz@clubhouse.example.com"),
            format!("+4420791{:05}", 10_000 + i * 37),
            format!("{:03}-{:02}-{:04}", 101 + i, 10 + i, 1000 + i * 7),
            format!("10.{}.{}.{}", 20 + i, 30 + i, 40 + i),
            format!("19{}-0{}-1{}", 50 + i, 1 + i % 9, i % 10),
            NAMES[i % NAMES.len()].to_string(),
            format!("{} {}", 100 + i, STREETS[i % STREETS.len()]),
        ];
        csv.push_str(&format!("{i},{}\n", row.join(",")));
        values.extend(row);
    }
    m.upload_csv(
        "alice",
        "sales",
        "core",
        "members",
        "members",
        csv.as_bytes(),
    )
    .await;
    let listed = m
        .get("alice", "/api/v1/products/sales/members/suggestions")
        .await
        .ok(StatusCode::OK);
    let kinds: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "email",
        "phone",
        "us_ssn",
        "ipv4",
        "date_of_birth",
        "person_name",
    ] {
        assert!(kinds.contains(&kind), "`{kind}` not in {kinds:?}");
    }
    assert_no_value_in(&listed.to_string(), &values);
    let events = m
        .audit("action=column.classification_&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["detail"]["table"] == "sales.members.members")
        .collect::<Vec<_>>();
    assert!(events.len() >= kinds.len(), "{events:?}");
    assert_no_value_in(&Value::Array(events).to_string(), &values);
}

/// The quickstart's demo: the customers' e-mail addresses are detected and tagged when the
/// product is seeded, with no manual tag, and hashed for everyone but the owners.
#[tokio::test]
async fn the_demo_customers_emails_are_detected_and_masked_without_a_manual_tag() {
    let m = Mesh::demo().await;
    let seeded: Vec<Value> = m
        .audit("action=column.&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["detail"]["table"] == "sales.customers.customers")
        .collect();
    assert!(
        seeded.iter().all(|e| e["action"] != "column.tag"),
        "{seeded:?}"
    );
    let applied = seeded
        .iter()
        .find(|e| e["detail"]["column"] == "email")
        .expect("the e-mail column's detection");
    assert_eq!(applied["action"], "column.classification_applied");
    assert_eq!(applied["actor"], "system", "the seed");
    let share = m.request_access("bob", "sales.customers").await;
    m.approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let sql = "SELECT email FROM sales.customers.customers ORDER BY customer_id LIMIT 3";
    assert!(m.rows("bob", sql).await.iter().all(|r| hashed(&r["email"])));
    assert_eq!(
        m.rows("alice", sql).await[0]["email"],
        "customer1@example.com"
    );
}

/// A registered Delta table (an external location's) is classified when it is registered,
/// from its first rows, as an uploaded one is.
#[tokio::test]
async fn a_registered_table_is_classified_from_its_first_rows() {
    use meshgate_engine::ingest::{self, FileFormat};
    let m = Mesh::demo().await;
    let ext = m.dir.path().join("external");
    let table = ext.join("visits");
    std::fs::create_dir_all(&table).unwrap();
    let csv = ext.join("visits.csv");
    let mut text = String::from("id,client_ip\n");
    for i in 0..30 {
        text.push_str(&format!("{i},192.168.{}.{}\n", 10 + i, 20 + i));
    }
    std::fs::write(&csv, text).unwrap();
    let url = url::Url::from_directory_path(table.canonicalize().unwrap()).unwrap();
    ingest::create_table(&csv, FileFormat::Csv, &url, "visits")
        .await
        .unwrap();
    m.post(
        "admin",
        "/api/v1/external-locations",
        &json!({"name": "landing", "url": ext.to_string_lossy(), "teams": ["sales.core"]}),
    )
    .await
    .ok(StatusCode::CREATED);
    m.create_product(
        "alice",
        &json!({"domain": "sales", "team": "core", "name": "visits",
                "tables": [{"name": "visits", "location": table.to_string_lossy()}]}),
        &[],
    )
    .await
    .ok(StatusCode::CREATED);
    let listed = m
        .get("alice", "/api/v1/products/sales/visits/suggestions")
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        (
            &listed[0]["column"],
            &listed[0]["kind"],
            &listed[0]["status"]
        ),
        (&json!("client_ip"), &json!("ipv4"), &json!("applied")),
        "{listed}"
    );
    assert_no_value_in(&listed.to_string(), &["192.168.10.20".to_string()]);
}
