//! Conformance with the real Delta Sharing client: `delta-sharing` (pandas) under the Python
//! of `MESHGATE_TEST_PYTHON` reads a meshgate served on a real socket, through a bearer
//! (`shareCredentialsVersion` 1) and an OAuth client-credentials (version 2) profile, each
//! downloaded once from its link. It lists all tables, loads them whole, with `limit`, at a
//! `version`, in the `delta` format (delta-kernel), reads the change data feed, reads a filtered
//! and masked item exactly as SQL shows it, and gets the client's own error once the share is
//! revoked and once the token is. The steps run in `sharing_conformance.py`.
//!
//! It runs twice: with the current client (`MESHGATE_TEST_PYTHON`: delta-sharing 1.4.2, its
//! parquet and delta-kernel paths) and with the oldest it supports, the 1.0 line on pyarrow 14
//! (`MESHGATE_TEST_PYTHON_OLD`), which cannot open Arrow view types, so compatibility with
//! older readers cannot regress. Both also read a table uploaded as Parquet with a zoned
//! timestamp, and names in another case.
//!
//! Outside CI, without a Python that has `delta_sharing`, a test says so and passes; with
//! `CI` set it fails instead (`.ci/run` creates both virtualenvs).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::common::Mesh;

const LEDGER: &str = "sales.ledger.ledger";
const PEOPLE: &str = "sales.people.people";
/// Uploaded as Parquet, with a zoned timestamp (`events_parquet`).
const EVENTS: &str = "sales.events.events";
/// From a CSV with a timestamp column: reader version 3.
const STAMPS: &str = "sales.stamps.stamps";
/// The Python in `$var` with `delta_sharing`, or `None` (with a note) outside CI. In CI
/// (`CI` set) a missing or unusable one fails the test: `.ci/run` provides both.
fn client_python(var: &str, what: &str) -> Option<String> {
    let python = match std::env::var(var) {
        Ok(p) if !p.is_empty() => p,
        _ if std::env::var_os("CI").is_some() => panic!(
            "{var} is not set but CI is: the conformance test needs a Python with {what} (.ci/run provides one)"
        ),
        _ => {
            eprintln!(
                "note: {var} is not set; skipping the Delta Sharing conformance test of {what}"
            );
            return None;
        }
    };
    let has_client = std::process::Command::new(&python)
        .args(["-c", "import delta_sharing"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_client {
        Some(python)
    } else if std::env::var_os("CI").is_some() {
        panic!("`{python}` cannot import delta_sharing (.ci/run installs {what})")
    } else {
        eprintln!("note: `{python}` has no delta_sharing; skipping the conformance test of {what}");
        None
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sharing_conformance.py")
}

/// Runs `steps` through the client with `profile`; one result per step.
async fn client(python: &str, profile: &Path, steps: &Value) -> Vec<Value> {
    let mut child = tokio::process::Command::new(python)
        .arg(script())
        .arg(profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{python}`: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(steps.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        child.wait_with_output(),
    )
    .await
    .expect("the client did not finish in 5 minutes")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client script failed: {stderr}");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad output ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(
        results.len(),
        steps.as_array().unwrap().len(),
        "{results:?}"
    );
    results
}

/// The value of a step that must have succeeded.
fn ok<'a>(results: &'a [Value], i: usize, what: &str) -> &'a Value {
    match results[i].get("ok") {
        Some(v) => v,
        None => panic!("{what} failed in the client: {}", results[i]["error"]),
    }
}

/// The client's error of a step that must have failed: (type, message).
fn err(results: &[Value], i: usize, what: &str) -> (String, String) {
    let e = results[i]
        .get("error")
        .unwrap_or_else(|| panic!("{what} should have failed, got {}", results[i]));
    (
        e["type"].as_str().unwrap().to_string(),
        e["message"].as_str().unwrap().to_string(),
    )
}

/// The rows of a loaded frame, sorted by `key`.
fn rows_by(frame: &Value, key: &str) -> Vec<Value> {
    let mut rows = frame["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r[key].as_i64().unwrap());
    rows
}

fn ids(rows: &[Value], key: &str) -> Vec<i64> {
    rows.iter().map(|r| r[key].as_i64().unwrap()).collect()
}

/// Makes a token for bob and downloads its profile over HTTP, once (a second download is
/// refused); writes it to `file`. Returns the token id and the profile.
async fn profile(m: &Mesh, body: &Value, file: &Path) -> (String, Value) {
    let v = m
        .post("admin", "/api/v1/recipients/bob/tokens", body)
        .await
        .ok(StatusCode::CREATED);
    let link = v["profile_url"].as_str().unwrap();
    let first = reqwest::get(link).await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let profile: Value = first.json().await.unwrap();
    let again = reqwest::get(link).await.unwrap();
    assert_eq!(again.status().as_u16(), 404, "a profile downloads once");
    std::fs::write(file, profile.to_string()).unwrap();
    (v["token"]["id"].as_str().unwrap().to_string(), profile)
}

/// Steps for the client, each remembered by its position in the answer.
#[derive(Default)]
struct Steps(Vec<Value>);

impl Steps {
    fn add(&mut self, step: Value) -> usize {
        self.0.push(step);
        self.0.len() - 1
    }
}

/// The current client: `delta-sharing` 1.4.2 on a current pyarrow, both its parquet and its
/// delta-kernel paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_reads_what_meshgate_shares() {
    let Some(python) = client_python("MESHGATE_TEST_PYTHON", "delta-sharing==1.4.2") else {
        return;
    };
    conformance(&python, true).await;
}

/// The client's 1.0 line on pyarrow 14, which predates Arrow's view types: every file
/// meshgate hands out (tables uploaded as Parquet, materialised snapshots) must open in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_python_client_reads_what_meshgate_shares() {
    let Some(python) = client_python(
        "MESHGATE_TEST_PYTHON_OLD",
        "delta-sharing 1.0.x on pyarrow 14",
    ) else {
        return;
    };
    conformance(&python, false).await;
}

/// Drives one client through everything a recipient does; `modern`: the client has the
/// delta format (delta-kernel) and `jsonPredicateHints` pruning.
async fn conformance(python: &str, modern: bool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let m = Mesh::demo_with(|c| c.public_url = Some(format!("http://{addr}"))).await;

    // sales.ledger: version 0 = ids 1–3, 1 = +4–5, 2 = +6; shared whole with bob.
    m.add_ledger().await;
    let ledger_share = m.request_access("bob", "sales.ledger").await;
    m.approve("alice", &ledger_share, &json!({}))
        .await
        .ok(StatusCode::OK);
    // sales.people: bob sees EU rows, no salary, email hashed.
    m.add_people().await;
    let people_share = m.request_access("bob", "sales.people").await;
    m.approve(
        "alice",
        &people_share,
        &json!({"items": [{
            "table": "people",
            "data_filters": ["eu"],
            "columns": ["person_id", "name", "email", "region"],
            "masks": {"email": "hash"},
        }]}),
    )
    .await
    .ok(StatusCode::OK);
    // sales.events, uploaded as Parquet with a zoned timestamp, and sales.stamps, a CSV with
    // timestamps (reader version 3): both shared whole with bob.
    m.add_events().await.ok(StatusCode::CREATED);
    m.add_stamps().await;
    for product in ["sales.events", "sales.stamps"] {
        let share = m.request_access("bob", product).await;
        m.approve("alice", &share, &json!({}))
            .await
            .ok(StatusCode::OK);
    }

    let stop = CancellationToken::new();
    let server = tokio::spawn(meshgate_server::serve_on(
        m.state.clone(),
        listener,
        stop.clone().cancelled_owned(),
    ));

    let bearer = m.dir.path().join("bob.share");
    let (bearer_id, p) = profile(&m, &json!({}), &bearer).await;
    assert_eq!(p["shareCredentialsVersion"], 1, "{p}");
    let oauth = m.dir.path().join("bob-oauth.share");
    let (_, p) = profile(&m, &json!({"kind": "oauth"}), &oauth).await;
    assert_eq!(p["shareCredentialsVersion"], 2, "{p}");
    assert_eq!(p["type"], "oauth_client_credentials", "{p}");

    let ledger_sql = m
        .rows("bob", "SELECT * FROM sales.ledger.ledger ORDER BY id")
        .await;
    let people_sql = m
        .rows(
            "bob",
            "SELECT * FROM sales.people.people ORDER BY person_id",
        )
        .await;
    assert_eq!(ids(&people_sql, "person_id"), [1, 5]);

    let mut steps = Steps::default();
    let versions = steps.add(json!({"op": "versions"}));
    let list = steps.add(json!({"op": "list_all_tables"}));
    let whole = steps.add(json!({"op": "load", "table": LEDGER}));
    let limited = steps.add(json!({"op": "load", "table": LEDGER, "limit": 2}));
    let at_0 = steps.add(json!({"op": "load", "table": LEDGER, "version": 0}));
    let feed = steps
        .add(json!({"op": "changes", "table": LEDGER, "starting_version": 1, "ending_version": 2}));
    let people = steps.add(json!({"op": "load", "table": PEOPLE}));
    let people_feed = steps.add(json!({"op": "changes", "table": PEOPLE, "starting_version": 0}));
    let shares = steps.add(json!({"op": "list_shares"}));
    // Names are case-insensitive.
    let shouted = steps.add(json!({"op": "load", "table": "SALES.Ledger.LEDGER"}));
    // A Parquet upload: its files open in every pyarrow the client allows.
    let events = steps.add(json!({"op": "load", "table": EVENTS}));
    let mut modern_steps = None;
    if modern {
        modern_steps = Some((
            steps.add(json!({"op": "load", "table": LEDGER, "delta": true})),
            steps.add(json!({"op": "load", "table": LEDGER, "delta": true, "version": 1})),
            steps.add(json!({"op": "load", "table": PEOPLE, "delta": true})),
            steps.add(json!({"op": "load", "table": LEDGER, "delta": false})),
            steps.add(
                json!({"op": "changes", "table": LEDGER, "starting_version": 0, "delta": true}),
            ),
            steps.add(
                json!({"op": "load", "table": LEDGER, "hints": {"op": "equal", "children": [
                {"op": "column", "name": "id", "valueType": "long"},
                {"op": "literal", "value": "6", "valueType": "long"}]}}),
            ),
            // The feed of a reader-version-3 table, read whole (in the delta format, which
            // the client uses for changes only when asked).
            steps.add(
                json!({"op": "changes", "table": STAMPS, "starting_version": 0, "delta": true}),
            ),
        ));
    }
    let r = client(python, &bearer, &json!(steps.0)).await;
    let client_versions = ok(&r, versions, "versions").clone();
    eprintln!("client: {client_versions}");
    let pyarrow = client_versions["pyarrow"].as_str().unwrap();
    if !modern {
        assert!(
            pyarrow.starts_with("14."),
            "the oldest client runs on pyarrow 14: {client_versions}"
        );
        assert!(
            client_versions["delta_sharing"]
                .as_str()
                .unwrap()
                .starts_with("1.0."),
            "{client_versions}"
        );
    }

    let tables = ok(&r, list, "list_all_tables");
    for t in [LEDGER, PEOPLE, EVENTS, STAMPS] {
        assert!(
            tables.as_array().unwrap().contains(&json!(t)),
            "{t} not in {tables}"
        );
    }
    // Whole, in the parquet format: what SQL shows.
    let frame = ok(&r, whole, "load_as_pandas");
    assert_eq!(frame["columns"], json!(["id", "name", "region", "amount"]));
    assert_eq!(rows_by(frame, "id"), ledger_sql);
    // limit
    let rows = rows_by(ok(&r, limited, "load_as_pandas(limit=2)"), "id");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|row| ledger_sql.contains(row)));
    // version
    assert_eq!(
        ids(
            &rows_by(ok(&r, at_0, "load_as_pandas(version=0)"), "id"),
            "id"
        ),
        [1, 2, 3]
    );
    // the change data feed
    let frame = ok(&r, feed, "load_table_changes_as_pandas");
    let feed_rows = rows_by(frame, "id");
    assert_eq!(ids(&feed_rows, "id"), [4, 5, 6]);
    let commit_versions: Vec<i64> = feed_rows
        .iter()
        .map(|row| row["_commit_version"].as_i64().unwrap())
        .collect();
    assert_eq!(commit_versions, [1, 1, 2], "{frame}");
    assert!(
        feed_rows.iter().all(|row| row["_change_type"] == "insert"),
        "{frame}"
    );
    // The filtered and masked item (a materialised snapshot): exactly what SQL shows bob.
    let frame = ok(&r, people, "people");
    assert_eq!(
        frame["columns"],
        json!(["person_id", "name", "email", "region"])
    );
    assert_eq!(rows_by(frame, "person_id"), people_sql);
    assert!(!frame.to_string().contains("@example.com"), "{frame}");
    // Its raw changes are not shared: the client's error.
    let (kind, message) = err(&r, people_feed, "the feed of a filtered item");
    assert_eq!(kind, "HTTPError", "{message}");
    assert!(message.contains("403"), "{message}");
    assert_eq!(ok(&r, shares, "list_shares"), &json!(["sales"]));
    assert_eq!(
        rows_by(ok(&r, shouted, "a name in another case"), "id"),
        ledger_sql
    );
    // The Parquet upload: its zoned timestamps are the same instants, in UTC.
    let frame = ok(&r, events, "the table uploaded as Parquet");
    let rows = rows_by(frame, "id");
    assert_eq!(ids(&rows, "id"), [1, 2], "{frame}");
    let at: Vec<&str> = rows.iter().map(|row| row["at"].as_str().unwrap()).collect();
    assert!(
        at[0].starts_with("2024-03-01T09:00:00") && at[1].starts_with("2024-07-01T08:00:00"),
        "{frame}"
    );

    if let Some((delta, delta_v1, people_delta, parquet, delta_feed, hinted, stamps_feed)) =
        modern_steps
    {
        // the delta format, read by delta-kernel
        assert_eq!(
            rows_by(ok(&r, delta, "load_as_pandas(use_delta_format=True)"), "id"),
            ledger_sql
        );
        assert_eq!(
            ids(
                &rows_by(ok(&r, delta_v1, "delta format at version 1"), "id"),
                "id"
            ),
            [1, 2, 3, 4, 5]
        );
        let frame = ok(&r, people_delta, "people (delta)");
        assert_eq!(rows_by(frame, "person_id"), people_sql);
        assert!(!frame.to_string().contains("@example.com"), "{frame}");
        assert_eq!(rows_by(ok(&r, parquet, "parquet format"), "id"), ledger_sql);
        let all = rows_by(ok(&r, delta_feed, "the feed in the delta format"), "id");
        assert_eq!(ids(&all, "id"), [1, 2, 3, 4, 5, 6]);
        // jsonPredicateHints prune by statistics: only version 2's file (id 6) can match, and
        // the client does not filter rows itself, so what it gets is what the server kept.
        assert_eq!(
            ids(
                &rows_by(ok(&r, hinted, "load with jsonPredicateHints"), "id"),
                "id"
            ),
            [6]
        );
        // A whole-table reader of a reader-version-3 table reads its feed.
        let frame = ok(&r, stamps_feed, "the feed of a timestamp_ntz table");
        let rows = rows_by(frame, "id");
        assert_eq!(ids(&rows, "id"), [1, 2], "{frame}");
        assert!(
            rows.iter().all(|row| row["_change_type"] == "insert"),
            "{frame}"
        );
    }

    // The OAuth (version 2) profile: the client fetches an access token itself. (The 1.0
    // line reads version 1 profiles only.)
    if modern {
        let r = client(
            python,
            &oauth,
            &json!([{"op": "list_all_tables"}, {"op": "load", "table": PEOPLE}]),
        )
        .await;
        assert!(
            ok(&r, 0, "list_all_tables (oauth)")
                .as_array()
                .unwrap()
                .contains(&json!(LEDGER))
        );
        assert_eq!(rows_by(ok(&r, 1, "load (oauth)"), "person_id"), people_sql);
    }

    // Revoking the ledger's share removes it on the next request.
    m.post(
        "alice",
        &format!("/api/v1/shares/{ledger_share}/revoke"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    let r = client(
        python,
        &bearer,
        &json!([
            {"op": "list_all_tables"},
            {"op": "load", "table": LEDGER},
            {"op": "load", "table": PEOPLE},
        ]),
    )
    .await;
    let tables = ok(&r, 0, "list_all_tables after the revocation");
    assert!(
        !tables.as_array().unwrap().contains(&json!(LEDGER)),
        "{tables}"
    );
    let (kind, message) = err(&r, 1, "loading a revoked table");
    assert_eq!(kind, "HTTPError", "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(!message.contains("ann"), "no values in errors: {message}");
    assert_eq!(rows_by(ok(&r, 2, "people"), "person_id"), people_sql);

    // Revoking the token: the client's 401.
    m.delete(
        "admin",
        &format!("/api/v1/recipients/bob/tokens/{bearer_id}"),
    )
    .await
    .ok(StatusCode::OK);
    let r = client(python, &bearer, &json!([{"op": "list_all_tables"}])).await;
    let (kind, message) = err(&r, 0, "a revoked token");
    assert_eq!(kind, "HTTPError", "{message}");
    assert!(message.contains("401"), "{message}");

    stop.cancel();
    server.await.unwrap().unwrap();
}
