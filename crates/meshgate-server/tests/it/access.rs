//! HTTP tests of fine-grained access (docs/design/ACCESS.md) through the REST API: data filters (CRUD,
//! validation, ownership, audit), the scopes an approver attaches to a share (row filters,
//! kept columns, masks) as the consumer's SQL sees them, immediacy of filter, group and rule
//! changes, QuickSight row rules (import, export, validation), and tag-driven masks.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Mesh, PEOPLE_CSV, assert_mentions};

const PEOPLE: &str = "sales.people.people";
const FILTERS: &str = "/api/v1/products/sales/people/tables/people/data-filters";
const RULES: &str = "/api/v1/products/sales/people/row-rules";
const ALL_COLUMNS: [&str; 5] = ["person_id", "name", "email", "region", "salary"];

/// What the `hash` mask shows of a text: HMAC-SHA-256 under the mesh's mask key (read from
/// the store), lower-case hex, computed here independently of the engine.
async fn hasher(m: &Mesh) -> impl Fn(&str) -> String + use<> {
    let key = m.state.store.mask_key().await.unwrap();
    move |text: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Plain SHA-256 (lower-case hex) of the emails, computed independently (`sha256sum`): what
/// the `hash` mask showed before it was keyed, and must not show now.
fn sha256_of(email: &str) -> &'static str {
    match email {
        "ann@example.com" => "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476",
        "ben@example.com" => "f871a76fb7b15231306b634dd91b385c48e9298974308e28e161d845e3e6f060",
        "cat@example.com" => "d2d66462631a2d1b0ca18e8b66dc594a58a1cdd569028e1d97f6be4ff0d5fb68",
        "dan@example.com" => "c8cf6521c193fc743c7fadcd8be04e983724764efa65b3c3913b6d22f086a11f",
        "eve@example.com" => "d0574c4966d2c326193622feebc64991c5b59807ae68fa8255b26c79f4bf917a",
        other => panic!("no known hash for {other}"),
    }
}

/// The demo mesh plus `sales.people` (alice's team `sales.core` owns it).
async fn people_mesh() -> Mesh {
    let m = Mesh::demo().await;
    m.upload_csv("alice", "sales", "core", "people", "people", PEOPLE_CSV)
        .await;
    m
}

/// The `name`s `who` reads from the people table, in id order.
async fn names(m: &Mesh, who: &str) -> Vec<String> {
    m.rows(
        who,
        &format!("SELECT name FROM {PEOPLE} ORDER BY person_id"),
    )
    .await
    .iter()
    .map(|r| r["name"].as_str().expect("name is text").to_string())
    .collect()
}

