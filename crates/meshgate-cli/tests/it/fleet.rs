//! What the tests that kill servers share (`crash`: one server on SQLite; `replicas`: three on
//! one PostgreSQL): a `meshgate serve` process that can be SIGKILLed and restarted, the mesh
//! they run on, and the invariants of the share lifecycle checked against the store once the
//! outbox is drained.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{Grantee, ShareDetail};
use meshgate_store::{AuditFilter, ShareFilter, Store};
use serde_json::Value;
use sqlx::{Connection, Executor};
use uuid::Uuid;

use crate::common::{EXE, clean_env, free_port, healthz};

/// The product every share of these tests is for, and the team that asks.
pub const PRODUCT: &str = "sales.multi";
pub const TEAM: &str = "marketing.analytics";
pub const TABLES: [&str; 4] = ["t1", "t2", "t3", "t4"];

/// How to run one `meshgate serve`.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Its own data dir (uploads and spill files; the SQLite store when `store_url` is `None`).
    pub data_dir: PathBuf,
    /// `--store-url` (a PostgreSQL URL shared by replicas); `None`: SQLite in the data dir.
    pub store_url: Option<String>,
    /// `MESHGATE_DATA_ROOT` (a directory or an `s3://` URL shared by replicas); `None`: the
    /// data dir's own.
    pub data_root: Option<String>,
    /// Further settings, as `MESHGATE_*` variables.
    pub env: Vec<(String, String)>,
    /// The log file of the run: `<prefix>-<run>.log`.
    pub log_prefix: PathBuf,
}

impl Launch {
    /// A server on the SQLite store of `data_dir`, logging beside it.
    pub fn sqlite(data_dir: &Path) -> Launch {
        Launch {
            data_dir: data_dir.to_path_buf(),
            store_url: None,
            data_root: None,
            env: Vec::new(),
            log_prefix: data_dir.with_extension("serve"),
        }
    }

