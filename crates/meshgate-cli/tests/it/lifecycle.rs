//! End to end through the CLI: the share lifecycle verbs of docs/design/LIFECYCLE.md on a real
//! `meshgate quickstart` — request, approve, finalize (local name), add/remove items, submit
//! refusal, modify (columns), extensions (approve, reject, cancel), verify/reapply (single and
//! per product), share logs, share settings (auto-approval, required expiry), archive delete
//! (refused while shared, forced), and the consumer's listings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::{EXE, free_port, healthz};

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
    fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let log = data_dir.with_extension("log");
        let out = data_dir.with_extension("out");
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
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a CLI verb against this server as `token`.
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        Command::new(EXE)
            .args(args)
            .env("MESHGATE_URL", &self.url)
            .env("MESHGATE_TOKEN", token)
            .env_remove("MESHGATE_CONFIG")
            .env("NO_COLOR", "1")
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

    /// Runs a verb that must fail (exit code 1, nothing on stdout) and returns its stderr.
    fn fails(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "`meshgate {}` should have failed; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.stdout.is_empty(),
            "a refusal prints nothing on stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Runs a verb with `-o json` and parses what it prints.
    fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let stdout = self.ok(token, &all);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`{}` printed invalid JSON ({e}): {stdout}", args.join(" ")))
    }
}

fn read_tokens(data_dir: &Path) -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(data_dir.join("quickstart-tokens.json")).expect("the tokens file");
    serde_json::from_str(&text).expect("tokens are a JSON object")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v:#}"))
}

fn time_of(v: &Value, key: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(str_of(v, key))
        .unwrap_or_else(|e| panic!("`{key}` is not RFC 3339 ({e}) in {v:#}"))
        .with_timezone(&Utc)
}

/// The statuses of a share's items, in order.
fn item_statuses(share: &Value) -> Vec<String> {
    items(share)
        .iter()
        .map(|i| str_of(i, "status").to_string())
        .collect()
}

fn items(share: &Value) -> &Vec<Value> {
    share["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {share:#}"))
}

/// `[shared, pending, failed, revoked, rejected]` of a share's summary.
fn summary(share: &Value) -> [u64; 5] {
    let s = &share["summary"];
    ["shared", "pending", "failed", "revoked", "rejected"].map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("summary.{k} in {share:#}"))
    })
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list:#}"))
        .iter()
        .map(|s| str_of(s, "id").to_string())
        .collect()
}

/// `SELECT count(*) AS n …` as one number.
fn count(server: &Server, token: &str, sql: &str) -> i64 {
    let rows = server.json(token, &["query", sql]);
    rows[0]["n"]
        .as_i64()
        .unwrap_or_else(|| panic!("no count in {rows}"))
}

fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` missing from: {text}");
    }
}

#[test]
fn share_lifecycle_through_the_cli() {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("tempdir");
    let data_dir = root.path().join("mesh");
    let server = Server::start(&data_dir);
    let tokens = read_tokens(&data_dir);
    let (alice, bob) = (tokens["alice"].as_str(), tokens["bob"].as_str());
    let crm_count = "SELECT count(*) AS n FROM crm.customers";

    // 1. bob requests one table of sales.customers with an expiry; alice approves; bob picks
    //    the local name `crm` and reads through it.
    let share = server.json(
        bob,
        &[
            "request-access",
            "sales.customers",
            "--reason",
            "CRM sync for the spring campaign",
            "--table",
            "customers",
            "--expires",
            "30d",
        ],
    );
    let id = str_of(&share, "id").to_string();
    assert_eq!(share["status"], "submitted", "{share:#}");
    assert_eq!(share["requester_team"], "marketing.analytics");
    assert_eq!(share["reason"], "CRM sync for the spring campaign");
    assert_eq!(item_statuses(&share), ["pending_approval"]);
    assert_eq!(items(&share)[0]["table"], "customers");
    assert_eq!(summary(&share), [0, 1, 0, 0, 0]);
    let requested = time_of(&share, "requested_expiry");
    let days = (requested - Utc::now()).num_hours();
    assert!(
        (29 * 24..=30 * 24).contains(&days),
        "30 days away: {share:#}"
    );
    let table_item = str_of(&items(&share)[0], "id").to_string();

    let pending = server.json(alice, &["list-pending-requests"]);
    let mine = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not pending for alice: {pending:#}"));
    assert_eq!(mine["status"], "submitted");
    let for_bob = server.json(bob, &["list-pending-requests"]);
    assert!(
        !ids(&for_bob).contains(&id),
        "bob approves nothing: {for_bob:#}"
    );

    let approved = server.json(
        alice,
        &["approve-subscription", &id, "--notes", "ok for spring"],
    );
    assert_eq!(approved["status"], "processed", "{approved:#}");
    assert_eq!(approved["decided_by"], "alice");
    assert_eq!(item_statuses(&approved), ["share_succeeded"]);
    assert_eq!(items(&approved)[0]["health"], "healthy");
    assert_eq!(summary(&approved), [1, 0, 0, 0, 0]);
    assert_eq!(
        time_of(&approved, "expires_at"),
        requested,
        "the requested expiry is granted"
    );

    let finalized = server.json(bob, &["finalize-subscription", &id, "--local-name", "crm"]);
    assert_eq!(finalized["local_name"], "crm", "{finalized:#}");
    assert_eq!(finalized["status"], "processed");
    assert_eq!(count(&server, bob, crm_count), 5000);

    // 2. adding a folder returns the share to draft with one pending item; removing it leaves
    //    nothing to submit, and submit says so. The shared table keeps working.
    let added = server.json(bob, &["add-items", &id, "--folder", "reports/2026"]);
    assert_eq!(added["status"], "draft", "{added:#}");
    assert_eq!(
        item_statuses(&added),
        ["share_succeeded", "pending_approval"]
    );
    let folder = &items(&added)[1];
    assert_eq!(folder["kind"], "folder");
    assert_eq!(folder["folder"], "reports/2026/");
    assert_eq!(summary(&added), [1, 1, 0, 0, 0]);
    let folder_item = str_of(folder, "id").to_string();

    let removed = server.json(bob, &["remove-item", &id, &folder_item]);
    assert_eq!(removed["status"], "draft", "{removed:#}");
    assert_eq!(item_statuses(&removed), ["share_succeeded"]);
    assert_eq!(summary(&removed), [1, 0, 0, 0, 0]);
    let refused = server.fails(bob, &["submit-subscription", &id]);
    assert_mentions(&refused, &["pending", "invalid_transition"]);
    let stderr = server.fails(bob, &["remove-item", &id, &table_item]);
    assert!(!stderr.is_empty(), "a shared item cannot be removed");
    assert_eq!(count(&server, bob, crm_count), 5000);

    // 3. alice narrows the shared table to one column; bob's `SELECT *` shows only that one.
    let raw = server.json(
        alice,
        &["query", "SELECT * FROM sales.customers.customers LIMIT 1"],
    );
    let columns: Vec<&String> = raw[0].as_object().expect("a row").keys().collect();
    for c in ["customer_id", "email", "name", "region"] {
        assert!(columns.iter().any(|k| *k == c), "no `{c}` in {raw}");
    }
    let stderr = server.fails(
        bob,
        &[
            "modify-subscription",
            &id,
            "--item",
            &table_item,
            "--columns",
            "customer_id",
        ],
    );
    assert_mentions(&stderr, &["forbidden"]);
    let modified = server.json(
        alice,
        &[
            "modify-subscription",
            &id,
            "--item",
            &table_item,
            "--columns",
            "customer_id",
            "--notes",
            "ids only",
        ],
    );
    assert_eq!(
        item_statuses(&modified),
        ["share_succeeded"],
        "{modified:#}"
    );
    assert_eq!(
        items(&modified)[0]["scope"]["columns"],
        serde_json::json!(["customer_id"])
    );
    let rows = server.json(
        bob,
        &[
            "query",
            "SELECT * FROM crm.customers ORDER BY customer_id LIMIT 3",
        ],
    );
    assert_eq!(
        rows,
        serde_json::json!([{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}])
    );

    // 4. extensions: bob asks, alice approves (later expiry); bob asks again, alice rejects.
    let asked = server.json(
        bob,
        &[
            "extend",
            &id,
            "--until",
            "60d",
            "--reason",
            "the campaign runs longer",
        ],
    );
    assert_eq!(asked["status"], "submitted_for_extension", "{asked:#}");
    assert_eq!(item_statuses(&asked), ["pending_extension"]);
    assert_eq!(asked["extension_reason"], "the campaign runs longer");
    assert_eq!(
        summary(&asked),
        [1, 0, 0, 0, 0],
        "an item pending extension still gives access"
    );
    let wanted = time_of(&asked, "extension_expiry");
    assert!(wanted > requested, "{asked:#}");
    assert_eq!(count(&server, bob, crm_count), 5000);
    let stderr = server.fails(bob, &["approve-extension", &id]);
    assert_mentions(&stderr, &["forbidden"]);
    let extended = server.json(alice, &["approve-extension", &id, "--notes", "fine"]);
    assert_eq!(extended["status"], "processed", "{extended:#}");
    assert_eq!(item_statuses(&extended), ["share_succeeded"]);
    assert_eq!(time_of(&extended, "expires_at"), wanted);
    assert!(extended["extension_expiry"].is_null(), "{extended:#}");

    let asked = server.json(
        bob,
        &[
            "extend",
            &id,
            "--until",
            "90d",
            "--reason",
            "and longer still",
        ],
    );
    assert_eq!(asked["status"], "submitted_for_extension", "{asked:#}");
    assert_eq!(item_statuses(&asked), ["pending_extension"]);
    let rejected = server.json(
        alice,
        &["reject-extension", &id, "--notes", "two months is enough"],
    );
    assert_eq!(rejected["status"], "extension_rejected", "{rejected:#}");
    assert_eq!(item_statuses(&rejected), ["share_succeeded"]);
    assert_eq!(
        time_of(&rejected, "expires_at"),
        wanted,
        "the expiry is kept"
    );
    assert_eq!(summary(&rejected), [1, 0, 0, 0, 0]);
    assert_eq!(count(&server, bob, crm_count), 5000);

    // 5. verify (either side), reapply (approvers only), bulk verify, processor logs.
    let verified = server.json(bob, &["verify", &id]);
    assert_eq!(
        verified["status"], "extension_rejected",
        "verify changes no status"
    );
    assert_eq!(item_statuses(&verified), ["share_succeeded"]);
    let item = &items(&verified)[0];
    assert_eq!(item["health"], "healthy", "{verified:#}");
    assert!(item["last_verified_at"].is_string(), "{verified:#}");
    let stderr = server.fails(bob, &["reapply", &id]);
    assert_mentions(&stderr, &["bob", "may not reapply", "forbidden"]);
    let reapplied = server.json(alice, &["reapply", &id]);
    assert_eq!(reapplied["status"], "extension_rejected", "{reapplied:#}");
    assert_eq!(items(&reapplied)[0]["health"], "healthy");
    let bulk = server.json(alice, &["verify", "--product", "sales.customers"]);
    assert_eq!(bulk["shares"], 1, "{bulk:#}");
    assert_eq!(bulk["items"], 1, "{bulk:#}");
    assert_eq!(bulk["healthy"], 1, "{bulk:#}");
    assert_eq!(bulk["unhealthy"], 0, "{bulk:#}");
    assert_eq!(bulk["reapply_enqueued"], 0, "{bulk:#}");
    let stderr = server.fails(bob, &["verify", "--product", "sales.customers"]);
    assert_mentions(&stderr, &["forbidden"]);
    let logs = server.json(bob, &["share-logs", &id]);
    let logs = logs.as_array().expect("log lines");
    assert!(
        logs.iter()
            .any(|l| l["job"] == "process_share" && str_of(l, "message").contains("granted")),
        "{logs:#?}"
    );
    let last = logs.last().expect("a line")["seq"].as_i64().expect("seq");
    let after = server.json(alice, &["share-logs", &id, "--after", &last.to_string()]);
    assert_eq!(after, serde_json::json!([]), "nothing after the last line");

    // 6. share settings: auto-approval for marketing, then required (≤ 10 days) expiry.
    let settings = server.json(
        alice,
        &[
            "share-settings",
            "set",
            "sales.orders",
            "--auto-approve-domain",
            "marketing",
        ],
    );
    assert_eq!(
        settings["auto_approve"]["requester_domains"],
        serde_json::json!(["marketing"]),
        "{settings:#}"
    );
    let stderr = server.fails(
        bob,
        &["share-settings", "set", "sales.orders", "--expiry-required"],
    );
    assert_mentions(&stderr, &["forbidden"]);
    let orders = server.json(
        bob,
        &[
            "request-access",
            "sales.orders",
            "--reason",
            "campaign attribution",
        ],
    );
    let orders_id = str_of(&orders, "id").to_string();
    assert_eq!(orders["status"], "processed", "auto-approved: {orders:#}");
    assert_eq!(item_statuses(&orders), ["share_succeeded"]);
    assert!(orders["expires_at"].is_null(), "{orders:#}");
    assert_eq!(
        count(
            &server,
            bob,
            "SELECT count(*) AS n FROM sales.orders.orders"
        ),
        100_000
    );
    let shown = server.json(bob, &["share-settings", "get", "sales.orders"]);
    assert_eq!(shown, settings, "bob reads the rule alice set");

    // cancel-extension: bob withdraws his own request; alice may not.
    let asked = server.json(
        bob,
        &[
            "extend",
            &orders_id,
            "--until",
            "30d",
            "--reason",
            "to be safe",
        ],
    );
    assert_eq!(asked["status"], "submitted_for_extension", "{asked:#}");
    assert_eq!(item_statuses(&asked), ["pending_extension"]);
    let stderr = server.fails(alice, &["cancel-extension", &orders_id]);
    assert_mentions(&stderr, &["alice", "forbidden"]);
    let cancelled = server.json(bob, &["cancel-extension", &orders_id]);
    assert_eq!(cancelled["status"], "processed", "{cancelled:#}");
    assert_eq!(item_statuses(&cancelled), ["share_succeeded"]);
    assert!(
        cancelled["expires_at"].is_null(),
        "no expiry added: {cancelled:#}"
    );
    assert!(cancelled["extension_expiry"].is_null(), "{cancelled:#}");

    let settings = server.json(
        alice,
        &[
            "share-settings",
            "set",
            "sales.orders",
            "--expiry-required",
            "--max-days",
            "10",
        ],
    );
    assert_eq!(settings["expiry_required"], true, "{settings:#}");
    assert_eq!(settings["max_days"], 10, "{settings:#}");
    assert_eq!(
        settings["auto_approve"]["requester_domains"],
        serde_json::json!([]),
        "`set` replaces the settings"
    );
    let stderr = server.fails(
        bob,
        &["request-access", "sales.orders", "--reason", "once more"],
    );
    assert_mentions(&stderr, &["expiry", "10 days", "invalid_request"]);
    let stderr = server.fails(
        bob,
        &[
            "request-access",
            "sales.orders",
            "--reason",
            "once more",
            "--expires",
            "30d",
        ],
    );
    assert_mentions(&stderr, &["at most 10 days"]);
    let stderr = server.fails(
        bob,
        &["extend", &orders_id, "--until", "60d", "--reason", "more"],
    );
    assert_mentions(&stderr, &["at most 10 days"]);
    let short = server.json(
        bob,
        &[
            "request-access",
            "sales.orders",
            "--reason",
            "once more",
            "--expires",
            "5d",
        ],
    );
    assert_eq!(
        short["status"], "submitted",
        "no auto-approval any more: {short:#}"
    );
    let short_id = str_of(&short, "id").to_string();
    let denied = server.json(
        alice,
        &["deny-subscription", &short_id, "--notes", "you have one"],
    );
    assert_eq!(denied["status"], "rejected", "{denied:#}");
    assert_eq!(item_statuses(&denied), ["share_rejected"]);

    // 7. delete (archive): refused while an item is shared, forced revokes first; the record
    //    stays readable with its reason and bob's local name is gone.
    let stderr = server.fails(bob, &["delete-subscription", &id, "--reason", "done"]);
    assert_mentions(&stderr, &["force", "share_succeeded"]);
    let deleted = server.json(
        bob,
        &["delete-subscription", &id, "--reason", "done", "--force"],
    );
    assert_eq!(deleted["status"], "deleted", "{deleted:#}");
    assert_eq!(deleted["deleted_reason"], "done");
    assert_eq!(item_statuses(&deleted), ["revoke_succeeded"]);
    assert_eq!(summary(&deleted), [0, 0, 0, 1, 0]);
    let archived = server.json(alice, &["get-subscription", &id]);
    assert_eq!(archived["status"], "deleted", "{archived:#}");
    assert_eq!(archived["deleted_reason"], "done");
    assert_eq!(archived["local_name"], "crm");
    let stderr = server.fails(bob, &["query", crm_count]);
    assert_mentions(&stderr, &["not found"]);
    let deleted_list = server.json(bob, &["list-subscriptions", "--status", "deleted"]);
    assert_eq!(ids(&deleted_list), std::slice::from_ref(&id));
    let stderr = server.fails(bob, &["delete-subscription", &short_id, "--reason", ""]);
    assert!(!stderr.is_empty(), "a reason is required");
    let archived = server.json(
        bob,
        &["delete-subscription", &short_id, "--reason", "not needed"],
    );
    assert_eq!(
        archived["status"], "deleted",
        "a rejected share deletes without force"
    );

    // 8. bob's listings: the processed orders share is the only one, and what he can query.
    let processed = server.json(bob, &["list-subscriptions", "--status", "processed"]);
    assert_eq!(
        ids(&processed),
        std::slice::from_ref(&orders_id),
        "{processed:#}"
    );
    assert!(
        processed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "processed")
    );
    let access = server.json(bob, &["list-product-access"]);
    assert_eq!(ids(&access), std::slice::from_ref(&orders_id), "{access:#}");
    assert_eq!(access[0]["product"], "sales.orders");
    let table = server.ok(bob, &["list-product-access"]);
    assert_mentions(&table, &[&orders_id, "sales.orders"]);
    assert!(
        !table.contains(&id),
        "the deleted share gives nothing: {table}"
    );

    drop(server);
    eprintln!("lifecycle walk took {:?}", started.elapsed());
}