/// The column names of `SELECT *` for `who` (from the JSON row objects).
async fn star_columns(m: &Mesh, who: &str) -> BTreeSet<String> {
    let rows = m
        .rows(who, &format!("SELECT * FROM {PEOPLE} ORDER BY person_id"))
        .await;
    assert!(!rows.is_empty(), "{who} reads no row");
    rows[0]
        .as_object()
        .expect("a row is an object")
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn create_filter(m: &Mesh, body: &Value) -> Value {
    m.post("alice", FILTERS, body).await.ok(StatusCode::CREATED)
}

/// A filter without its timestamps: a create or update answer carries them at full
/// precision, the store keeps microseconds.
fn untimed(v: &Value) -> Value {
    let mut v = v.clone();
    let obj = v.as_object_mut().expect("a filter is an object");
    for k in ["created_at", "updated_at"] {
        assert!(obj.remove(k).is_some_and(|t| t.is_string()), "{k}");
    }
    v
}

fn approved(v: &Value) {
    assert_eq!(v["status"], "processed", "{v}");
    assert_eq!(v["summary"]["shared"], 1, "{v}");
}

// ----- data filters -----

#[tokio::test]
async fn data_filters_are_validated_owned_and_audited() {
    let mut m = people_mesh().await;
    m.create_team("marketing", "growth").await;
    m.add_user("dave", Some(("marketing", "growth"))).await;

    let created = create_filter(
        &m,
        &json!({"name": "eu", "description": "European people", "row_filter": "region = 'EU'",
                "columns": ["person_id", "name", "region"]}),
    )
    .await;
    assert_eq!(created["name"], "eu");
    assert_eq!(created["description"], "European people");
    assert_eq!(created["row_filter"], "region = 'EU'");
    assert_eq!(created["columns"], json!(["person_id", "name", "region"]));
    let id = created["id"].as_str().unwrap().to_string();

    // Listed and read back by its owners (carol is a steward of the owning team).
    let listed = m.get("alice", FILTERS).await.ok(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    let got = m
        .get("carol", &format!("{FILTERS}/eu"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(untimed(&got), untimed(&created));

    // Nobody else may see or change them.
    for who in ["bob", "dave"] {
        m.get(who, FILTERS)
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        m.get(who, &format!("{FILTERS}/eu"))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        m.post(who, FILTERS, &json!({"name": "mine", "row_filter": "true"}))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        m.put(
            who,
            &format!("{FILTERS}/eu"),
            &json!({"row_filter": "region = 'US'"}),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
        m.delete(who, &format!("{FILTERS}/eu"))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }

    // A row filter that does not compile: the position and the reason.
    let r = m
        .post(
            "alice",
            FILTERS,
            &json!({"name": "bad", "row_filter": "region = 'EU' AND nope = 1"}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "row_filter");
    assert_mentions(&message, "at line 1, column 19");
    assert_mentions(&message, "unknown column `nope`");
    for (text, reason) in [
        ("lower(name)", "must be true or false"),
        ("salary + 1", "`+` is not allowed"),
        ("region = = 'EU'", "at line 1, column 10: syntax error"),
        ("region = ", "syntax error"),
        ("region IN (SELECT region FROM x)", "at line 1"),
    ] {
        let r = m
            .post(
                "alice",
                FILTERS,
                &json!({"name": "bad", "row_filter": text}),
            )
            .await;
        assert_mentions(&r.error(StatusCode::BAD_REQUEST, "invalid_request"), reason);
    }
    // Unknown columns: every one is listed.
    let r = m
        .post(
            "alice",
            FILTERS,
            &json!({"name": "bad", "columns": ["name", "ssn", "dob"]}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "`ssn`");
    assert_mentions(&message, "`dob`");
    assert!(!message.contains("`name`"), "{message}");
    // No name; a duplicate name.
    m.post("alice", FILTERS, &json!({"row_filter": "true"}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    let r = m
        .post(
            "alice",
            FILTERS,
            &json!({"name": "eu", "row_filter": "true"}),
        )
        .await;
    assert_mentions(&r.error(StatusCode::CONFLICT, "already_exists"), "eu");
    // Nothing of that was saved.
    let listed = m.get("alice", FILTERS).await.ok(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Updates are validated the same way and change nothing when refused.
    let r = m
        .put(
            "alice",
            &format!("{FILTERS}/eu"),
            &json!({"row_filter": "regio = 'EU'"}),
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "at line 1, column 1");
    assert_mentions(&message, "unknown column `regio`");
    m.put(
        "alice",
        &format!("{FILTERS}/eu"),
        &json!({"columns": ["nope"]}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    m.put(
        "alice",
        &format!("{FILTERS}/eu"),
        &json!({"name": "europe", "row_filter": "true"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(
        untimed(
            &m.get("alice", &format!("{FILTERS}/eu"))
                .await
                .ok(StatusCode::OK)
        ),
        untimed(&created)
    );
    let updated = m
        .put(
            "carol",
            &format!("{FILTERS}/eu"),
            &json!({"row_filter": "region IN ('EU', 'US')"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["row_filter"], "region IN ('EU', 'US')");
    assert_eq!(updated["columns"], Value::Null, "PUT replaces the columns");
    assert_eq!(updated["description"], "European people");
    let reread = m
        .get("alice", &format!("{FILTERS}/eu"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(untimed(&reread), untimed(&updated));
    assert_ne!(reread["updated_at"], reread["created_at"], "{reread}");

    // Unknown filter, table; delete.
    m.get("alice", &format!("{FILTERS}/nope"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    m.get(
        "alice",
        "/api/v1/products/sales/people/tables/nope/data-filters",
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    let r = m.delete("alice", &format!("{FILTERS}/eu")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    m.get("alice", &format!("{FILTERS}/eu"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    m.delete("alice", &format!("{FILTERS}/eu"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // The audit trail: create, update, delete, with their actors.
    let events = m.audit(&format!("action=data_filter.&object={id}")).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for expected in [
        ("data_filter.create", "alice"),
        ("data_filter.update", "carol"),
        ("data_filter.delete", "alice"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {events:#?}");
    }
    assert_eq!(
        actions.len(),
        3,
        "refused writes are not audited as done: {events:#?}"
    );
    let create = events
        .iter()
        .find(|e| e["action"] == "data_filter.create")
        .unwrap();
    assert_eq!(create["detail"]["table"], PEOPLE);
    assert_eq!(create["detail"]["name"], "eu");
}

// ----- approval scopes -----

#[tokio::test]
async fn an_approved_scope_filters_rows_drops_columns_and_masks_values() {
    let m = people_mesh().await;
    let h = hasher(&m).await;
    create_filter(&m, &json!({"name": "eu", "row_filter": "region = 'EU'"})).await;
    let share = m.request_access("bob", "sales.people").await;
    let scope = json!({"items": [{
        "table": "people",
        "data_filters": ["eu"],
        "columns": ["person_id", "name", "email", "region"],
        "masks": {"email": "hash"},
    }]});
    approved(&m.approve("alice", &share, &scope).await.ok(StatusCode::OK));

    // Only EU rows, only kept columns, the email hashed.
    let rows = m
        .rows("bob", &format!("SELECT * FROM {PEOPLE} ORDER BY person_id"))
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"person_id": 1, "name": "ann", "email": h("ann@example.com"), "region": "EU"}),
            json!({"person_id": 5, "name": "eve", "email": h("eve@example.com"), "region": "EU"}),
        ]
    );
    // A dropped column does not exist; aggregates see only the filtered rows.
    let r = m
        .query("bob", &format!("SELECT salary FROM {PEOPLE}"))
        .await;
    assert_mentions(&r.error(StatusCode::BAD_REQUEST, "invalid_sql"), "salary");
    assert_eq!(
        m.rows("bob", &format!("SELECT count(*) AS n FROM {PEOPLE}"))
            .await,
        vec![json!({"n": 2})]
    );
    // Predicates see the masked value, never the raw one.
    assert_eq!(
        m.rows(
            "bob",
            &format!("SELECT name FROM {PEOPLE} WHERE email = 'ann@example.com'")
        )
        .await,
        Vec::<Value>::new()
    );
    assert_eq!(
        m.rows(
            "bob",
            &format!(
                "SELECT name FROM {PEOPLE} WHERE email = '{}'",
                h("ann@example.com")
            )
        )
        .await,
        vec![json!({"name": "ann"})]
    );

    // information_schema lists only the kept columns for bob, all of them for the owner.
    let columns_sql = "SELECT column_name FROM information_schema.columns \
         WHERE table_catalog = 'sales' AND table_schema = 'people' AND table_name = 'people' \
         ORDER BY column_name";
    let listed = |rows: Vec<Value>| -> BTreeSet<String> {
        rows.iter()
            .map(|r| r["column_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        listed(m.rows("bob", columns_sql).await),
        set(&["person_id", "name", "email", "region"])
    );
    assert_eq!(
        listed(m.rows("alice", columns_sql).await),
        set(&ALL_COLUMNS)
    );

    // The owner reads everything, raw.
    let rows = m
        .rows(
            "alice",
            &format!("SELECT * FROM {PEOPLE} ORDER BY person_id"),
        )
        .await;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["email"], "ann@example.com");
    assert_eq!(rows[0]["salary"], 100);

    // The filter is in use: it cannot be deleted.
    let r = m.delete("alice", &format!("{FILTERS}/eu")).await;
    assert_mentions(&r.error(StatusCode::CONFLICT, "conflict"), "eu");
    m.get("alice", &format!("{FILTERS}/eu"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&m, "bob").await, ["ann", "eve"]);

    // The approval is audited with the scope it attached.
    let events = m
        .audit(&format!("action=share.approve&object={share}"))
        .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["actor"], "alice");
    let scopes = events[0]["detail"]["extra"]["scopes"]
        .as_array()
        .unwrap_or_else(|| panic!("no scopes in {:#}", events[0]));
    assert_eq!(scopes.len(), 1, "{scopes:?}");
    assert_eq!(scopes[0]["scope"]["masks"], json!({"email": "hash"}));
    assert_eq!(
        scopes[0]["scope"]["columns"],
        json!(["person_id", "name", "email", "region"])
    );
    assert_eq!(
        scopes[0]["scope"]["data_filters"].as_array().unwrap().len(),
        1
    );
}

/// ann's email as bob reads it.
async fn anns_email(m: &Mesh) -> String {
    let sql = format!("SELECT email FROM {PEOPLE} WHERE person_id = 1");
    m.rows("bob", &sql).await[0]["email"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Issue 13, finding 9: `hash` is keyed with the mesh's mask key — not the plain SHA-256 a
/// consumer could reverse by hashing guesses, the same for equal values (a self-join on the
/// hashed column matches), and different after an admin rotates the key (audited; others
/// may not).
#[tokio::test]
async fn hash_masks_are_keyed_and_change_when_an_admin_rotates_the_key() {
    let m = people_mesh().await;
    let share = m.request_access("bob", "sales.people").await;
    let scope = json!({"items": [{"table": "people", "masks": {"email": "hash"}}]});
    approved(&m.approve("alice", &share, &scope).await.ok(StatusCode::OK));
    let ann = format!("SELECT email FROM {PEOPLE} WHERE person_id = 1");

    let before = anns_email(&m).await;
    assert_ne!(before, sha256_of("ann@example.com"));
    assert_eq!(before, (hasher(&m).await)("ann@example.com"));
    assert_eq!(before.len(), 64);
    assert!(before.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    assert_eq!(anns_email(&m).await, before);
    assert_eq!(
        m.rows(
            "bob",
            &format!("SELECT count(*) AS n FROM {PEOPLE} a JOIN {PEOPLE} b ON a.email = b.email")
        )
        .await,
        vec![json!({"n": 5})]
    );

    const ROTATE: &str = "/api/v1/mesh/mask-key/rotate";
    for who in ["alice", "bob"] {
        m.post(who, ROTATE, &json!({}))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(
        anns_email(&m).await,
        before,
        "a refused rotation changes nothing"
    );
    let rotated = m.post("admin", ROTATE, &json!({})).await.ok(StatusCode::OK);
    let key_id = rotated["key_id"].as_str().unwrap();
    assert_eq!(key_id.len(), 16, "{rotated}");
    let after = anns_email(&m).await;
    assert_ne!(after, before);
    assert_eq!(after, (hasher(&m).await)("ann@example.com"));
    let events = m.audit("action=mesh.mask_key.rotate").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "admin");
    // The owner still reads the raw value.
    assert_eq!(m.rows("alice", &ann).await[0]["email"], "ann@example.com");
}

#[tokio::test]
async fn bad_scopes_are_refused_and_conflicting_masks_are_409() {
    let m = people_mesh().await;
    let h = hasher(&m).await;
    create_filter(&m, &json!({"name": "eu", "row_filter": "region = 'EU'"})).await;
    let first = m.request_access("bob", "sales.people").await;

    let item = |extra: Value| {
        let mut v = json!({"table": "people"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        json!({ "items": [v] })
    };
    let refusals = [
        (item(json!({"data_filters": ["nope"]})), "`nope`"),
        (item(json!({"columns": ["name", "ssn"]})), "`ssn`"),
        (item(json!({"masks": {"email": "scramble"}})), "scramble"),
        (item(json!({"masks": {"ssn": "hash"}})), "`ssn`"),
        (
            item(json!({"masks": {"salary": "date_year_only"}})),
            "salary",
        ),
        (
            item(json!({"masks": {"email": "custom:sha512({col})"}})),
            "sha512",
        ),
        (json!({"items": [{"table": "nope"}]}), "`nope`"),
        (
            json!({"items": [{"table": "people"}, {"table": "people"}]}),
            "named twice",
        ),
    ];
    for (body, needle) in &refusals {
        let r = m.approve("alice", &first, body).await;
        assert_mentions(&r.error(StatusCode::BAD_REQUEST, "invalid_request"), needle);
    }
    // None of them decided anything: the share waits, bob reads nothing.
    assert_eq!(m.share("alice", &first).await["status"], "submitted");
    let r = m.query("bob", &format!("SELECT * FROM {PEOPLE}")).await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_sql"),
        "not found",
    );

    approved(
        &m.approve("alice", &first, &item(json!({"masks": {"email": "hash"}})))
            .await
            .ok(StatusCode::OK),
    );
    let rows = m
        .rows(
            "bob",
            &format!("SELECT email FROM {PEOPLE} ORDER BY person_id"),
        )
        .await;
    assert_eq!(rows[1]["email"], h("ben@example.com"));

    // A second share for the same team: a different mask on the same column is a conflict
    // (a column has at most one mask), and changes nothing.
    let second = m.request_access("bob", "sales.people").await;
    let r = m
        .approve(
            "alice",
            &second,
            &item(json!({"masks": {"email": "redact"}})),
        )
        .await;
    let message = r.error(StatusCode::CONFLICT, "conflict");
    assert_mentions(&message, "`email`");
    assert_mentions(&message, "hash");
    assert_eq!(m.share("alice", &second).await["status"], "submitted");
    // The same mask again is fine, and bob still reads hashes.
    approved(
        &m.approve(
            "alice",
            &second,
            &item(json!({"masks": {"email": "hash"}, "data_filters": ["eu"]})),
        )
        .await
        .ok(StatusCode::OK),
    );
    let rows = m
        .rows(
            "bob",
            &format!("SELECT email FROM {PEOPLE} ORDER BY person_id"),
        )
        .await;
    assert_eq!(rows.len(), 5, "the first grant still gives every row");
    assert_eq!(rows[4]["email"], h("eve@example.com"));
}

// ----- immediacy -----

#[tokio::test]
async fn filter_group_and_rule_changes_apply_on_the_next_query() {
    let m = people_mesh().await;
    m.create_group("analysts").await;
    create_filter(
        &m,
        &json!({"name": "mine", "row_filter": "region = 'EU' OR principal_in_group('analysts')"}),
    )
    .await;
    let share = m.request_access("bob", "sales.people").await;
    approved(
        &m.approve(
            "alice",
            &share,
            &json!({"items": [{"table": "people", "data_filters": ["mine"]}]}),
        )
        .await
        .ok(StatusCode::OK),
    );
    assert_eq!(names(&m, "bob").await, ["ann", "eve"]);

    // Group membership: in the group, every row; out again, EU only.
    m.group_member("analysts", "bob", true).await;
    assert_eq!(names(&m, "bob").await, ["ann", "ben", "cat", "dan", "eve"]);
    m.group_member("analysts", "bob", false).await;
    assert_eq!(names(&m, "bob").await, ["ann", "eve"]);

    // The data filter changes under the grant: rows, then columns.
    m.put(
        "alice",
        &format!("{FILTERS}/mine"),
        &json!({"row_filter": "region = 'US'"}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(names(&m, "bob").await, ["ben"]);
    assert_eq!(star_columns(&m, "bob").await, set(&ALL_COLUMNS));
    m.put(
        "alice",
        &format!("{FILTERS}/mine"),
        &json!({"row_filter": "region IN ('EU', 'US')", "columns": ["person_id", "name", "region"]}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(names(&m, "bob").await, ["ann", "ben", "eve"]);
    assert_eq!(
        star_columns(&m, "bob").await,
        set(&["person_id", "name", "region"])
    );

    // A new row rule narrows it further on the next query; removing the rules undoes it.
    m.put_raw(
        "alice",
        RULES,
        "text/csv",
        "UserName,GroupName,region\nbob,,US\n",
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(names(&m, "bob").await, ["ben"]);
    m.put_raw("alice", RULES, "text/csv", "UserName,GroupName,region\n")
        .await
        .ok(StatusCode::OK);
    assert_eq!(names(&m, "bob").await, ["ann", "ben", "eve"]);

    // Revoked: the table is gone for bob.
    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/revoke"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    let r = m.query("bob", &format!("SELECT name FROM {PEOPLE}")).await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_sql");
    assert_mentions(&message, PEOPLE);
    assert_mentions(&message, "not found");
    // The grant is gone, so its data filter may go too.
    let r = m.delete("alice", &format!("{FILTERS}/mine")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

// ----- row rules -----

/// Rules as comparable content: (user, group) → field → set of values.
type RuleSet = BTreeSet<(String, String, BTreeMap<String, BTreeSet<String>>)>;

fn parse_rules_csv(text: &str) -> RuleSet {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let mut out = RuleSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        let mut user = String::new();
        let mut group = String::new();
        let mut fields = BTreeMap::new();
        for (h, v) in header.iter().zip(record.iter()) {
            match h.as_str() {
                "UserName" => user = v.to_string(),
                "GroupName" => group = v.to_string(),
                field => {
                    let values: BTreeSet<String> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    fields.insert(field.to_string(), values);
                }
            }
        }
        out.insert((user, group, fields));
    }
    out
}

#[tokio::test]
async fn row_rules_in_quicksight_format() {
    let mut m = people_mesh().await;
    m.create_team("marketing", "growth").await;
    m.add_user("dave", Some(("marketing", "growth"))).await;
    m.add_user("erin", Some(("marketing", "analytics"))).await;
    m.create_group("analysts").await;
    m.group_member("analysts", "dave", true).await;
    for who in ["bob", "dave"] {
        let share = m.request_access(who, "sales.people").await;
        approved(
            &m.approve("alice", &share, &json!({}))
                .await
                .ok(StatusCode::OK),
        );
    }
    // Whole-table grants, no rules yet: everyone reads everything.
    for who in ["bob", "dave", "erin"] {
        assert_eq!(names(&m, who).await.len(), 5, "{who}");
    }

    let rules = "UserName,GroupName,region\nbob,,EU\n,analysts,\"US,APAC\"\n";
    let imported = m
        .put_raw("alice", RULES, "text/csv", rules)
        .await
        .ok(StatusCode::OK);
    assert_eq!(imported["rules"], 2, "{imported}");

    assert_eq!(names(&m, "bob").await, ["ann", "eve"], "bob: EU");
    assert_eq!(
        names(&m, "dave").await,
        ["ben", "cat"],
        "analysts: US and APAC"
    );
    assert_eq!(
        names(&m, "erin").await,
        Vec::<String>::new(),
        "no rule, no rows"
    );
    for owner in ["alice", "carol"] {
        assert_eq!(names(&m, owner).await.len(), 5, "{owner} owns the product");
    }

    // Export: the same rules, in the same format.
    let r = m.get("alice", &format!("{RULES}?format=csv")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.content_type().starts_with("text/csv"),
        "{}",
        r.content_type()
    );
    let exported = r.text();
    assert!(
        exported.starts_with("UserName,GroupName,region"),
        "{exported}"
    );
    assert_eq!(parse_rules_csv(&exported), parse_rules_csv(rules));
    // JSON too, and re-importing the export changes nothing.
    let as_json = m.get("alice", RULES).await.ok(StatusCode::OK);
    assert_eq!(as_json.as_array().unwrap().len(), 2, "{as_json}");
    m.put_raw("alice", RULES, "text/csv", exported.clone())
        .await
        .ok(StatusCode::OK);
    assert_eq!(m.get("alice", RULES).await.ok(StatusCode::OK), as_json);

    // Only owners read or set them.
    m.get("bob", &format!("{RULES}?format=csv"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    m.put_raw("bob", RULES, "text/csv", "UserName,region\nbob,\n")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    // Validation names every offender, and a refused import changes nothing.
    let bad = "UserName,GroupName,region,colour\n\
               zed,,EU,\n\
               ,nogroup,US,\n\
               analysts,,EU,\n\
               bob,,EU,red\n";
    let r = m.put_raw("alice", RULES, "text/csv", bad).await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    for offender in ["zed", "nogroup", "analysts", "colour"] {
        assert_mentions(&message, offender);
    }
    assert!(!message.contains("bob"), "bob is a user: {message}");
    let r = m
        .put_raw(
            "alice",
            RULES,
            "text/csv",
            "UserName,person_id\nbob,\"1,two\"\n",
        )
        .await;
    let message = r.error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_mentions(&message, "`two`");
    assert_mentions(&message, "`person_id`");
    let r = m.put_raw("alice", RULES, "text/csv", "region\nEU\n").await;
    assert_mentions(
        &r.error(StatusCode::BAD_REQUEST, "invalid_request"),
        "UserName",
    );
    assert_eq!(m.get("alice", RULES).await.ok(StatusCode::OK), as_json);
    assert_eq!(names(&m, "bob").await, ["ann", "eve"]);

    // Membership changes take effect on the next query.
    m.group_member("analysts", "erin", true).await;
    assert_eq!(names(&m, "erin").await, ["ben", "cat"]);
    m.group_member("analysts", "dave", false).await;
    assert_eq!(names(&m, "dave").await, Vec::<String>::new());

    // The two imports are audited; the refused ones are not.
    let events = m.audit("action=row_rules.").await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "row_rules.replace" && e["actor"] == "alice"),
        "{events:#?}"
    );
}

// ----- tags -----

#[tokio::test]
async fn tag_masks_hash_pii_for_consumers_unless_the_grant_says_none() {
    let mut m = people_mesh().await;
    let h = hasher(&m).await;
    m.create_team("marketing", "growth").await;
    m.add_user("dave", Some(("marketing", "growth"))).await;
    let bobs = m.request_access("bob", "sales.people").await;
    approved(
        &m.approve("alice", &bobs, &json!({}))
            .await
            .ok(StatusCode::OK),
    );
    let daves = m.request_access("dave", "sales.people").await;
    approved(
        &m.approve(
            "alice",
            &daves,
            &json!({"items": [{"table": "people", "masks": {"email": "none"}}]}),
        )
        .await
        .ok(StatusCode::OK),
    );
    let emails_sql = format!("SELECT email FROM {PEOPLE} ORDER BY person_id");
    let first_email = |rows: Vec<Value>| rows[0]["email"].as_str().unwrap().to_string();
    assert_eq!(
        first_email(m.rows("bob", &emails_sql).await),
        "ann@example.com"
    );

    // The demo seed hashes `pii` mesh-wide; start without that default. Admins only.
    let masks = m.get("admin", "/api/v1/tag-masks").await.ok(StatusCode::OK);
    let seeded = masks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "pii" && t["domain"].is_null())
        .unwrap_or_else(|| panic!("no seeded pii mask in {masks}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    m.delete("alice", &format!("/api/v1/tag-masks/{seeded}"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let r = m
        .delete("admin", &format!("/api/v1/tag-masks/{seeded}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        m.get("admin", "/api/v1/tag-masks").await.ok(StatusCode::OK),
        json!([])
    );

    // Tagging: owners only, existing columns only.
    let tags = "/api/v1/products/sales/people/tables/people/columns/email/tags";
    m.put("bob", tags, &json!({"tags": ["pii"]}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    m.put(
        "alice",
        "/api/v1/products/sales/people/tables/people/columns/ssn/tags",
        &json!({"tags": ["pii"]}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    let tagged = m
        .put("alice", tags, &json!({"tags": ["pii"]}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(tagged["tags"], json!(["pii"]));
    let listed = m
        .get("bob", "/api/v1/products/sales/people/tables/people/tags")
        .await
        .ok(StatusCode::OK);
    assert_eq!(listed[0]["column"], "email", "{listed}");
    // A tag alone masks nothing.
    assert_eq!(
        first_email(m.rows("bob", &emails_sql).await),
        "ann@example.com"
    );

    // The mesh-wide tag mask: admins only.
    m.put(
        "alice",
        "/api/v1/tag-masks",
        &json!({"tag": "pii", "mask": "hash"}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    m.put(
        "admin",
        "/api/v1/tag-masks",
        &json!({"tag": "pii", "mask": "scramble"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    let mask = m
        .put(
            "admin",
            "/api/v1/tag-masks",
            &json!({"tag": "pii", "mask": "hash"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(mask["mask"], "hash", "{mask}");

    // Consumers see it hashed on their next query, predicates included…
    let rows = m.rows("bob", &emails_sql).await;
    let emails: Vec<&str> = rows.iter().map(|r| r["email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        [
            "ann@example.com",
            "ben@example.com",
            "cat@example.com",
            "dan@example.com",
            "eve@example.com"
        ]
        .map(&h)
    );
    assert_eq!(
        m.rows(
            "bob",
            &format!("SELECT count(*) AS n FROM {PEOPLE} WHERE email LIKE '%@example.com'")
        )
        .await,
        vec![json!({"n": 0})]
    );
    // …except where the grant says `none`; owners read raw values.
    assert_eq!(
        first_email(m.rows("dave", &emails_sql).await),
        "ann@example.com"
    );
    assert_eq!(
        first_email(m.rows("alice", &emails_sql).await),
        "ann@example.com"
    );

    // A domain's own tag mask beats the mesh-wide one, for that domain's products.
    let sales_mask = m
        .put(
            "admin",
            "/api/v1/tag-masks",
            &json!({"tag": "pii", "mask": "redact", "domain": "sales"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(sales_mask["domain"], "sales", "{sales_mask}");
    assert_eq!(
        first_email(m.rows("bob", &emails_sql).await),
        "xxx@xxxxxxx.xxx"
    );
    let r = m
        .delete(
            "admin",
            &format!("/api/v1/tag-masks/{}", sales_mask["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        first_email(m.rows("bob", &emails_sql).await),
        h("ann@example.com")
    );

    // Untagging lifts the default mask.
    m.put("alice", tags, &json!({"tags": []}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        first_email(m.rows("bob", &emails_sql).await),
        "ann@example.com"
    );
}

// ----- cells and leaks -----

#[tokio::test]
async fn several_filters_null_cells_only_others_admit_and_nothing_hidden_leaks() {
    let m = people_mesh().await;
    create_filter(&m, &json!({"name": "eu", "row_filter": "region = 'EU'"})).await;
    create_filter(
        &m,
        &json!({"name": "us_names", "row_filter": "region = 'US'",
                "columns": ["person_id", "name", "region"]}),
    )
    .await;
    let share = m.request_access("bob", "sales.people").await;
    approved(
        &m.approve(
            "alice",
            &share,
            &json!({"items": [{"table": "people", "data_filters": ["eu", "us_names"]}]}),
        )
        .await
        .ok(StatusCode::OK),
    );

    // Rows: EU or US. Cells: email and salary only where the `eu` filter admits the row.
    let rows = m
        .rows(
            "bob",
            &format!("SELECT person_id, email, salary FROM {PEOPLE} ORDER BY person_id"),
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"person_id": 1, "email": "ann@example.com", "salary": 100}),
            json!({"person_id": 2, "email": null, "salary": null}),
            json!({"person_id": 5, "email": "eve@example.com", "salary": 500}),
        ]
    );
    assert_eq!(star_columns(&m, "bob").await, set(&ALL_COLUMNS));
    // A user predicate never runs on a hidden row: 10 / (person_id - 3) would fail on cat's.
    assert_eq!(
        m.rows(
            "bob",
            &format!("SELECT name FROM {PEOPLE} WHERE 10 / (person_id - 3) > 0 ORDER BY person_id"),
        )
        .await,
        vec![json!({"name": "eve"})]
    );
    // Hidden cells are not reachable through predicates either.
    assert_eq!(
        m.rows(
            "bob",
            &format!("SELECT count(*) AS n FROM {PEOPLE} WHERE salary = 200"),
        )
        .await,
        vec![json!({"n": 0})]
    );

    // EXPLAIN does not show the security predicate to bob.
    let r = m
        .query("bob", &format!("EXPLAIN SELECT * FROM {PEOPLE}"))
        .await;
    let plan = r.ok(StatusCode::OK).to_string();
    assert_mentions(&plan, "SecureScanExec");
    for secret in ["EU", "US", "region =", "CASE"] {
        assert!(!plan.contains(secret), "`{secret}` in {plan}");
    }
}

/// The snapshot bob reads through, as the server keeps it.
async fn snapshot_of(m: &Mesh, who: &str) -> std::sync::Arc<meshgate_server::snapshot::Access> {
    let principal = m.principal(who).await;
    let (actor, at) = meshgate_server::auth::view_of(&m.state, &principal)
        .await
        .unwrap();
    meshgate_server::snapshot::of_actor(&m.state, &principal, &actor, at)
        .await
        .unwrap()
}

/// Grant changes are scoped (docs/design/ACCESS.md §Snapshot): one for another team leaves
/// bob's cached snapshot in force (the same one, not resolved again), one for bob's team
/// replaces it at once, and so does any broad change.
#[tokio::test]
async fn a_grant_change_elsewhere_keeps_a_callers_snapshot_and_one_of_his_does_not() {
    let mut m = Mesh::demo().await;
    m.create_team("marketing", "outsiders").await;
    m.add_user("erin", Some(("marketing", "outsiders"))).await;
    let bobs = m.request_access("bob", "sales.customers").await;
    m.approve("alice", &bobs, &json!({"wait": true}))
        .await
        .ok(StatusCode::OK);
    let count = "SELECT count(*) AS n FROM sales.customers.customers";
    assert_eq!(m.rows("bob", count).await[0]["n"], 5000);
    // The demo's own jobs (classification may tag columns: a broad change) are done first.
    assert!(m.jobs_drained(std::time::Duration::from_secs(30)).await);
    let before = snapshot_of(&m, "bob").await;

    // erin's team is granted a product and then loses it: two grant changes elsewhere.
    let erins = m.request_access("erin", "sales.orders").await;
    m.approve("alice", &erins, &json!({"wait": true}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        m.rows("erin", "SELECT count(*) AS n FROM sales.orders.orders")
            .await[0]["n"],
        100_000
    );
    m.post(
        "alice",
        &format!("/api/v1/shares/{erins}/revoke"),
        &json!({"wait": true}),
    )
    .await
    .ok(StatusCode::OK);
    let version = m.state.store.policy_versions().await.unwrap();
    assert!(
        version.version >= before.policy_version() + 2,
        "{version:?}"
    );
    assert!(version.broad <= before.policy_version(), "{version:?}");
    let after = snapshot_of(&m, "bob").await;
    assert!(
        std::sync::Arc::ptr_eq(&before, &after),
        "bob's snapshot was resolved again"
    );
    assert_eq!(m.rows("bob", count).await[0]["n"], 5000);
    m.query("erin", "SELECT count(*) AS n FROM sales.orders.orders")
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_sql");

    // A grant change of bob's own team: the snapshot goes, and so does the table.
    m.post(
        "alice",
        &format!("/api/v1/shares/{bobs}/revoke"),
        &json!({"wait": true}),
    )
    .await
    .ok(StatusCode::OK);
    let revoked = snapshot_of(&m, "bob").await;
    assert!(!std::sync::Arc::ptr_eq(&before, &revoked));
    m.query("bob", count)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_sql");

    // A broad change (a membership of someone else) replaces every snapshot.
    m.put(
        "admin",
        "/api/v1/domains/marketing/teams/outsiders/members/alice",
        &json!({"role": "member"}),
    )
    .await
    .ok(StatusCode::OK);
    let broad = m.state.store.policy_versions().await.unwrap();
    assert_eq!(broad.broad, broad.version);
    let again = snapshot_of(&m, "bob").await;
    assert!(!std::sync::Arc::ptr_eq(&revoked, &again));
}
