//! End to end for the catalog (issue 7): `meshgate init` and `meshgate serve` a fresh mesh,
//! then the CLI's catalog verbs as an admin (glossary, terms, form types, rules), an owner
//! (forms, terms, classification, tags, publish/unpublish) and a consumer (search, describe,
//! request-access with forms), checking each answer and the errors for bad input.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{EXE, healthz, init};

/// A running `meshgate serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: std::path::PathBuf,
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
    fn start(data_dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = data_dir.with_extension("serve.log");
        let child = Command::new(EXE)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("MESHGATE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start meshgate serve");
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !healthz(addr) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited with {status}: {}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "serve not ready: {}",
                server.log()
            );
            // Poll interval while waiting for readiness.
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

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

    fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(
            out.status.success(),
            "`meshgate {}` failed\nstdout: {}\nstderr: {}\nserver log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn fails(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(
            !out.status.success(),
            "`meshgate {}` should have failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8")
    }

    fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.extend(["-o", "json"]);
        let stdout = self.ok(token, &with_json);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {stdout}"))
    }
}

fn hits(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["product"].as_str().expect("product").to_string())
        .collect()
}

fn assert_mentions(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected `{needle}` in: {text}");
}

#[test]
fn catalog_verbs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mesh");
    let admin = init(&data);
    let s = Server::start(&data);
    let a = admin.as_str();

    // The mesh: sales (with unit emea) and marketing; alice owns sales.core, bob is in
    // marketing.analytics.
    s.ok(a, &["domain", "create", "sales"]);
    s.ok(a, &["domain", "create", "marketing"]);
    let emea = s.json(a, &["domain", "create", "emea", "--parent", "sales"]);
    assert!(emea["parent_id"].is_string(), "{emea}");
    s.fails(a, &["domain", "set-parent", "sales", "emea"]);
    s.ok(a, &["team", "create", "sales", "core"]);
    s.ok(a, &["team", "create", "marketing", "analytics"]);
    let mut tokens = std::collections::BTreeMap::new();
    for (who, domain, team, role) in [
        ("alice", "sales", "core", "owner"),
        ("bob", "marketing", "analytics", "member"),
    ] {
        s.ok(a, &["principal", "create", who, "--kind", "user"]);
        s.ok(
            a,
            &["team", "add-member", domain, team, who, "--role", role],
        );
        let t = s.json(a, &["token", "create", "--principal", who]);
        tokens.insert(who, t["token"].as_str().unwrap().to_string());
    }
    let (alice, bob) = (tokens["alice"].as_str(), tokens["bob"].as_str());
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "person_id,email,region\n1,ann@example.com,EU\n2,ben@example.com,US\n",
    )
    .unwrap();
    let table = format!("people={}", csv.display());
    let p = s.json(
        alice,
        &[
            "create-data-product",
            "--domain",
            "sales",
            "--team",
            "core",
            "--name",
            "people",
            "--description",
            "everyone we know",
            "--table",
            &table,
        ],
    );
    assert_eq!(p["listing"], "published");

    // Glossary and form types (admin).
    s.ok(
        a,
        &[
            "glossary",
            "create",
            "business",
            "--description",
            "business words",
        ],
    );
    s.ok(
        a,
        &[
            "term",
            "create",
            "business.party",
            "--description",
            "a person or organisation",
        ],
    );
    s.ok(a, &["term", "create", "business.customer"]);
    let dup = s.fails(a, &["term", "create", "business.customer"]);
    assert_mentions(&dup, "already has a term `customer`");
    let t = s.json(
        a,
        &[
            "term",
            "relate",
            "business.customer",
            "is_a",
            "business.party",
        ],
    );
    assert_eq!(t["is_a"], serde_json::json!(["business.party"]));
    let cycle = s.fails(
        a,
        &[
            "term",
            "relate",
            "business.party",
            "is_a",
            "business.customer",
        ],
    );
    assert_mentions(&cycle, "would make a cycle");
    s.ok(
        a,
        &[
            "form-type",
            "create",
            "ownership",
            "--field",
            "owner:principal:required",
            "--field",
            "tier:enum(gold|silver)",
            "--field",
            "rows:number",
        ],
    );
    s.ok(
        a,
        &[
            "form-type",
            "create",
            "purpose",
            "--field",
            "use:enum(analytics|marketing):required",
        ],
    );
    let bad = s.fails(alice, &["form-type", "create", "x", "--field", "a:string"]);
    assert_mentions(&bad, "may not");

    // The owner documents the product.
    let f = s.json(
        alice,
        &[
            "form",
            "set",
            "--product",
            "sales.people",
            "ownership",
            "owner=alice",
            "tier=gold",
            "rows=2",
        ],
    );
    assert_eq!(f["values"]["rows"], 2);
    let typed = s.fails(
        alice,
        &[
            "form",
            "set",
            "--product",
            "sales.people",
            "ownership",
            "owner=alice",
            "rows=many",
        ],
    );
    assert_mentions(&typed, "`rows` is a number");
    let wrong = s.fails(
        alice,
        &[
            "form",
            "set",
            "--product",
            "sales.people",
            "ownership",
            "owner=alice",
            "tier=bronze",
        ],
    );
    assert_mentions(&wrong, "field `tier`");
    s.ok(
        alice,
        &[
            "term",
            "attach",
            "business.customer",
            "--product",
            "sales.people",
        ],
    );
    s.ok(
        alice,
        &[
            "term",
            "attach",
            "business.party",
            "--column",
            "sales.people.people.email",
        ],
    );
    let c = s.json(
        alice,
        &["classify", "sales.people.people.email", "confidential"],
    );
    assert_eq!(c["classification"], "confidential");
    s.ok(alice, &["table-tags", "sales.people.people", "gdpr"]);
    s.ok(
        alice,
        &[
            "update-data-product",
            "sales.people",
            "--description",
            "our customers and prospects",
        ],
    );

    // The consumer finds it.
    let r = s.json(bob, &["search", "customer"]);
    assert_eq!(hits(&r), ["sales.people"]);
    assert_eq!(
        hits(&s.json(bob, &["search", "--term", "business.party"])),
        ["sales.people"]
    );
    assert_eq!(
        hits(&s.json(bob, &["search", "--tag", "gdpr", "--domain", "sales"])),
        ["sales.people"]
    );
    assert!(hits(&s.json(bob, &["search", "--classification", "public"])).is_empty());
    let table_out = s.ok(bob, &["search", "prospects"]);
    assert_mentions(&table_out, "sales.people");
    assert_mentions(&table_out, "(1 of 1 product)");
    let d = s.json(bob, &["describe", "sales.people"]);
    assert_eq!(d["classification"], "confidential");
    assert_eq!(d["forms"][0]["form"], "ownership");
    assert_eq!(d["terms"], serde_json::json!(["business.customer"]));

    // Rules: requests need `purpose`; publishing needs `ownership`.
    s.ok(
        a,
        &[
            "rule",
            "create",
            "sales",
            "--action",
            "request_access",
            "--form",
            "purpose",
        ],
    );
    s.ok(
        a,
        &[
            "rule",
            "create",
            "sales",
            "--action",
            "publish_product",
            "--form",
            "ownership",
            "--include-children",
        ],
    );
    let unknown = s.fails(
        a,
        &[
            "rule",
            "create",
            "sales",
            "--action",
            "publish_product",
            "--form",
            "ghost",
        ],
    );
    assert_mentions(&unknown, "unknown form type(s) `ghost`");
    let rules = s.json(bob, &["rule", "list", "emea"]);
    assert_eq!(rules[0]["inherited"], true);
    let refused = s.fails(
        bob,
        &["request-access", "sales.people", "--reason", "campaigns"],
    );
    assert_mentions(&refused, "`purpose`");
    let share = s.json(
        bob,
        &[
            "request-access",
            "sales.people",
            "--reason",
            "campaigns",
            "--form",
            "purpose.use=analytics",
        ],
    );
    assert_eq!(share["status"], "submitted");
    let id = share["id"].as_str().unwrap();
    let forms = s.json(alice, &["form", "list", "--share", id]);
    assert_eq!(forms[0]["values"]["use"], "analytics");

    // Unpublish hides it; publishing again passes the rule (the form is filled).
    assert_eq!(
        s.json(alice, &["unpublish", "sales.people"])["listing"],
        "unpublished"
    );
    assert!(hits(&s.json(bob, &["search", "customer"])).is_empty());
    assert_eq!(
        hits(&s.json(alice, &["search", "customer"])),
        ["sales.people"]
    );
    s.fails(bob, &["describe", "sales.people"]);
    assert_eq!(
        s.json(alice, &["publish", "sales.people"])["listing"],
        "published"
    );
    let removed = s.fails(
        alice,
        &["form", "remove", "--product", "sales.people", "ownership"],
    );
    assert_mentions(&removed, "unpublish it first");

    // A new revision of a form type leaves the filled form at its revision.
    let ft = s.json(
        a,
        &[
            "form-type",
            "update",
            "ownership",
            "--field",
            "owner:principal:required",
            "--field",
            "steward:principal:required",
        ],
    );
    assert_eq!(ft["revision"], 2);
    let forms = s.json(bob, &["form", "list", "--product", "sales.people"]);
    assert_eq!(
        (
            forms[0]["revision"].as_i64(),
            forms[0]["latest_revision"].as_i64()
        ),
        (Some(1), Some(2))
    );
    let old = s.json(bob, &["form-type", "get", "ownership", "--revision", "1"]);
    assert_eq!(old["fields"].as_array().unwrap().len(), 3);
}
