//! End to end: starts the real `meshgate quickstart`, walks the tour it prints with the CLI
//! (bob denied → request → alice approves → bob reads → alice revokes → bob denied → masked
//! reads → a Delta Sharing profile link, its profile file and the tables it shares →
//! tenant-scoped credentials of item-service: writes, reads and cross-tenant denials
//! → audit),
//! stops the server with SIGTERM expecting a graceful exit, and restarts it on the same data
//! dir expecting the demo mesh and its tokens to be reused, not duplicated.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{EXE, free_port, healthz};

const BY_REGION: &str =
    "SELECT region, count(*) AS orders FROM sales.orders.orders GROUP BY region";
const ITEMS_TABLE: &str = "apps.items.items";

/// A running `meshgate quickstart`, killed when dropped (also when the test fails).
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// Starts quickstart on `data_dir` and waits until `/healthz` answers.
    fn start(data_dir: &Path, run: &str) -> Server {
        let port = free_port();
        let log = data_dir.with_extension(format!("{run}.log"));
        let out = data_dir.with_extension(format!("{run}.out"));
        let child = Command::new(EXE)
            .args(["quickstart", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("MESHGATE_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start meshgate quickstart");
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(SocketAddr::from(([127, 0, 0, 1], port)));
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/healthz` until it answers 200, for at most two minutes (seeding writes 100k rows).
    fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "quickstart exited early with {status}; log:\n{}",
                    self.log()
                );
            }
            if healthz(addr) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "quickstart not ready after 120 s; log:\n{}",
                self.log()
            );
            // Poll interval while waiting for readiness.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for quickstart") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "quickstart still running 60 s after SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a CLI verb against this server as `token`.
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        Command::new(EXE)
            .args(args)
            .env("MESHGATE_URL", &self.url)
            .env("MESHGATE_TOKEN", token)
            .env_remove("MESHGATE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run the meshgate cli")
    }

    /// Runs a verb that must succeed and returns its stdout.
    fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(
            out.status.success(),
            "`meshgate {}` failed with {}\nstdout: {}\nstderr: {}\nserver log:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a verb that must fail and returns its stderr.
    fn fails(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(
            !out.status.success(),
            "`meshgate {}` should have failed; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    fn json(&self, token: &str, args: &[&str]) -> Value {
        let stdout = self.ok(token, args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`{}` printed invalid JSON ({e}): {stdout}", args.join(" ")))
    }
}

/// The `column` of each row of a JSON array of rows.
fn keys(rows: &Value, column: &str) -> Vec<String> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| r[column].as_str().expect("a text key").to_string())
        .collect()
}

fn read_tokens(data_dir: &Path) -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(data_dir.join("quickstart-tokens.json")).expect("the tokens file");
    let tokens: BTreeMap<String, String> =
        serde_json::from_str(&text).expect("tokens are a JSON object");
    let mut names: Vec<&str> = tokens.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "alice", "bob", "carol", "item-service"]);
    tokens
}

#[test]
fn quickstart_tour_shutdown_and_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let data_dir = root.path().join("mesh");

    let mut server = Server::start(&data_dir, "first");
    let tokens = read_tokens(&data_dir);
    let (admin, alice, bob) = (&tokens["admin"], &tokens["alice"], &tokens["bob"]);
    let items = &tokens["item-service"];

    // bob (marketing) cannot see sales' orders yet
    let stderr = server.fails(bob, &["query", BY_REGION]);
    assert!(stderr.contains("not found"), "{stderr}");

    // bob asks for access, with a reason
    let id = server.ok(
        bob,
        &[
            "request-access",
            "sales.orders",
            "--reason",
            "campaign attribution for Q3",
            "-o",
            "id",
        ],
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a share id: {id:?}");
    assert!(
        id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
        "{id:?}"
    );

    // alice sees the request and approves it
    let pending = server.ok(alice, &["list-pending-requests"]);
    assert!(pending.contains(&id), "{pending}");
    assert!(pending.contains("submitted"), "{pending}");
    let approved = server.ok(
        alice,
        &["approve-subscription", &id, "--notes", "ok for Q3"],
    );
    assert!(approved.contains("processed"), "{approved}");

    // bob's query now returns rows
    let rows = server.json(bob, &["query", BY_REGION, "-o", "json"]);
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 4, "{rows:?}");
    let total: i64 = rows
        .iter()
        .map(|r| r["orders"].as_i64().expect("orders"))
        .sum();
    assert_eq!(total, 100_000);
    let table = server.ok(bob, &["query", BY_REGION]);
    assert!(table.contains("(4 rows)"), "{table}");

    // alice revokes; bob is denied again
    server.ok(alice, &["revoke", &id]);
    let stderr = server.fails(bob, &["query", "SELECT count(*) FROM sales.orders.orders"]);
    assert!(stderr.contains("not found"), "{stderr}");

    // nobody tagged the customers' emails: automatic classification detected and tagged
    // them when the demo was seeded (the quickstart applies confident detections)
    let listed = server.json(
        alice,
        &["suggestions", "list", "sales.customers", "-o", "json"],
    );
    let email = listed
        .as_array()
        .expect("suggestions")
        .iter()
        .find(|s| s["column"] == "email")
        .unwrap_or_else(|| panic!("no suggestion on `email`: {listed}"));
    assert_eq!(
        (&email["kind"], &email["status"]),
        (&Value::from("email"), &Value::from("applied")),
        "{email}"
    );
    let evidence = email["evidence"].as_str().expect("evidence");
    assert!(!evidence.contains("@example.com"), "{evidence}");
    let table = server.ok(alice, &["suggestions", "list", "sales.customers"]);
    assert!(
        table.contains("applied") && table.contains("pii_email"),
        "{table}"
    );
    // owners decide on suggestions: a rejection takes the tags off, a confirmation puts
    // them back (the orders' customer e-mails were detected too)
    let column = "sales.orders.orders.customer_email";
    let rejected = server.json(
        alice,
        &["suggestions", "reject", column, "email", "-o", "json"],
    );
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let confirmed = server.json(
        alice,
        &["suggestions", "confirm", column, "email", "-o", "json"],
    );
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    assert_eq!(confirmed["decided_by"], "alice", "{confirmed}");
    let stderr = server.fails(bob, &["suggestions", "reject", column, "email"]);
    assert!(stderr.contains("may not"), "{stderr}");

    // fine-grained access: EU rows only, names redacted, `pii` emails hashed by the tag mask
    let id2 = server.ok(
        bob,
        &[
            "request-access",
            "sales.customers",
            "--reason",
            "EU newsletter",
            "-o",
            "id",
        ],
    );
    let id2 = id2.trim().to_string();
    let filters = server.ok(alice, &["data-filter", "list", "sales.customers.customers"]);
    assert!(
        filters.contains("eu_only") && filters.contains("region = 'eu'"),
        "{filters}"
    );
    let approved = server.ok(
        alice,
        &[
            "approve-subscription",
            &id2,
            "--filter",
            "customers=eu_only",
            "--mask",
            "customers.name=redact",
        ],
    );
    assert!(approved.contains("processed"), "{approved}");
    let rows = server.json(
        bob,
        &[
            "query",
            "SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 3",
            "-o",
            "json",
        ],
    );
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in rows {
        assert_eq!(row["region"], "eu", "{row}");
        let email = row["email"].as_str().expect("email");
        assert!(
            email.len() == 64 && email.chars().all(|c| c.is_ascii_hexdigit()),
            "email hashed: {row}"
        );
        let name = row["name"].as_str().expect("name");
        assert!(
            name.chars().all(|c| "xX0 ".contains(c)),
            "name redacted: {row}"
        );
    }
    let by_region = server.json(
        bob,
        &[
            "query",
            "SELECT region, count(*) AS customers FROM sales.customers.customers GROUP BY region",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        by_region,
        serde_json::json!([{"region": "eu", "customers": 1250}])
    );
    let raw = server.json(
        alice,
        &[
            "query",
            "SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 1",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        raw[0]["email"], "customer1@example.com",
        "owners read raw values"
    );

    // Delta Sharing: a one-time profile link for bob, the profile file, the shared tables
    let link = server.ok(
        admin,
        &[
            "recipient",
            "token",
            "create",
            "bob",
            "--expires-in-days",
            "30",
            "--link-only",
        ],
    );
    let link = link.trim();
    assert!(link.contains("/delta-sharing/profile/"), "{link}");
    let profile_file = root.path().join("bob.share");
    let profile_arg = profile_file.to_str().unwrap();
    server.ok("", &["sharing", "profile", link, "-f", profile_arg]);
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(&profile_file).unwrap()).unwrap();
    assert_eq!(profile["shareCredentialsVersion"], 1, "{profile}");
    assert!(
        profile["endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&server.url),
        "{profile}"
    );
    let again = root.path().join("again.share");
    let stderr = server.fails(
        "",
        &["sharing", "profile", link, "-f", again.to_str().unwrap()],
    );
    assert!(
        stderr.contains("not found") || stderr.contains("RESOURCE_DOES_NOT_EXIST"),
        "the link works once: {stderr}"
    );
    // bob's API token and the profile's bearer token see the same shared tables
    let bearer = profile["bearerToken"].as_str().unwrap();
    for token in [bob.as_str(), bearer] {
        let tables = server.json(token, &["sharing", "tables", "-o", "json"]);
        let names: Vec<String> = tables
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}.{}.{}", t["share"], t["schema"], t["name"]).replace('"', ""))
            .collect();
        assert!(
            names.contains(&"sales.customers.customers".to_string()),
            "{tables}"
        );
        assert!(
            !names.contains(&"sales.orders.orders".to_string()),
            "revoked: {tables}"
        );
    }
    // the recipient token opens Delta Sharing only, not the REST API
    let stderr = server.fails(bearer, &["list-products"]);
    assert!(stderr.contains("token"), "{stderr}");
    let listed = server.json(admin, &["recipient", "token", "list", "bob", "-o", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["usable"], true, "{listed}");

    // tenant isolation: item-service vends one credential per tenant
    let vend = |prefix: &str, extra: &[&str]| {
        let mut args = vec![
            "credentials",
            "create",
            "--table",
            ITEMS_TABLE,
            "--action",
            "read",
            "--action",
            "write",
            "--key-prefix",
            prefix,
        ];
        args.extend_from_slice(extra);
        args.push("--token-only");
        let token = server.ok(items, &args).trim().to_string();
        assert!(
            token.starts_with("mgs_") && !token.contains(char::is_whitespace),
            "only the token is printed: {token:?}"
        );
        token
    };
    let t1 = vend("tenant1-", &["--expires-in", "1h"]);
    let t2 = vend("tenant2-", &[]);

    // each tenant's items are written with its own credential
    let appended = server.ok(
        &t1,
        &[
            "rows",
            "append",
            ITEMS_TABLE,
            "--row",
            r#"{"item_id":"tenant1-1","name":"bolt","qty":100,"price":0.25}"#,
            "--row",
            r#"{"item_id":"tenant1-2","name":"nut","qty":250,"price":0.1}"#,
        ],
    );
    assert!(
        appended.contains("appended 2 rows to `apps.items.items`"),
        "{appended}"
    );
    let appended = server.ok(
        &t2,
        &[
            "rows",
            "append",
            ITEMS_TABLE,
            "--row",
            r#"{"item_id":"tenant2-1","name":"gear","qty":40,"price":2.5}"#,
        ],
    );
    assert!(appended.contains("appended 1 row to"), "{appended}");

    // tenant1's credential lists all of tenant1's items and nothing else
    let listed = server.ok(&t1, &["rows", "list", ITEMS_TABLE]);
    assert!(
        listed.contains("tenant1-1") && listed.contains("(2 rows)"),
        "{listed}"
    );
    let page = server.json(&t1, &["rows", "list", ITEMS_TABLE, "-o", "json"]);
    assert_eq!(keys(&page["rows"], "item_id"), ["tenant1-1", "tenant1-2"]);
    assert_eq!(page["next_after"], "tenant1-2");

    // … and reads one by key
    let item = server.json(
        &t1,
        &["rows", "get", ITEMS_TABLE, "tenant1-1", "-o", "json"],
    );
    assert_eq!(
        (&item["item_id"], &item["name"], &item["qty"]),
        (
            &Value::from("tenant1-1"),
            &Value::from("bolt"),
            &Value::from(100)
        ),
        "{item}"
    );

    // tenant2's credential may not read tenant1's item, nor write outside tenant2-
    let denied = server.fails(&t2, &["rows", "get", ITEMS_TABLE, "tenant1-1"]);
    for needle in [
        "item-service",
        "read",
        "apps.items.items",
        "no session policy allows",
        "forbidden",
    ] {
        assert!(denied.contains(needle), "`{needle}` missing from: {denied}");
    }
    let denied = server.fails(
        &t2,
        &[
            "rows",
            "append",
            ITEMS_TABLE,
            "--row",
            r#"{"item_id":"tenant1-9","name":"spoof","qty":1,"price":1}"#,
        ],
    );
    for needle in [
        "item-service",
        "write",
        "apps.items.items",
        "no session policy allows",
        "nothing was written",
    ] {
        assert!(denied.contains(needle), "`{needle}` missing from: {denied}");
    }
    let missing = server.fails(items, &["rows", "get", ITEMS_TABLE, "tenant1-9"]);
    assert!(missing.contains("not found"), "{missing}");

    // SQL under tenant1's credential sees tenant1's rows only; item-service's own token all
    let rows = server.json(
        &t1,
        &[
            "query",
            "SELECT item_id, name, qty FROM apps.items.items ORDER BY item_id",
            "-o",
            "json",
        ],
    );
    assert_eq!(keys(&rows, "item_id"), ["tenant1-1", "tenant1-2"]);
    let by_tenant = server.json(
        items,
        &[
            "query",
            "SELECT tenant, count(*) AS items FROM apps.items.items GROUP BY tenant ORDER BY tenant",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        by_tenant,
        serde_json::json!([
            {"tenant": "tenant1", "items": 2},
            {"tenant": "tenant2", "items": 1},
            {"tenant": "tenant3", "items": 3}
        ])
    );

    // credentials are listed (newest first) and revoked; a revoked credential gets 401
    let creds = server.json(items, &["credentials", "list", "-o", "json"]);
    let creds = creds.as_array().expect("credentials");
    assert_eq!(creds.len(), 2, "{creds:?}");
    assert_eq!(creds[0]["policy"]["key_prefix"], "tenant2-");
    assert!(creds.iter().all(|c| c.get("token").is_none()), "{creds:?}");
    let newest = server.ok(items, &["credentials", "list", "-o", "id"]);
    let newest = newest.lines().next().expect("a credential id");
    assert_eq!(newest, creds[0]["id"].as_str().expect("id"));
    let revoked = server.json(items, &["credentials", "revoke", newest, "-o", "json"]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let stderr = server.fails(&t2, &["rows", "list", ITEMS_TABLE]);
    assert!(
        stderr.contains("invalid, expired or revoked token"),
        "{stderr}"
    );
    server.ok(&t1, &["rows", "get", ITEMS_TABLE, "tenant1-2"]);

    // every decision and every query is in the audit log
    let events = server.json(admin, &["audit", "--action", "share.", "-o", "json"]);
    let events = events.as_array().expect("events");
    let approve = events
        .iter()
        .find(|e| e["action"] == "share.approve" && e["object_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no share.approve for {id}: {events:#?}"));
    assert_eq!(approve["actor"], "alice");
    assert!(
        events.iter().any(|e| e["action"] == "share.revoke"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("share."))
    );
    let queries = server.json(
        admin,
        &[
            "audit", "--action", "query.", "--actor", "bob", "-o", "json",
        ],
    );
    assert!(
        queries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "success"),
        "{queries:#?}"
    );
    let row_events = server.json(admin, &["audit", "--action", "rows.", "-o", "json"]);
    let row_events = row_events.as_array().expect("events");
    // (denials are audited by the right asked for: `rows.read`, `rows.write`)
    for (action, outcome) in [
        ("rows.append", "success"),
        ("rows.list", "success"),
        ("rows.get", "success"),
        ("rows.write", "denied"),
        ("rows.read", "denied"),
    ] {
        assert!(
            row_events.iter().any(|e| e["action"] == action
                && e["outcome"] == outcome
                && e["actor"] == "item-service"),
            "no {action} {outcome} by item-service: {row_events:#?}"
        );
    }

    // SIGTERM stops the server gracefully (checked after the restart, so that a failure here
    // still lets the restart be tested).
    let stopped = server.terminate();
    let first_log = server.log();
    drop(server);

    // Restarting on the same data dir reuses the mesh: same tokens, no duplicated products.
    let server = Server::start(&data_dir, "second");
    assert!(
        server.log().contains("reusing the demo mesh"),
        "{}",
        server.log()
    );
    assert_eq!(read_tokens(&data_dir), tokens, "the tokens are reused");
    let products = server.json(alice, &["list-products", "-o", "json"]);
    let mut names: Vec<&str> = products
        .as_array()
        .expect("products")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["customers", "items", "orders"], "{products:#?}");
    let me = server.json(bob, &["whoami", "-o", "json"]);
    assert_eq!(me["principal"]["name"], "bob");
    let share = server.json(alice, &["get-subscription", &id, "-o", "json"]);
    assert_eq!(
        share["summary"]["revoked"], 1,
        "the share survived the restart: {share}"
    );
    assert_eq!(
        server.ok(
            alice,
            &[
                "query",
                "SELECT count(*) AS n FROM sales.orders.orders",
                "-o",
                "csv"
            ]
        ),
        "n\n100000\n"
    );

    // Credentials survive the restart (signed with the mesh's stored key), revocations too.
    let item = server.json(
        &t1,
        &["rows", "get", ITEMS_TABLE, "tenant1-1", "-o", "json"],
    );
    assert_eq!(item["name"], "bolt");
    let stderr = server.fails(&t2, &["rows", "get", ITEMS_TABLE, "tenant2-1"]);
    assert!(
        stderr.contains("invalid, expired or revoked token"),
        "{stderr}"
    );
    let seeded = server.json(items, &["rows", "list", ITEMS_TABLE, "-o", "json"]);
    assert_eq!(
        keys(&seeded["rows"], "item_id"),
        [
            "tenant1-1",
            "tenant1-2",
            "tenant2-1",
            "tenant3-1",
            "tenant3-2",
            "tenant3-3"
        ],
        "the seed did not add tenant3's items again"
    );

    assert!(
        stopped.success(),
        "quickstart did not exit cleanly on SIGTERM: {stopped}; log:\n{first_log}"
    );
    assert!(
        first_log.contains("meshgate stopped"),
        "no graceful shutdown in the log:\n{first_log}"
    );
}
