//! `meshgate alerts …` end to end against a real `meshgate serve` (docs/design/AUDIT.md
//! §Unusual reads): an admin tunes the detector with the CLI (two-second buckets, so a
//! baseline of a few "days" takes seconds, and the response `suspend`); alice, an owner,
//! builds a baseline of one-row queries and then reads 243 rows at once; the alert appears in
//! `meshgate alerts` with its numbers, alice is suspended (her CLI queries are refused), the
//! admin acknowledges the alert and lifts the suspension, and alice reads again.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::init;
use crate::fleet::{Launch, Server, set_up};

const BUCKET_SECS: i64 = 2;

fn json(server: &Server, token: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = server.ok(token, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: invalid JSON ({e}): {out}"))
}

/// Runs a verb that must fail; its stderr.
fn fails(server: &Server, token: &str, args: &[&str]) -> String {
    let out = server.cli(token, args);
    assert!(
        !out.status.success(),
        "`meshgate {}` should have failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Sleeps until just after the next bucket starts.
fn next_bucket() {
    let ms = chrono::Utc::now().timestamp_millis();
    let next = (ms.div_euclid(BUCKET_SECS * 1000) + 1) * BUCKET_SECS * 1000;
    std::thread::sleep(Duration::from_millis(
        u64::try_from(next - ms + 150).unwrap_or(0),
    ));
}

#[test]
fn alerts_are_tuned_listed_acknowledged_and_lifted_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = init(&data);
    let server = Server::start(&Launch::sqlite(&data), 0);
    let (alice, _bob) = set_up(&server, &admin, dir.path());

    // Tuning: only the flags given change; nothing given is an error; a value the detector
    // cannot run with is refused, naming it.
    let said = fails(&server, &admin, &["alerts", "tune"]);
    assert!(said.contains("nothing to change"), "{said}");
    let said = fails(&server, &admin, &["alerts", "tune", "--threshold", "0"]);
    assert!(said.contains("threshold"), "{said}");
    let said = fails(&server, &alice, &["alerts", "settings"]);
    assert!(said.contains("read the audit log"), "{said}");
    let bucket = BUCKET_SECS.to_string();
    let v = json(
        &server,
        &admin,
        &[
            "alerts",
            "tune",
            "--response",
            "suspend",
            "--bucket-secs",
            &bucket,
            "--min-history",
            "2",
            "--floor-rows",
            "0",
            "--floor-bytes",
            "0",
            "--floor-reads",
            "1000",
            "--threshold",
            "3",
        ],
    );
    assert_eq!(v["settings"]["response"], "suspend", "{v}");
    assert_eq!(v["settings"]["bucket_secs"], BUCKET_SECS, "{v}");
    assert_eq!(v["settings"]["max_factor"], 3.0, "untouched: {v}");
    let settings = server.ok(&admin, &["alerts", "settings"]);
    assert!(settings.contains("suspend"), "{settings}");
    assert_eq!(json(&server, &admin, &["alerts"]), Value::Array(Vec::new()));

    // alice's baseline: a few days of one row; then 3^5 = 243 rows in one query.
    for _ in 0..3 {
        next_bucket();
        server.ok(
            &alice,
            &["query", "SELECT id FROM sales.multi.t1 WHERE id = 1"],
        );
    }
    next_bucket();
    let big = "SELECT a.id FROM sales.multi.t1 a, sales.multi.t1 b, sales.multi.t1 c, \
               sales.multi.t1 d, sales.multi.t1 e";
    let rows = json(&server, &alice, &["query", big]);
    assert_eq!(rows.as_array().map(Vec::len), Some(243), "{rows}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let list = json(&server, &admin, &["alerts", "--status", "open"]);
        if let Some(a) = list.as_array().and_then(|l| l.first()) {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no alert within 30 s; server log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(alert["principal"], "alice", "{alert:#}");
    assert_eq!(alert["response"], "suspend", "{alert:#}");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("rows today 243"),
        "{alert:#}"
    );
    let id = alert["id"].as_str().unwrap().to_string();
    let table = server.ok(&admin, &["alerts"]);
    assert!(table.contains(&id) && table.contains("alice"), "{table}");
    let shown = json(&server, &admin, &["alerts", "show", &id]);
    assert_eq!(shown["id"], id.as_str());

    // Suspended: alice's token is refused, on the CLI as everywhere.
    let said = fails(&server, &alice, &["query", "SELECT 1"]);
    assert!(said.contains("suspended"), "{said}");
    let s = json(&server, &admin, &["alerts", "suspensions"]);
    assert_eq!(s[0]["principal"], "alice", "{s}");

    // Acknowledged with a note; lifted; alice reads again.
    let acked = json(
        &server,
        &admin,
        &["alerts", "ack", &id, "--note", "a planned export"],
    );
    assert_eq!(acked["status"], "acknowledged", "{acked}");
    assert_eq!(acked["note"], "a planned export", "{acked}");
    let said = server.ok(&admin, &["alerts", "lift", "alice"]);
    assert!(said.contains("lifted"), "{said}");
    server.ok(&alice, &["query", "SELECT 1"]);
    assert_eq!(
        json(&server, &admin, &["alerts", "suspensions"]),
        Value::Array(Vec::new())
    );
    let said = fails(&server, &admin, &["alerts", "lift", "alice"]);
    assert!(said.contains("not found") || said.contains("404"), "{said}");
}
