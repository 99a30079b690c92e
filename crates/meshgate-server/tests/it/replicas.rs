//! Two servers on one store, as two replicas (docs/design/REPLICAS.md), on SQLite, where
//! nothing signals one process of another's commits: what is shown here rests on the change
//! feed's poll alone (`replicas.poll_ms`), the path every replica falls back on. The same
//! behaviour with PostgreSQL's change signal, and with real processes killed mid-run, is
//! `meshgate-cli/tests/it/replicas.rs`; the signal itself is the store suite's
//! `every_commit_moves_the_change_signal`.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{LEDGER_CSV, Mesh, Resp};

const POLL_MS: u64 = 100;

/// Two replicas: `a` (no worker: its jobs must be run by `b`) and `b` (a worker and the change
/// feed), each following the other every [`POLL_MS`].
async fn two_replicas() -> (Mesh, Mesh) {
    let a = Mesh::demo_with(|c| c.replicas.poll_ms = POLL_MS).await;
    a.stop_background();
    let b = a.replica_with(|c| c.replicas.poll_ms = POLL_MS).await;
    b.start_worker_and_feed();
    (a, b)
}

/// Whether `who`'s search for `q` on `m` finds `product`.
async fn finds(m: &Mesh, who: &str, q: &str, product: &str) -> bool {
    let v: Value = m
        .get(who, &format!("/api/v1/search?q={q}"))
        .await
        .ok(StatusCode::OK);
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["product"] == product)
}

/// The status of a query sent on `m` with a raw bearer `token`.
async fn query_with(m: &Mesh, token: &str) -> StatusCode {
    let sql = json!({"sql": "SELECT count(*) AS n FROM sales.orders.orders", "format": "json"});
    m.send_bearer(
        "POST",
        "/api/v1/query",
        Some(token),
        Some("application/json"),
        Body::from(sql.to_string()),
    )
    .await
    .status
}

/// Waits until `check` (re-evaluated) holds, at most `within`.
macro_rules! eventually {
    ($within:expr, $what:expr, $check:expr) => {{
        let started = Instant::now();
        while !$check {
            assert!(
                started.elapsed() < $within,
                "{}: not within {:?}",
                $what,
                $within
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_answers_once_another_replicas_worker_has_made_the_grant() {
    let (a, b) = two_replicas().await;
    let share = a.request_access("bob", "sales.orders").await;
    let started = Instant::now();
    let approved = a
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    let took = started.elapsed();
    // Before the change feed, `a` waited for its own worker's announcement, which never came,
    // for its whole 30 s.
    assert!(
        took < Duration::from_secs(5),
        "the approval took {took:?} to answer"
    );
    assert_eq!(approved["status"], "processed", "{approved}");
    // The grant is in force on both replicas at once.
    for m in [&a, &b] {
        let rows = m
            .rows("bob", "SELECT count(*) AS n FROM sales.orders.orders")
            .await;
        assert_eq!(rows.len(), 1, "{rows:?}");
    }

    // Revoking through `a` waits for `b`'s worker the same way.
    let started = Instant::now();
    let revoked = a
        .post(
            "alice",
            &format!("/api/v1/shares/{share}/revoke"),
            &json!({}),
        )
        .await
        .ok(StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5), "{revoked}");
    let denied = b
        .query("bob", "SELECT count(*) AS n FROM sales.orders.orders")
        .await;
    assert_ne!(denied.status, StatusCode::OK, "revoked on `a`, read on `b`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_follow_changes_made_on_another_replica_unasked() {
    let (a, b) = two_replicas().await;
    let within = Duration::from_millis(POLL_MS * 20);

    // The search index: a product created on `a` is found on `b`, with no write on `b`.
    a.upload_csv("alice", "sales", "core", "ledger", "ledger", LEDGER_CSV)
        .await;
    assert!(finds(&a, "alice", "ledger", "sales.ledger").await);
    eventually!(
        within,
        "sales.ledger searchable on b",
        finds(&b, "alice", "ledger", "sales.ledger").await
    );

    // The credential revocation list: a credential revoked on `a` is refused on `b`.
    let v = a
        .post(
            "alice",
            "/api/v1/credentials",
            &json!({"tables": ["sales.orders.orders"], "actions": ["read"]}),
        )
        .await
        .ok(StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_string();
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(query_with(&b, &token).await, StatusCode::OK);
    a.delete("alice", &format!("/api/v1/credentials/{id}"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(query_with(&a, &token).await, StatusCode::UNAUTHORIZED);
    eventually!(
        within,
        "the credential revoked on a refused on b",
        query_with(&b, &token).await == StatusCode::UNAUTHORIZED
    );
}

/// How much later than the repeated call the worker that does the job starts.
const LATE: Duration = Duration::from_millis(400);

/// Sends `repeat` and, [`LATE`] after, starts the worker of `worker`: the answer must come
/// only then, `processed`, with every item `done`.
async fn answers_once_done(repeat: impl Future<Output = Resp>, worker: &Mesh, done: &str) {
    let started = Instant::now();
    let (again, ()) = tokio::join!(repeat, async {
        tokio::time::sleep(LATE).await;
        worker.start_worker_and_feed();
    });
    let again = again.ok(StatusCode::OK);
    assert_eq!(again["status"], "processed", "{again}");
    assert!(started.elapsed() >= LATE, "answered before the job ran");
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == done),
        "{again}"
    );
}

/// A decision or revocation repeated while the first one's job is still to run (a client
/// retrying after the replica that took the first call died holding the job) answers, with
/// `wait`, once the job is done — not at once with the share half-way. `a` serves every call
/// and runs no worker; the worker that does the job starts only after the repeated call was
/// sent, on another replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_approval_or_revocation_waits_for_the_job_of_the_first() {
    let a = Mesh::demo_with(|c| c.replicas.poll_ms = POLL_MS).await;
    a.stop_background();
    let share = a.request_access("bob", "sales.orders").await;
    let first = a
        .approve("alice", &share, &json!({"wait": false}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(first["status"], "approved", "{first}");
    let b = a.replica_with(|c| c.replicas.poll_ms = POLL_MS).await;
    let body = json!({});
    answers_once_done(a.approve("alice", &share, &body), &b, "share_succeeded").await;

    // The same for a revocation, with the worker gone again until after the repeat.
    b.stop_background();
    let revoke = format!("/api/v1/shares/{share}/revoke");
    let first = a
        .post("alice", &revoke, &json!({"wait": false}))
        .await
        .ok(StatusCode::OK);
    assert_ne!(first["status"], "processed", "{first}");
    let c = a.replica_with(|c| c.replicas.poll_ms = POLL_MS).await;
    let body = json!({"wait": true});
    answers_once_done(a.post("alice", &revoke, &body), &c, "revoke_succeeded").await;
    let denied = a
        .query("bob", "SELECT count(*) AS n FROM sales.orders.orders")
        .await;
    assert_ne!(denied.status, StatusCode::OK, "revoked");
}