    /// Adds (or replaces) a setting.
    pub fn set(&mut self, key: &str, value: impl ToString) -> &mut Launch {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running `meshgate serve`, killed when dropped (also when the test fails).
pub struct Server {
    child: Child,
    pub url: String,
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
    /// Starts `serve` as `launch` says, on a free port, and waits until `/healthz` answers.
    /// Each run logs to its own file.
    pub fn start(launch: &Launch, run: usize) -> Server {
        Server::spawn(launch, run).ready()
    }

    /// Starts `serve` without waiting for it ([`Server::ready`] does), so that several start
    /// at once.
    pub fn spawn(launch: &Launch, run: usize) -> Server {
        let port = free_port();
        let log = PathBuf::from(format!("{}-{run}.log", launch.log_prefix.display()));
        let mut command = Command::new(EXE);
        clean_env(&mut command)
            .args(["serve", "--data-dir"])
            .arg(&launch.data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")]);
        if let Some(url) = &launch.store_url {
            command.args(["--store-url", url]);
        }
        if let Some(root) = &launch.data_root {
            command.env("MESHGATE_DATA_ROOT", root);
        }
        // Plain log lines, for failure messages.
        command.env("NO_COLOR", "1");
        for (key, value) in &launch.env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start meshgate serve");
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/healthz` answers (at most a minute).
    pub fn ready(mut self) -> Server {
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the url");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !healthz(addr) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("serve exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "serve not ready: {}", self.log());
            // Poll interval while waiting for readiness.
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (`Child::kill` on Unix), then reaps the process; returns its log.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("kill -9 meshgate");
        self.child.wait().expect("reap meshgate");
        self.log()
    }

    /// Runs a CLI verb against this server, whatever its outcome.
    pub fn cli(&self, token: &str, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(EXE);
        clean_env(&mut command)
            .args(args)
            .env("MESHGATE_URL", &self.url)
            .env("MESHGATE_TOKEN", token)
            .stdin(Stdio::null())
            .output()
            .expect("run the meshgate cli")
    }

    /// Runs a CLI verb that must succeed and returns its stdout.
    pub fn ok(&self, token: &str, args: &[&str]) -> String {
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
}

/// The end of a log for a failure message: its last `lines` warnings and errors, then its last
/// few lines, without terminal colours.
pub fn tail(log: &str, lines: usize) -> String {
    let plain: Vec<String> = log.lines().map(strip_ansi).collect();
    let notable: Vec<&String> = plain
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
        .collect();
    let last = &plain[plain.len().saturating_sub(5)..];
    format!(
        "{} warnings and errors{}\n{}\n... last lines:\n{}",
        notable.len(),
        if notable.len() > lines {
            format!(", the last {lines}:")
        } else {
            ":".into()
        },
        notable[notable.len().saturating_sub(lines)..]
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        last.join("\n")
    )
}

/// `line` without ANSI escape sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The mesh: sales (alice owns `sales.core` and its product `sales.multi` of four tables) and
/// marketing (bob is in `marketing.analytics`). Returns (alice's token, bob's token).
pub fn set_up(server: &Server, admin: &str, dir: &Path) -> (String, String) {
    server.ok(admin, &["domain", "create", "sales"]);
    server.ok(admin, &["domain", "create", "marketing"]);
    server.ok(admin, &["team", "create", "sales", "core"]);
    server.ok(admin, &["team", "create", "marketing", "analytics"]);
    let mut tokens = BTreeMap::new();
    for (who, domain, team, role) in [
        ("alice", "sales", "core", "owner"),
        ("bob", "marketing", "analytics", "member"),
    ] {
        server.ok(admin, &["principal", "create", who, "--kind", "user"]);
        server.ok(
            admin,
            &["team", "add-member", domain, team, who, "--role", role],
        );
        let t: Value = serde_json::from_str(&server.ok(
            admin,
            &["token", "create", "--principal", who, "-o", "json"],
        ))
        .expect("token json");
        tokens.insert(who, t["token"].as_str().expect("a token").to_string());
    }
    create_product(server, &tokens["alice"], dir, "multi", &TABLES);
    (tokens["alice"].clone(), tokens["bob"].clone())
}

/// Creates `sales.<name>` (team `sales.core`) with a table of three rows (`id`, `<t>_value`)
/// for each of `tables`, through the CLI as `token`.
pub fn create_product(server: &Server, token: &str, dir: &Path, name: &str, tables: &[&str]) {
    let mut args = [
        "create-data-product",
        "--domain",
        "sales",
        "--team",
        "core",
        "--name",
        name,
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for t in tables {
        let csv = dir.join(format!("{name}-{t}.csv"));
        std::fs::write(&csv, table_csv(t)).expect("write csv");
        args.push("--table".into());
        args.push(format!("{t}={}", csv.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    server.ok(token, &args);
}

/// The rows of table `t`: three.
pub fn table_csv(t: &str) -> String {
    format!("id,{t}_value\n1,a\n2,b\n3,c\n")
}

/// What the servers acknowledged (2xx); a crash must not undo any of it.
#[derive(Debug, Default)]
pub struct Acked {
    pub requests: BTreeSet<Uuid>,
    pub approvals: BTreeSet<Uuid>,
    pub rejections: BTreeSet<Uuid>,
    /// Shares revoked, and the items a revocation moved to `revoke_approved` (or further).
    pub revocations: BTreeSet<Uuid>,
    pub revoked_items: BTreeSet<Uuid>,
    /// Revocations racing the processing of their approval: (done, refused with 409).
    pub races: (usize, usize),
    /// Answers a correct server never gives here: 5xx, or 4xx where the state allowed the
    /// action.
    pub unexpected: Vec<String>,
}

pub fn id_of(body: &Value) -> Uuid {
    Uuid::parse_str(body["id"].as_str().expect("an id")).expect("a uuid")
}

/// Waits until every job is done; fails with what is left after `within`, naming `after`
/// (what the wait follows) and showing `logs()`.
pub async fn drain(
    store: &dyn Store,
    within: Duration,
    after: &str,
    logs: &(dyn Fn() -> String + Sync),
) {
    let deadline = Instant::now() + within;
    loop {
        let left = store.pending_jobs().await.expect("count jobs");
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} jobs still pending {within:?} after {after}; server log:\n{}",
            logs()
        );
        // Poll interval while the worker drains the outbox.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether some share is `share_in_progress` or `revoke_in_progress`.
pub async fn any_in_progress(store: &dyn Store) -> bool {
    for status in [ShareStatus::ShareInProgress, ShareStatus::RevokeInProgress] {
        let filter = ShareFilter {
            status: Some(status),
            limit: Some(1),
            ..Default::default()
        };
        if !store
            .list_shares(&filter)
            .await
            .expect("list shares")
            .is_empty()
        {
            return true;
        }
    }
    false
}

/// Whether an item's grant must be in force, once nothing is in progress.
pub fn grant_expected(status: ItemStatus) -> bool {
    matches!(
        status,
        ItemStatus::ShareSucceeded | ItemStatus::RevokeFailed | ItemStatus::PendingExtension
    )
}

/// With the outbox drained, checks against the store (`at` names the moment in messages):
///
/// - no share is `approved`, `share_in_progress`, `revoked` or `revoke_in_progress`, and no
///   item is approved or in progress (nothing stuck, no work left behind);
/// - every item whose grant should be in force has exactly one grant, for its table and
///   `team`, and no other item has any; the team has no other grant (none duplicated, none
///   lost, none orphaned);
/// - every request, approval, rejection and revocation in `acked` survived;
/// - each share's audit events form an unbroken chain of transitions ([`audit_chain`]).
///
/// Returns the shares (archived ones too).
pub async fn check(store: &dyn Store, team: Uuid, acked: &Acked, at: &str) -> Vec<ShareDetail> {
    let shares = store
        .list_shares(&ShareFilter {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list shares");
    let by_id: BTreeMap<Uuid, &ShareDetail> = shares.iter().map(|d| (d.share.id, d)).collect();
    let mut expected_grants = 0;
    for detail in &shares {
        let share = &detail.share;
        let ctx = format!("{at}, share {} ({})", share.id, share.status);
        assert!(
            !matches!(
                share.status,
                ShareStatus::Approved
                    | ShareStatus::ShareInProgress
                    | ShareStatus::Revoked
                    | ShareStatus::RevokeInProgress
            ),
            "{ctx}: stuck once the outbox should be drained: {detail:#?}"
        );
        let grants = store.grants_of_share(share.id).await.expect("grants");
        for item in &detail.items {
            assert!(
                !matches!(
                    item.status,
                    ItemStatus::ShareApproved
                        | ItemStatus::ShareInProgress
                        | ItemStatus::RevokeApproved
                        | ItemStatus::RevokeInProgress
                ),
                "{ctx}: item {} stuck in `{}`",
                item.id,
                item.status
            );
            let of_item: Vec<_> = grants
                .iter()
                .filter(|g| g.share_item_id == item.id)
                .collect();
            let want = usize::from(grant_expected(item.status));
            expected_grants += want;
            assert_eq!(
                of_item.len(),
                want,
                "{ctx}: item {} is `{}` and has {} grants: {of_item:#?}",
                item.id,
                item.status,
                of_item.len()
            );
            for g in of_item {
                assert_eq!(Some(g.table_id), item.table_id, "{ctx}: grant {g:?}");
                assert_eq!(g.grantee, Grantee::Team(team), "{ctx}: grant {g:?}");
            }
        }
        assert_eq!(
            grants.len(),
            grants
                .iter()
                .filter(|g| detail.items.iter().any(|i| i.id == g.share_item_id))
                .count(),
            "{ctx}: grants of items not in the share"
        );
        audit_chain(store, detail, &ctx).await;
    }
    let all = store
        .grants_for(Uuid::nil(), &[team])
        .await
        .expect("grants");
    assert_eq!(all.len(), expected_grants, "{at}: the team's grants");

    // Acknowledged writes survived.
    for id in &acked.requests {
        assert!(
            by_id.contains_key(id),
            "{at}: acknowledged request {id} lost"
        );
    }
    for id in &acked.approvals {
        let status = by_id[id].share.status;
        assert!(
            status != ShareStatus::Submitted,
            "{at}: acknowledged approval of {id} lost"
        );
    }
    for id in &acked.rejections {
        assert_eq!(by_id[id].share.status, ShareStatus::Rejected, "{at}: {id}");
    }
    for detail in &shares {
        for item in &detail.items {
            if acked.revoked_items.contains(&item.id) {
                assert!(
                    matches!(
                        item.status,
                        ItemStatus::RevokeSucceeded | ItemStatus::RevokeFailed
                    ),
                    "{at}: acknowledged revocation of item {} lost: `{}`",
                    item.id,
                    item.status
                );
            }
        }
    }
    shares
}

/// A share's audit events chain from its request to its current status: each transition
/// starts where the one before it ended. A processed share shows the worker's start and
/// finish.
pub async fn audit_chain(store: &dyn Store, detail: &ShareDetail, ctx: &str) {
    let events = store
        .list_audit(&AuditFilter {
            object_id: Some(detail.share.id.to_string()),
            action_prefix: Some("share.".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.first(),
        Some(&"share.request"),
        "{ctx}: {actions:?}"
    );
    let mut at: Option<ShareStatus> = None;
    for e in &events {
        let to: ShareStatus = serde_json::from_value(e.detail["to"].clone())
            .unwrap_or_else(|err| panic!("{ctx}: event without `to` ({err}): {e:?}"));
        if let Some(at) = at {
            let from: ShareStatus = serde_json::from_value(e.detail["from"].clone())
                .unwrap_or_else(|err| panic!("{ctx}: event without `from` ({err}): {e:?}"));
            assert_eq!(
                from, at,
                "{ctx}: the chain breaks at {}: {actions:?}",
                e.action
            );
        }
        at = Some(to);
    }
    assert_eq!(at, Some(detail.share.status), "{ctx}: {actions:?}");
    if detail.share.status == ShareStatus::Processed {
        for needed in ["share.approve", "share.start", "share.finish"] {
            assert!(actions.contains(&needed), "{ctx}: no {needed}: {actions:?}");
        }
    }
}

// ----- PostgreSQL -----

/// The variable naming the PostgreSQL server the suites test on.
pub const PG_VAR: &str = "MESHGATE_TEST_POSTGRES_URL";

/// The PostgreSQL server to test on; `None` (with a note) when it is not set outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var(PG_VAR) {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("{PG_VAR} is not set but CI is: this test needs PostgreSQL")
        }
        Err(_) => {
            eprintln!("note: {PG_VAR} is not set; skipping this test");
            None
        }
    }
}

/// A fresh schema on the test server, and the store URL that uses it.
pub struct Schema {
    base: String,
    pub name: String,
    pub url: String,
}

impl Schema {
    pub async fn create(base: &str) -> Schema {
        let mut admin = sqlx::PgConnection::connect(base)
            .await
            .unwrap_or_else(|e| panic!("{PG_VAR} is set but PostgreSQL is unreachable: {e}"));
        let name = format!("meshgate_test_{}", Uuid::now_v7().simple());
        admin
            .execute(format!("CREATE SCHEMA {name}").as_str())
            .await
            .expect("create a schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        Schema {
            base: base.to_string(),
            url: format!("{base}{sep}options[search_path]={name}"),
            name,
        }
    }

    pub async fn drop_it(self) {
        match sqlx::PgConnection::connect(&self.base).await {
            Ok(mut admin) => {
                if let Err(e) = admin
                    .execute(format!("DROP SCHEMA {} CASCADE", self.name).as_str())
                    .await
                {
                    eprintln!("note: could not drop schema {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("note: could not drop schema {}: {e}", self.name),
        }
    }
}
