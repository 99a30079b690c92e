//! Several replicas on one PostgreSQL (issue 20): three real `meshgate serve` processes (A, B,
//! C) on ONE PostgreSQL store and ONE data root, each with its own data dir, driven through
//! random replicas, one of them SIGKILLed mid-run and restarted on its data dir.
//!
//! For a bounded time the test runs share lifecycles, each step on a replica of its own: bob
//! requests on one, alice approves (`wait: true`) on another, and bob queries the granted
//! table on a third at once; some requests are rejected or left pending, some shares are
//! revoked (whole or in part), some carry an expiry within the expiry-reminder window, and now
//! and then alice creates a data product. At a random moment one replica, caught while it
//! serves an approval or a revocation and a share is being processed (most likely by its own
//! worker, which the call woke), is killed with SIGKILL; the others carry on, and it is
//! restarted on the same data dir a few seconds later. Then it checks:
//!
//! - **waits**: an approval or revocation with `wait: true` answers once its job is done,
//!   whichever replica ran it (within [`WAIT_BOUND`], with the share processed);
//! - **grant visibility**: the granted rows are readable on another replica right after the
//!   approval answers. For each approval, from its answer on replica X to the first query on
//!   replica Y ≠ X that reads the rows (queries sent back to back from the answer on): the p95
//!   of the time until that query was sent is at most [`LATENCY_P95`] (zero when the first
//!   query already reads them; the query's own time, which in a debug build against an object
//!   store is itself over 100 ms, is printed beside it, p50/p95/max of both). Revoked access is
//!   gone on another replica within [`VISIBLE_WITHIN`];
//! - **outbox**: drained within [`DRAIN_WITHIN`] of the end: the jobs the killed replica held
//!   are taken over once their lease ([`LEASE_SECS`], short because a live worker renews the
//!   leases of the jobs it holds) runs out;
//! - **lifecycle invariants** (`fleet::check`): nothing stuck, exactly one grant per shared item
//!   and none for the others, every acknowledged write kept, unbroken audit chains;
//! - **reminders and notifications**: every replica runs the scheduler and the dispatcher, yet
//!   each share that expires within the reminder window and still gives access got exactly
//!   one expiry reminder (`share.expiring`), and each inbox holds at most one entry per audit
//!   event: exactly one `expiring` per reminded share for alice and for bob, one `approved`
//!   per approval for bob, one `submitted` per request for alice;
//! - **catalog convergence**: within [`CONVERGE_WITHIN`] the same searches on all three
//!   replicas answer the same products in the same order, including every product created
//!   during the run on any replica.
//!
//! Every check runs, and the failures are reported together, with the tails of the replicas'
//! logs.
//!
//! Two variants: the data root a directory the three share, and an object store
//! (`MESHGATE_TEST_S3_ROOT`, e.g. `s3://bucket/prefix`, with the `AWS_*` variables that reach
//! it, which the replicas inherit; a unique prefix per run). Both need
//! `MESHGATE_TEST_POSTGRES_URL` (a fresh schema each, dropped afterwards); unset, a variant is
//! skipped with a note, except under `CI`, where it fails. The variants run one after the
//! other. The RNG seed is printed; `MESHGATE_REPLICAS_SEED` replays a run's choices (the
//! timing is real time, so a replay is close, not exact); `MESHGATE_REPLICAS_SECS` sets how
//! long the lifecycles are driven.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use meshgate_core::lifecycle::ShareStatus;
use meshgate_core::model::ShareDetail;
use meshgate_core::notify::NotifyEvent;
use meshgate_store::{AuditFilter, ShareFilter, Store};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::init_store;
use crate::fleet::{
    Acked, Launch, PRODUCT, Schema, Server, TABLES, TEAM, any_in_progress, check, create_product,
    drain, grant_expected, id_of, postgres_url, set_up, table_csv, tail,
};

const S3_VAR: &str = "MESHGATE_TEST_S3_ROOT";
const SEED_VAR: &str = "MESHGATE_REPLICAS_SEED";
const SECS_VAR: &str = "MESHGATE_REPLICAS_SECS";

const REPLICAS: [&str; 3] = ["A", "B", "C"];
/// The second product alice owns, for more tables to grant: `sales.wide`.
const WIDE: &str = "wide";
const WIDE_TABLES: [&str; 8] = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"];
/// Products alice creates during the run, and the words their descriptions draw from (the
/// searches of the convergence check).
const NEW_PRODUCTS: usize = 3;
const WORDS: [&str; 4] = ["revenue", "churn", "inventory", "campaign"];

/// The replicas' settings: a fast worker (woken at once on its own replica, polling for the
/// rest), a worker pause between steps (the kill's window), a scheduler every second, a quick
/// notification dispatcher, a short job lease (a live worker renews it every third of it, so
/// only a dead replica's jobs wait it out) and the default reminder window made explicit.
const WORKER_POLL_MS: u64 = 50;
const STEP_DELAY_MS: u64 = 20;
const SCHEDULE_SECS: u64 = 1;
const DISPATCH_POLL_MS: u64 = 200;
const LEASE_SECS: u64 = 3;
const REMINDER_DAYS: i64 = 7;

/// An expiry inside the reminder window, and one outside it.
const NEAR_EXPIRY_DAYS: i64 = 2;
const FAR_EXPIRY_DAYS: i64 = 30;

/// The longest an approval or revocation with `wait: true` may take: its job, queued behind at
/// most a few others of the same grantee, with the worker's pauses.
const WAIT_BOUND: Duration = Duration::from_secs(5);
/// The longest the driver waits for an answer: twice [`WAIT_BOUND`], so that a waiting call
/// that misses its job's end (and waits out the server's own 30 s) costs the run less.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// p95 of the time from an approval's answer on one replica to the first query on another
/// that reads the granted rows.
const LATENCY_P95: Duration = Duration::from_millis(100);
/// The fewest approvals measured for the p95 to mean something.
const MIN_SAMPLES: usize = 10;
/// The longest a query on another replica is retried for granted rows (or for a revoked
/// table to be gone) before that counts as never.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);
/// The outbox must be empty this long after the run.
const DRAIN_WITHIN: Duration = Duration::from_secs(20);
/// Scheduled reminders go out within this after the run: a few scheduler intervals, after the
/// scheduler's singleton lease (`replicas.lease_secs`, 10 s, renewed every 2 s) moved off the
/// killed replica if it held it.
const REMIND_WITHIN: Duration = Duration::from_secs(15);
/// The dispatcher reaches the end of the audit log within this: its singleton lease may have
/// to move off the killed replica too, and it waits up to 10 s past a gap that a killed
/// transaction left in the sequence.
const DISPATCH_WITHIN: Duration = Duration::from_secs(25);
/// Searches on all replicas agree within this after the run.
const CONVERGE_WITHIN: Duration = Duration::from_secs(5);

/// The variants share one machine: one fleet at a time.
static ONE_FLEET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_a_shared_directory() -> Result<(), Failed> {
    let Some(base) = postgres_url() else {
        return Ok(());
    };
    run(&base, None, Duration::from_secs(45)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_object_storage() -> Result<(), Failed> {
    let Some(base) = postgres_url() else {
        return Ok(());
    };
    let root = match std::env::var(S3_VAR) {
        Ok(root) => root,
        Err(_) if std::env::var_os("CI").is_some() => panic!(
            "{S3_VAR} is not set but CI is: the object-storage variant needs an S3 data root (.ci/run starts one)"
        ),
        Err(_) => {
            eprintln!("note: {S3_VAR} is not set; skipping the object-storage variant");
            return Ok(());
        }
    };
    let root = format!(
        "{}/replicas-{}",
        root.trim_end_matches('/'),
        Uuid::now_v7().simple()
    );
    run(&base, Some(root), Duration::from_secs(25)).await
}

/// A run whose checks failed: the test's error, printed verbatim as the last lines of its
/// output (the replicas' logs, then the failed checks), where a truncated CI log still shows
/// them, rather than in a panic message followed by a backtrace.
struct Failed(String);

impl std::fmt::Debug for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// ----- the fleet -----

/// One replica: how it is launched, its current process (`None` while it is down), and how
/// many calls that make jobs are in flight on it (the killer waits for one).
struct Replica {
    name: &'static str,
    launch: Launch,
    server: Mutex<Option<Server>>,
    /// Runs started so far (a call that spans a restart was cut by the kill).
    runs: AtomicUsize,
    busy: AtomicUsize,
}

impl Replica {
    /// Its URL and run while it is up.
    fn up(&self) -> Option<(String, usize)> {
        let server = self.server.lock().expect("replica lock");
        server
            .as_ref()
            .map(|s| (s.url.clone(), self.runs.load(Ordering::SeqCst)))
    }

    /// The tail of each of its runs' logs.
    fn logs(&self, lines: usize) -> String {
        (0..self.runs.load(Ordering::SeqCst))
            .map(|run| {
                let path = format!("{}-{run}.log", self.launch.log_prefix.display());
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                format!(
                    "--- replica {} run {run} ---\n{}",
                    self.name,
                    tail(&log, lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct Fleet {
    replicas: Vec<Replica>,
}

impl Fleet {
    fn live(&self) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&r| self.replicas[r].up().is_some())
            .collect()
    }

    fn logs(&self, lines: usize) -> String {
        self.replicas
            .iter()
            .map(|r| r.logs(lines))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether any run of any replica logged a panic.
    fn panicked(&self) -> Vec<String> {
        let mut found = Vec::new();
        for r in &self.replicas {
            for run in 0..r.runs.load(Ordering::SeqCst) {
                let path = format!("{}-{run}.log", r.launch.log_prefix.display());
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                if log.contains("panicked") {
                    found.push(format!("replica {} run {run}", r.name));
                }
            }
        }
        found
    }
}

/// When and whom to kill: replica `replica`, `at` into the run, as soon as it serves a call
/// that makes a job while a share is being processed (or [`BUSY_WAIT`] later), plus `jitter`;
/// restarted after `down`.
#[derive(Debug, Clone, Copy)]
struct KillPlan {
    replica: usize,
    at: Duration,
    jitter: Duration,
    down: Duration,
}

const BUSY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct KillReport {
    replica: &'static str,
    killed_at: Duration,
    /// Whether a call that makes a job was in flight on it, and whether a share was being
    /// processed then (most likely by its own worker, which its call woke first).
    busy: bool,
    processing: bool,
    restarted_at: Duration,
}

impl KillReport {
    fn describe(&self) -> String {
        let what = match (self.busy, self.processing) {
            (true, true) => "serving an approval or revocation while a share was processed",
            (true, false) => "serving an approval or revocation",
            (false, true) => "while a share was processed",
            (false, false) => "idle",
        };
        let mut text = format!(
            "replica {} at {:.1?} ({what})",
            self.replica, self.killed_at
        );
        if !self.restarted_at.is_zero() {
            text += &format!(", restarted at {:.1?}", self.restarted_at);
        }
        text
    }
}

/// The killer: SIGKILLs the planned replica, waits, restarts it on its data dir.
async fn kill_and_restart(
    fleet: Arc<Fleet>,
    store: Arc<dyn Store>,
    plan: KillPlan,
    start: Instant,
) -> KillReport {
    tokio::time::sleep_until((start + plan.at).into()).await;
    let replica = &fleet.replicas[plan.replica];
    let deadline = Instant::now() + BUSY_WAIT;
    let (mut busy, mut processing) = (false, false);
    while Instant::now() < deadline {
        busy = replica.busy.load(Ordering::SeqCst) > 0;
        processing = busy && any_in_progress(store.as_ref()).await;
        if processing {
            break;
        }
        // Poll interval while waiting for the victim to serve an approval or revocation.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(plan.jitter).await;
    let server = replica
        .server
        .lock()
        .expect("replica lock")
        .take()
        .expect("the victim is up");
    let killed_at = start.elapsed();
    server.kill();
    let mut report = KillReport {
        replica: replica.name,
        killed_at,
        busy,
        processing,
        restarted_at: Duration::ZERO,
    };
    eprintln!(
        "replicas [{:>7}] SIGKILLed {}",
        format!("{killed_at:.1?}"),
        report.describe()
    );
    tokio::time::sleep(plan.down).await;
    let run = replica.runs.load(Ordering::SeqCst);
    let launch = replica.launch.clone();
    let server = tokio::task::spawn_blocking(move || Server::start(&launch, run))
        .await
        .expect("restart the killed replica");
    replica.runs.fetch_add(1, Ordering::SeqCst);
    *replica.server.lock().expect("replica lock") = Some(server);
    report.restarted_at = start.elapsed();
    eprintln!(
        "replicas [{:>7}] restarted replica {}",
        format!("{:.1?}", report.restarted_at),
        replica.name
    );
    report
}

// ----- the driver -----

/// A call's outcome: the server's answer, or none (the replica went away, or the connection
/// failed).
enum Reply {
    Answer(u16, Value),
    Gone(String),
}

/// One measurement: from an approval's (or revocation's) answer on `from` to the first query
/// on `on` that reads the rows (or no longer does).
#[derive(Debug, Clone)]
struct Sample {
    /// Until that query was sent: how long the other replica lagged (zero when the first
    /// query, sent at once, already read them).
    lag: Duration,
    /// Until that query answered: what a caller waits, the query's own time included.
    took: Duration,
    /// Queries it took (1: the first one already read the rows).
    queries: usize,
    from: &'static str,
    on: &'static str,
    share: Uuid,
}

/// What the test knows of a share from the answers it got.
#[derive(Debug, Clone)]
struct Tracked {
    product: &'static str,
    /// item id → (table, status as last answered).
    items: BTreeMap<Uuid, (String, String)>,
}

#[derive(Debug, Default)]
struct Counts {
    requests: usize,
    approvals: usize,
    rejections: usize,
    left_pending: usize,
    revocations: usize,
    products: usize,
    queries: usize,
    /// Calls cut by the kill (their outcome is unknown).
    cut: usize,
    /// Revocations retried after a 409 for a concurrent change (a scheduler's reminder).
    retried: usize,
}

struct Driver {
    fleet: Arc<Fleet>,
    http: reqwest::Client,
    alice: String,
    bob: String,
    rng: ChaCha8Rng,
    started: Instant,
    acked: Acked,
    shares: BTreeMap<Uuid, Tracked>,
    /// (product, table) → the shares that may grant it (approved, not known revoked).
    holders: BTreeMap<(&'static str, String), BTreeSet<Uuid>>,
    /// Products created during the run (`sales.<name>`), and the next one's number.
    created: Vec<String>,
    problems: Vec<String>,
    granted: Vec<Sample>,
    revoked: Vec<Sample>,
    counts: Counts,
}

/// The products whose tables are shared, with their tables.
fn pool() -> [(&'static str, Vec<String>); 2] {
    [
        (
            PRODUCT.trim_start_matches("sales."),
            TABLES.iter().map(|t| (*t).to_string()).collect(),
        ),
        (WIDE, WIDE_TABLES.iter().map(|t| (*t).to_string()).collect()),
    ]
}

impl Driver {
    /// Sends a call to replica `r` as `token`.
    async fn call(
        &self,
        r: usize,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let Some((url, run)) = self.fleet.replicas[r].up() else {
            return Reply::Gone("down".into());
        };
        let mut request = self
            .http
            .request(method, format!("{url}/api/v1{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let t = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            Ok::<_, reqwest::Error>((status, body))
        }
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {CALL_TIMEOUT:?}")
            } else {
                e.to_string()
            }
        });
        if path != "/query" {
            let outcome = match &answer {
                Ok((status, body)) => match body["status"].as_str() {
                    Some(s) => format!("{status} `{s}`"),
                    None => status.to_string(),
                },
                Err(e) => format!("no answer ({e})"),
            };
            self.note(&format!(
                "{path} on {}: {outcome} in {:.1?}",
                self.name(r),
                t.elapsed()
            ));
        }
        match answer {
            Ok((status, body)) => Reply::Answer(status, body),
            Err(e) => {
                let replica = &self.fleet.replicas[r];
                if replica.up().map(|(_, now)| now) != Some(run) {
                    Reply::Gone(format!("replica {} was killed: {e}", replica.name))
                } else if e.starts_with("no answer within") {
                    Reply::Gone(e)
                } else {
                    Reply::Gone(format!(
                        "replica {} is up but the call failed: {e}",
                        replica.name
                    ))
                }
            }
        }
    }

    /// A call that makes a job: counted busy on its replica while in flight.
    async fn busy_call(&self, r: usize, path: &str, body: Value) -> (Reply, Duration) {
        let busy = &self.fleet.replicas[r].busy;
        busy.fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        let reply = self
            .call(r, &self.alice, Method::POST, path, Some(body))
            .await;
        busy.fetch_sub(1, Ordering::SeqCst);
        (reply, t.elapsed())
    }

    fn name(&self, r: usize) -> &'static str {
        self.fleet.replicas[r].name
    }

    fn at(&self) -> String {
        format!("{:.1?}", self.started.elapsed())
    }

    /// The run's journal (shown when the test fails, or with `--nocapture`).
    fn note(&self, line: &str) {
        eprintln!("replicas [{:>7}] {line}", self.at());
    }

    /// Notes an answer a correct fleet never gives, or a call lost to something else than the
    /// kill.
    fn unexpected(&mut self, what: &str, reply: &Reply) {
        match reply {
            Reply::Gone(e) if e.contains("was killed") || e == "down" => self.counts.cut += 1,
            Reply::Gone(e) if e.starts_with("no answer within") && what.contains("wait: true") => {
                self.problems.push(format!(
                    "[{}] {what}: {e} (a waiting call answers once its job is done, whichever replica runs it: \
                     the job was not done in time, or the call missed its end)",
                    self.at()
                ));
            }
            Reply::Gone(e) => self.problems.push(format!("[{}] {what}: {e}", self.at())),
            Reply::Answer(status, body) => self
                .problems
                .push(format!("[{}] {what}: answered {status} {body}", self.at())),
        }
    }

    /// A random live replica, preferably none of `avoid`.
    fn pick(&mut self, avoid: &[usize]) -> usize {
        let live = self.fleet.live();
        let fresh: Vec<usize> = live
            .iter()
            .copied()
            .filter(|r| !avoid.contains(r))
            .collect();
        *fresh
            .choose(&mut self.rng)
            .or_else(|| live.choose(&mut self.rng))
            .expect("a live replica (only one is ever down)")
    }

    /// Whether bob reads table `t` of `sales.<product>` on replica `r`: `Some(true)` for its
    /// three rows, `Some(false)` for a refusal, `None` when the replica went away.
    async fn readable(&mut self, r: usize, product: &str, t: &str) -> Option<bool> {
        self.counts.queries += 1;
        let sql = format!("SELECT * FROM sales.{product}.{t}");
        let bob = self.bob.clone();
        let reply = self
            .call(r, &bob, Method::POST, "/query", Some(json!({"sql": sql})))
            .await;
        match &reply {
            Reply::Answer(200, rows) if rows.as_array().is_some_and(|a| a.len() == 3) => Some(true),
            Reply::Answer(400..=404, _) => Some(false),
            _ => {
                self.unexpected(&format!("bob's `{sql}` on {}", self.name(r)), &reply);
                None
            }
        }
    }

    /// Retries a query on `on` until bob reads (`want` true) or no longer reads the table;
    /// the time from `since` when it does, `None` if the replica went away. Notes a problem
    /// when it takes longer than [`VISIBLE_WITHIN`].
    async fn until_readable(
        &mut self,
        on: usize,
        product: &str,
        t: &str,
        want: bool,
        since: Instant,
        share: Uuid,
    ) -> Option<(Duration, Duration, usize)> {
        let mut queries = 0;
        loop {
            let sent = since.elapsed();
            let now = self.readable(on, product, t).await?;
            queries += 1;
            if now == want {
                return Some((sent, since.elapsed(), queries));
            }
            if since.elapsed() > VISIBLE_WITHIN {
                let what = if want {
                    "granted rows are not readable"
                } else {
                    "revoked table is still readable"
                };
                self.problems.push(format!(
                    "[{}] share {share}: {what} on replica {} {VISIBLE_WITHIN:?} after the call answered (sales.{product}.{t})",
                    self.at(),
                    self.name(on)
                ));
                return None;
            }
            // Poll interval while waiting for the other replica to follow.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Records what an answer says of a share's items, and frees the tables whose items it
    /// shows given nothing.
    fn track(&mut self, share: Uuid, body: &Value) {
        let Some(tracked) = self.shares.get_mut(&share) else {
            return;
        };
        let product = tracked.product;
        for item in body["items"].as_array().into_iter().flatten() {
            let table = item["table"].as_str().unwrap_or_default().to_string();
            let status = item["status"].as_str().unwrap_or_default().to_string();
            if matches!(
                status.as_str(),
                "share_failed" | "share_rejected" | "revoke_succeeded"
            ) && let Some(holders) = self.holders.get_mut(&(product, table.clone()))
            {
                holders.remove(&share);
            }
            tracked.items.insert(id_of(item), (table, status));
        }
    }

    /// A share's lifecycle: request on one replica, then approve (or reject, or leave it) on
    /// another, and read the granted table on a third.
    async fn lifecycle(&mut self) {
        let (product, tables) = pool().choose(&mut self.rng).cloned().expect("a product");
        let free: Vec<String> = tables
            .iter()
            .filter(|t| {
                self.holders
                    .get(&(product, (*t).clone()))
                    .is_none_or(BTreeSet::is_empty)
            })
            .cloned()
            .collect();
        let mut wanted: Vec<String> = Vec::new();
        if let Some(t) = free.choose(&mut self.rng) {
            wanted.push(t.clone());
        }
        if wanted.is_empty() || self.rng.gen_bool(0.3) {
            let t = tables.choose(&mut self.rng).expect("a table").clone();
            if !wanted.contains(&t) {
                wanted.push(t);
            }
        }
        let measured = wanted.iter().find(|t| free.contains(t)).cloned();
        let expiry = match self.rng.gen_range(0..20) {
            0..=8 => Some(NEAR_EXPIRY_DAYS),
            9..=11 => Some(FAR_EXPIRY_DAYS),
            _ => None,
        };
        let then = match self.rng.gen_range(0..20) {
            0..=1 => "reject",
            2 => "leave",
            _ => "approve",
        };

        let r1 = self.pick(&[]);
        let mut body = json!({
            "product": format!("sales.{product}"), "team": TEAM, "tables": wanted,
            "reason": "replica test",
        });
        if let Some(days) = expiry {
            body["expires_at"] = json!(
                (Utc::now() + chrono::Duration::days(days))
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }
        let bob = self.bob.clone();
        let reply = self
            .call(r1, &bob, Method::POST, "/shares", Some(body))
            .await;
        let Reply::Answer(201, body) = &reply else {
            self.unexpected(&format!("bob's request on {}", self.name(r1)), &reply);
            return;
        };
        let id = id_of(body);
        self.counts.requests += 1;
        self.acked.requests.insert(id);
        self.shares.insert(
            id,
            Tracked {
                product,
                items: BTreeMap::new(),
            },
        );
        self.track(id, body);

        match then {
            "leave" => self.counts.left_pending += 1,
            "reject" => {
                let r2 = self.pick(&[r1]);
                let alice = self.alice.clone();
                let reply = self
                    .call(
                        r2,
                        &alice,
                        Method::POST,
                        &format!("/shares/{id}/reject"),
                        Some(json!({"notes": "replica test: no"})),
                    )
                    .await;
                match &reply {
                    Reply::Answer(200, _) => {
                        self.counts.rejections += 1;
                        self.acked.rejections.insert(id);
                    }
                    _ => self.unexpected(&format!("reject {id} on {}", self.name(r2)), &reply),
                }
            }
            _ => self.approve(id, product, &wanted, measured, r1).await,
        }
    }

    async fn approve(
        &mut self,
        id: Uuid,
        product: &'static str,
        wanted: &[String],
        measured: Option<String>,
        r1: usize,
    ) {
        let r2 = self.pick(&[r1]);
        let on = self.pick(&[r1, r2]);
        let on = if on == r2 { self.pick(&[r2]) } else { on };
        // Before the approval the table is not readable there (another share may still grant
        // it when a revocation's outcome was lost to the kill: then it is not measured).
        let mut measured = measured;
        if let Some(t) = &measured
            && self.readable(on, product, t).await != Some(false)
        {
            measured = None;
        }
        for t in wanted {
            self.holders
                .entry((product, t.clone()))
                .or_default()
                .insert(id);
        }
        let (reply, took) = self
            .busy_call(
                r2,
                &format!("/shares/{id}/approve"),
                json!({"wait": true, "notes": "replica test"}),
            )
            .await;
        let Reply::Answer(200, body) = &reply else {
            let what = format!("approve {id} (wait: true) on {}", self.name(r2));
            self.unexpected(&what, &reply);
            return;
        };
        let answered = Instant::now();
        self.counts.approvals += 1;
        self.acked.approvals.insert(id);
        self.track(id, body);
        let status = body["status"].as_str().unwrap_or_default().to_string();
        if status != "processed" || took > WAIT_BOUND {
            self.problems.push(format!(
                "[{}] approve {id} (wait: true) on replica {} answered after {took:.1?} with status `{status}`: \
                 a waiting call must answer once the job is done, whichever replica runs it (within {WAIT_BOUND:?}, `processed`)",
                self.at(),
                self.name(r2)
            ));
        }
        let Some(t) = measured else { return };
        let shared = self.shares[&id]
            .items
            .values()
            .any(|(table, s)| *table == t && s == "share_succeeded");
        if !shared {
            return;
        }
        if let Some((lag, took, queries)) = self
            .until_readable(on, product, &t, true, answered, id)
            .await
        {
            self.note(&format!(
                "sales.{product}.{t} read on {} by the query sent {lag:.1?} after the approval answered on {} \
                 (answered at {took:.1?}, {queries} queries)",
                self.name(on),
                self.name(r2)
            ));
            self.granted.push(Sample {
                lag,
                took,
                queries,
                from: self.name(r2),
                on: self.name(on),
                share: id,
            });
        }
    }

    /// The shares with items known to be shared, and those items.
    fn revokable(&self) -> Vec<(Uuid, Vec<Uuid>)> {
        self.shares
            .iter()
            .filter_map(|(id, t)| {
                let items: Vec<Uuid> = t
                    .items
                    .iter()
                    .filter(|(_, (_, s))| s == "share_succeeded")
                    .map(|(i, _)| *i)
                    .collect();
                (!items.is_empty()).then_some((*id, items))
            })
            .collect()
    }

    /// Revokes a share's items (all, or some) on a random replica; then reads a table it freed
    /// on another.
    async fn revoke(&mut self) {
        let mut revokable = self.revokable();
        if revokable.is_empty() {
            // Nothing known to be shared: learn what became of the approvals whose answers
            // came early or were cut by the kill; failing that, make more shares.
            self.refresh().await;
            revokable = self.revokable();
        }
        let Some((id, items)) = revokable.choose(&mut self.rng).cloned() else {
            return self.lifecycle().await;
        };
        let some = (items.len() > 1 && self.rng.gen_bool(0.4)).then(|| {
            let keep = self.rng.gen_range(1..items.len());
            items
                .choose_multiple(&mut self.rng, keep)
                .copied()
                .collect::<Vec<_>>()
        });
        let targets = some.clone().unwrap_or_else(|| items.clone());
        let r = self.pick(&[]);
        let mut body = json!({"wait": true});
        if let Some(some) = &some {
            body["items"] = json!(some);
        }
        let path = format!("/shares/{id}/revoke");
        let mut tries = 0;
        let (reply, took) = loop {
            let (reply, took) = self.busy_call(r, &path, body.clone()).await;
            // A scheduler's reminder may change the share between the read and the write of
            // the revocation: a 409 to retry.
            if let Reply::Answer(409, b) = &reply
                && b.to_string().contains("concurrently")
                && tries < 5
            {
                tries += 1;
                self.counts.retried += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            break (reply, took);
        };
        let Reply::Answer(200, body) = &reply else {
            let what = format!("revoke {id} (wait: true) on {}", self.name(r));
            self.unexpected(&what, &reply);
            return;
        };
        let answered = Instant::now();
        self.counts.revocations += 1;
        self.acked.revocations.insert(id);
        for item in body["items"].as_array().into_iter().flatten() {
            if targets.contains(&id_of(item))
                && item["status"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("revoke_"))
            {
                self.acked.revoked_items.insert(id_of(item));
            }
        }
        self.track(id, body);
        let status = body["status"].as_str().unwrap_or_default().to_string();
        let done = targets.iter().all(|i| {
            self.shares[&id]
                .items
                .get(i)
                .is_some_and(|(_, s)| s == "revoke_succeeded")
        });
        if status != "processed" || !done || took > WAIT_BOUND {
            self.problems.push(format!(
                "[{}] revoke {id} (wait: true) on replica {} answered after {took:.1?} with status `{status}` (items done: {done}): \
                 a waiting call must answer once the job is done, whichever replica runs it",
                self.at(),
                self.name(r)
            ));
            return;
        }
        // A table no share grants any more is refused on another replica.
        let product = self.shares[&id].product;
        let freed = targets.iter().find_map(|i| {
            let (table, _) = self.shares[&id].items.get(i)?;
            self.holders
                .get(&(product, table.clone()))
                .is_none_or(BTreeSet::is_empty)
                .then(|| table.clone())
        });
        if let Some(t) = freed {
            let on = self.pick(&[r]);
            if let Some((lag, took, queries)) = self
                .until_readable(on, product, &t, false, answered, id)
                .await
            {
                self.note(&format!(
                    "sales.{product}.{t} refused on {} to the query sent {lag:.1?} after the revocation answered on {} \
                     (answered at {took:.1?}, {queries} queries)",
                    self.name(on),
                    self.name(r)
                ));
                self.revoked.push(Sample {
                    lag,
                    took,
                    queries,
                    from: self.name(r),
                    on: self.name(on),
                    share: id,
                });
            }
        }
    }

    /// Reads again the shares that may grant a table while their items were last seen in
    /// motion (an approval answered before its job was done, or cut by the kill).
    async fn refresh(&mut self) {
        let moving: Vec<Uuid> = self
            .holders
            .values()
            .flatten()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| {
                self.shares.get(id).is_some_and(|t| {
                    t.items
                        .values()
                        .any(|(_, s)| s != "share_succeeded" && s != "revoke_succeeded")
                })
            })
            .collect();
        for id in moving {
            let r = self.pick(&[]);
            let alice = self.alice.clone();
            let reply = self
                .call(r, &alice, Method::GET, &format!("/shares/{id}"), None)
                .await;
            match &reply {
                Reply::Answer(200, body) => self.track(id, body),
                _ => self.unexpected(&format!("get {id} on {}", self.name(r)), &reply),
            }
        }
    }

    /// Alice creates a data product on a random replica (uploaded as multipart, as the CLI
    /// does).
    async fn create_product(&mut self) {
        let n = self.created.len() + 1;
        let name = format!("conv{n}");
        let words: Vec<&str> = WORDS.choose_multiple(&mut self.rng, 2).copied().collect();
        let product = json!({
            "domain": "sales", "team": "core", "name": name,
            "description": format!("{} and {} figures", words[0], words[1]),
        });
        let mut form = reqwest::multipart::Form::new().part(
            "product",
            reqwest::multipart::Part::text(product.to_string())
                .mime_str("application/json")
                .expect("mime"),
        );
        for t in ["daily", "weekly"] {
            form = form.part(
                t,
                reqwest::multipart::Part::text(table_csv(t))
                    .file_name(format!("{t}.csv"))
                    .mime_str("text/csv")
                    .expect("mime"),
            );
        }
        let r = self.pick(&[]);
        let Some((url, _)) = self.fleet.replicas[r].up() else {
            return;
        };
        let t = Instant::now();
        let reply = self
            .http
            .post(format!("{url}/api/v1/products"))
            .bearer_auth(&self.alice)
            .multipart(form)
            .send()
            .await;
        self.note(&format!(
            "create sales.{name} on {}: {} in {:.1?}",
            self.name(r),
            reply
                .as_ref()
                .map_or_else(|e| format!("no answer ({e})"), |r| r.status().to_string()),
            t.elapsed()
        ));
        // Numbered by attempt: a creation cut by the kill may have happened.
        self.created.push(format!("sales.{name}"));
        match reply {
            Ok(response) if response.status().is_success() => self.counts.products += 1,
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                let reply = Reply::Answer(status, Value::String(body));
                self.unexpected(&format!("create sales.{name} on {}", self.name(r)), &reply);
            }
            Err(e) => {
                let reply = Reply::Gone(e.to_string());
                self.unexpected(&format!("create sales.{name} on {}", self.name(r)), &reply);
            }
        }
    }

    /// Drives lifecycles until `until` (and the killer is done), creating a product at each of
    /// `creations` (times into the run).
    async fn drive(&mut self, until: Duration, mut creations: Vec<Duration>, killer: &Killer) {
        creations.sort();
        creations.reverse();
        loop {
            let now = self.started.elapsed();
            if now >= until && killer.finished() {
                break;
            }
            if creations.last().is_some_and(|c| *c <= now) {
                creations.pop();
                self.create_product().await;
                continue;
            }
            let free = pool()
                .iter()
                .flat_map(|(p, tables)| tables.iter().map(move |t| (*p, t.clone())))
                .filter(|k| self.holders.get(k).is_none_or(BTreeSet::is_empty))
                .count();
            if free < 3 || self.rng.gen_bool(0.25) {
                self.revoke().await;
            } else {
                self.lifecycle().await;
            }
        }
    }
}

/// The killer's task, and whether it is done.
struct Killer {
    handle: Option<tokio::task::JoinHandle<KillReport>>,
}

impl Killer {
    fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

// ----- the checks after the run -----

/// Every audit event whose action starts with `prefix`, in order.
async fn audit_events(store: &dyn Store, prefix: &str) -> Vec<meshgate_core::model::AuditEvent> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .list_audit(&AuditFilter {
                after_seq: Some(after),
                action_prefix: Some(prefix.into()),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .expect("read the audit log");
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    all
}

/// Whether the scheduler owes `detail` an expiry reminder at `now`: it expires within the
/// window, was not reminded, and still gives access.
fn reminder_due(detail: &ShareDetail, now: chrono::DateTime<Utc>) -> bool {
    owes_reminder(detail, now) && detail.share.terms.expiry_reminded_at.is_none()
}

/// Whether a share must have had (exactly one) expiry reminder by `now`.
fn owes_reminder(detail: &ShareDetail, now: chrono::DateTime<Utc>) -> bool {
    let giving = matches!(
        detail.share.status,
        ShareStatus::Processed
            | ShareStatus::Draft
            | ShareStatus::Submitted
            | ShareStatus::Rejected
            | ShareStatus::ExtensionRejected
            | ShareStatus::SubmittedForExtension
    );
    detail
        .share
        .terms
        .expires_at
        .is_some_and(|e| e <= now + chrono::Duration::days(REMINDER_DAYS))
        && giving
        && detail.items.iter().any(|i| grant_expected(i.status))
}

async fn all_shares(store: &dyn Store) -> Vec<ShareDetail> {
    store
        .list_shares(&ShareFilter {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list shares")
}

/// Each share owed an expiry reminder got exactly one, every other at most one; each inbox
/// holds at most one entry per audit event, alice and bob exactly one `expiring` per
/// reminded share, bob one `approved` per approval, alice one `submitted` per request.
async fn reminders_and_inboxes(store: Arc<dyn Store>, alice: Uuid, bob: Uuid) {
    let store = store.as_ref();
    // The scheduler's reminders go out...
    let deadline = Instant::now() + REMIND_WITHIN;
    loop {
        let now = Utc::now();
        let due: Vec<Uuid> = all_shares(store)
            .await
            .iter()
            .filter(|d| reminder_due(d, now))
            .map(|d| d.share.id)
            .collect();
        if due.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} shares expiring within {REMINDER_DAYS} days got no reminder {REMIND_WITHIN:?} after the run \
             (scheduler every {SCHEDULE_SECS} s): {due:?}",
            due.len()
        );
        // Poll interval while the scheduler catches up.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and the dispatcher turns the whole log into notifications.
    let end = store.last_audit_seq().await.expect("last audit seq");
    let deadline = Instant::now() + DISPATCH_WITHIN;
    loop {
        let cursor = store.notify_cursor().await.expect("notify cursor");
        if cursor >= end {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the notification cursor is at {cursor}, the audit log at {end}, {DISPATCH_WITHIN:?} after the run"
        );
        // Poll interval while the dispatcher catches up.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let now = Utc::now();
    let shares = all_shares(store).await;
    let expiring: Vec<_> = audit_events(store, "share.expiring")
        .await
        .into_iter()
        .filter(|e| e.action == "share.expiring")
        .collect();
    let mut reminders: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for e in &expiring {
        let id = Uuid::parse_str(e.object_id.as_deref().unwrap_or_default()).expect("share id");
        reminders.entry(id).or_default().push(e.seq);
    }
    let mut owed = 0;
    for d in &shares {
        let got = reminders.get(&d.share.id).map_or(0, Vec::len);
        if owes_reminder(d, now) {
            owed += 1;
            assert_eq!(
                got,
                1,
                "share {} ({}, expires {:?}, items {:?}) must have exactly one expiry reminder (`share.expiring`), has {got}: {:?}",
                d.share.id,
                d.share.status,
                d.share.terms.expires_at,
                d.items.iter().map(|i| i.status).collect::<Vec<_>>(),
                reminders.get(&d.share.id)
            );
        } else {
            assert!(
                got <= 1,
                "share {} ({}) got {got} expiry reminders: {:?}",
                d.share.id,
                d.share.status,
                reminders.get(&d.share.id)
            );
        }
    }
    assert!(
        owed > 0,
        "no share was owed an expiry reminder: the run checked nothing of the scheduler"
    );

    let approvals: Vec<_> = audit_events(store, "share.approve")
        .await
        .into_iter()
        .filter(|e| e.action == "share.approve")
        .collect();
    let submitted: Vec<_> = audit_events(store, "share.request")
        .await
        .into_iter()
        .filter(|e| e.action == "share.request" && e.detail["to"] == "submitted")
        .collect();
    for (who, principal) in [("alice", alice), ("bob", bob)] {
        let inbox = store
            .list_notifications(principal, false, 1000)
            .await
            .expect("inbox");
        assert!(inbox.len() < 1000, "{who}'s inbox is too full to check");
        let mut by_event: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        let mut expiring_of: BTreeMap<Uuid, usize> = BTreeMap::new();
        for n in &inbox {
            by_event
                .entry(n.audit_seq)
                .or_default()
                .push(n.event.as_str());
            if n.event == NotifyEvent::Expiring
                && let Some(share) = n.share_id
            {
                *expiring_of.entry(share).or_default() += 1;
            }
        }
        let doubled: Vec<_> = by_event.iter().filter(|(_, n)| n.len() > 1).collect();
        assert!(
            doubled.is_empty(),
            "{who}'s inbox holds several entries for one audit event (seq → events): {doubled:?}"
        );
        for (share, seqs) in &reminders {
            assert_eq!(
                expiring_of.get(share).copied().unwrap_or(0),
                1,
                "{who} must have exactly one `expiring` notification for share {share} (reminders at seq {seqs:?})"
            );
        }
        let (events, event) = if who == "bob" {
            (&approvals, NotifyEvent::Approved)
        } else {
            (&submitted, NotifyEvent::Submitted)
        };
        for e in events {
            let got = inbox
                .iter()
                .filter(|n| n.audit_seq == e.seq && n.event == event)
                .count();
            assert_eq!(
                got, 1,
                "{who} must have exactly one `{event}` notification for {} of share {:?} (seq {})",
                e.action, e.object_id, e.seq
            );
        }
    }
    eprintln!(
        "replicas: {owed} shares owed an expiry reminder, {} reminders in all",
        expiring.len()
    );
}

/// What a search answered: the total, and the products in order with their scores.
#[derive(Debug)]
struct Found {
    total: u64,
    products: Vec<String>,
    scores: Vec<f64>,
}

impl Found {
    /// What must be equal on every replica (scores may differ by the last digits).
    fn key(&self) -> (u64, &[String]) {
        (self.total, &self.products)
    }

    fn show(&self) -> String {
        let hits: Vec<String> = self
            .products
            .iter()
            .zip(&self.scores)
            .map(|(p, s)| format!("{p} ({s:.4})"))
            .collect();
        format!("{} found: {}", self.total, hits.join(", "))
    }
}

/// What must be equal in two replicas' answers.
fn key(answer: &Result<Found, String>) -> Result<(u64, &[String]), &str> {
    match answer {
        Ok(found) => Ok(found.key()),
        Err(e) => Err(e),
    }
}

/// The products a search on replica `url` finds for `q`, in order, with their scores.
async fn search(http: &reqwest::Client, url: &str, admin: &str, q: &str) -> Result<Found, String> {
    let response = http
        .get(format!("{url}/api/v1/search"))
        .query(&[("q", q), ("limit", "100")])
        .bearer_auth(admin)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    let hits = body["results"]
        .as_array()
        .ok_or_else(|| format!("no results in {body}"))?;
    Ok(Found {
        total: body["total"].as_u64().unwrap_or(0),
        products: hits
            .iter()
            .map(|h| h["product"].as_str().unwrap_or_default().to_string())
            .collect(),
        scores: hits
            .iter()
            .map(|h| h["score"].as_f64().unwrap_or(f64::NAN))
            .collect(),
    })
}

/// Within [`CONVERGE_WITHIN`], the same searches on every replica answer the same products in
/// the same order, and the unfiltered one lists every product there is.
async fn catalogs_converge(
    urls: Vec<(&'static str, String)>,
    admin: String,
    store: Arc<dyn Store>,
) {
    let http = reqwest::Client::new();
    let mut queries: Vec<&str> = vec!["", "multi", "wide", "value", "daily"];
    queries.extend(WORDS);
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let products: BTreeSet<String> = store
            .list_products(&Default::default())
            .await
            .expect("list products")
            .iter()
            .map(|p| format!("sales.{}", p.name))
            .collect();
        let mut differ = Vec::new();
        for q in &queries {
            let mut answers = Vec::new();
            for (name, url) in &urls {
                answers.push((*name, search(&http, url, &admin, q).await));
            }
            if answers.iter().any(|(_, a)| key(a) != key(&answers[0].1)) {
                let shown: Vec<String> = answers
                    .iter()
                    .map(|(name, a)| match a {
                        Ok(found) => format!("  {name}: {}", found.show()),
                        Err(e) => format!("  {name}: {e}"),
                    })
                    .collect();
                differ.push(format!("q={q:?}:\n{}", shown.join("\n")));
            } else if q.is_empty()
                && let Ok(found) = &answers[0].1
            {
                let missing: Vec<_> = products
                    .iter()
                    .filter(|p| !found.products.contains(p))
                    .collect();
                if !missing.is_empty() {
                    differ.push(format!(
                        "q=\"\": every replica misses {missing:?} (the store has {products:?})"
                    ));
                }
            }
        }
        if differ.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "searches on the replicas still differ {CONVERGE_WITHIN:?} after the run \
             (same products in the same order expected; the scores are shown):\n{}",
            differ.join("\n")
        );
        // Poll interval while the replicas' indexes follow the store.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// p50, p95 and max of the samples' times (`of`: one of a sample's times).
fn percentiles(
    samples: &[Sample],
    of: fn(&Sample) -> Duration,
) -> Option<(Duration, Duration, Duration)> {
    let mut took: Vec<Duration> = samples.iter().map(of).collect();
    took.sort();
    let at = |q: f64| took[((q * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1];
    (!took.is_empty()).then(|| (at(0.5), at(0.95), *took.last().expect("a sample")))
}

/// Runs `check` as a task of its own: its panic is a failure noted in `failures`, and the
/// checks after it still run.
async fn verdict<F>(name: &str, failures: &mut Vec<String>, check: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    match tokio::spawn(check).await {
        Ok(()) => eprintln!("replicas: check `{name}` passed"),
        Err(e) => {
            let message = match e.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "a panic".into()),
                Err(e) => e.to_string(),
            };
            eprintln!("replicas: check `{name}` FAILED");
            failures.push(format!("`{name}`: {message}"));
        }
    }
}

// ----- the run -----

async fn run(base: &str, s3_root: Option<String>, default_drive: Duration) -> Result<(), Failed> {
    let _one = ONE_FLEET.lock().await;
    let variant = if s3_root.is_some() {
        "object storage"
    } else {
        "shared directory"
    };
    let seed: u64 = std::env::var(SEED_VAR)
        .ok()
        .map(|s| s.parse().expect("MESHGATE_REPLICAS_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    let drive_for = std::env::var(SECS_VAR)
        .ok()
        .map(|s| Duration::from_secs(s.parse().expect("MESHGATE_REPLICAS_SECS is a number")))
        .unwrap_or(default_drive);
    eprintln!(
        "replicas ({variant}): seed {seed} (replay with {SEED_VAR}={seed}), driving for {drive_for:?}"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let began = Instant::now();

    let schema = Schema::create(base).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data_root = match &s3_root {
        Some(root) => root.clone(),
        None => {
            let root = dir.path().join("root");
            std::fs::create_dir(&root).expect("the shared data root");
            root.display().to_string()
        }
    };
    let data_dir = |r: &str| dir.path().join(r.to_lowercase());
    let admin = init_store(&data_dir(REPLICAS[0]), Some(&schema.url));
    let replicas: Vec<Replica> = REPLICAS
        .iter()
        .map(|name| {
            let mut launch = Launch::sqlite(&data_dir(name));
            launch.store_url = Some(schema.url.clone());
            launch.data_root = Some(data_root.clone());
            launch
                .set("MESHGATE_WORKER_POLL_MS", WORKER_POLL_MS)
                .set("MESHGATE_WORKER_STEP_DELAY_MS", STEP_DELAY_MS)
                .set("MESHGATE_WORKER_LEASE_SECS", LEASE_SECS)
                .set("MESHGATE_LIFECYCLE__SCHEDULE_INTERVAL_SECS", SCHEDULE_SECS)
                .set("MESHGATE_LIFECYCLE__EXPIRY_REMINDER_DAYS", REMINDER_DAYS)
                .set("MESHGATE_NOTIFICATIONS__DISPATCH_POLL_MS", DISPATCH_POLL_MS);
            Replica {
                name,
                launch,
                server: Mutex::new(None),
                runs: AtomicUsize::new(0),
                busy: AtomicUsize::new(0),
            }
        })
        .collect();
    // Started together (`init` ran the migrations), then waited for.
    let spawned: Vec<Server> = replicas
        .iter()
        .map(|r| Server::spawn(&r.launch, 0))
        .collect();
    for (replica, server) in replicas.iter().zip(spawned) {
        *replica.server.lock().expect("replica lock") = Some(server.ready());
        replica.runs.store(1, Ordering::SeqCst);
    }
    let fleet = Arc::new(Fleet { replicas });
    let (alice, bob) = {
        let a = fleet.replicas[0].server.lock().expect("replica lock");
        let b = fleet.replicas[1].server.lock().expect("replica lock");
        let tokens = set_up(a.as_ref().expect("A"), &admin, dir.path());
        create_product(
            b.as_ref().expect("B"),
            &tokens.0,
            dir.path(),
            WIDE,
            &WIDE_TABLES,
        );
        tokens
    };
    let store = meshgate_store::connect(&schema.url)
        .await
        .expect("open the store");
    let marketing = store
        .get_domain_by_name("marketing")
        .await
        .unwrap()
        .expect("marketing");
    let team = store
        .get_team_by_name(marketing.id, "analytics")
        .await
        .unwrap()
        .expect("marketing.analytics");
    let principal = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .get_principal_by_name(name)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{name}"))
                .id
        }
    };
    let (alice_id, bob_id) = (principal("alice").await, principal("bob").await);
    eprintln!("replicas ({variant}): set up in {:.1?}", began.elapsed());

    // The run: lifecycles, products created now and then, one replica killed and restarted.
    let plan = KillPlan {
        replica: rng.gen_range(0..REPLICAS.len()),
        at: drive_for.mul_f64(rng.gen_range(0.2..0.5)),
        jitter: Duration::from_millis(rng.gen_range(0..=STEP_DELAY_MS)),
        down: Duration::from_millis(rng.gen_range(2000..=5000)),
    };
    let creations: Vec<Duration> = (0..NEW_PRODUCTS)
        .map(|_| drive_for.mul_f64(rng.gen_range(0.05..0.9)))
        .collect();
    let started = Instant::now();
    let mut killer = Killer {
        handle: Some(tokio::spawn(kill_and_restart(
            fleet.clone(),
            store.clone(),
            plan,
            started,
        ))),
    };
    let mut driver = Driver {
        fleet: fleet.clone(),
        http: reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .expect("http client"),
        alice,
        bob,
        rng,
        started,
        acked: Acked::default(),
        shares: BTreeMap::new(),
        holders: BTreeMap::new(),
        created: Vec::new(),
        problems: Vec::new(),
        granted: Vec::new(),
        revoked: Vec::new(),
        counts: Counts::default(),
    };
    driver.drive(drive_for, creations, &killer).await;
    let drove = started.elapsed();
    let mut failures = Vec::new();
    let kill = match killer.handle.take().expect("the killer").await {
        Ok(report) => Some(report),
        Err(e) => {
            failures.push(format!("`kill and restart`: {e}"));
            None
        }
    };
    let kill = kill.map_or_else(|| "failed".to_string(), |k| k.describe());
    eprintln!(
        "replicas ({variant}): drove {drove:.1?}: {:?}; killed {kill}",
        driver.counts
    );

    // The checks, each reported.
    let logs = {
        let fleet = fleet.clone();
        move || fleet.logs(40)
    };
    {
        let store = store.clone();
        let logs = logs.clone();
        let after = format!(
            "the run, {drove:.1?} long, in which it SIGKILLed {kill} (a job lease is {LEASE_SECS} s, renewed by live workers: \
             a job the killed replica held must be taken over once its lease ran out)"
        );
        verdict("outbox drained", &mut failures, async move {
            drain(store.as_ref(), DRAIN_WITHIN, &after, &logs).await;
        })
        .await;
    }
    {
        let store = store.clone();
        let acked = std::mem::take(&mut driver.acked);
        let team = team.id;
        verdict("lifecycle invariants", &mut failures, async move {
            check(store.as_ref(), team, &acked, "after the run").await;
        })
        .await;
    }
    verdict(
        "expiry reminders and inboxes",
        &mut failures,
        reminders_and_inboxes(store.clone(), alice_id, bob_id),
    )
    .await;
    let urls: Vec<(&'static str, String)> = fleet
        .replicas
        .iter()
        .filter_map(|r| r.up().map(|(url, _)| (r.name, url)))
        .collect();
    verdict(
        "catalog convergence",
        &mut failures,
        catalogs_converge(urls, admin.clone(), store.clone()),
    )
    .await;
    let granted = std::mem::take(&mut driver.granted);
    verdict("approve-to-query latency", &mut failures, async move {
        let (Some(lag), Some(took)) = (
            percentiles(&granted, |s| s.lag),
            percentiles(&granted, |s| s.took),
        ) else {
            panic!("no approval was measured");
        };
        eprintln!(
            "replicas: approve answered → rows read on another replica ({} approvals; the first query read them in {}): \
             query sent p50 {:.1?}, p95 {:.1?}, max {:.1?}; query answered p50 {:.1?}, p95 {:.1?}, max {:.1?}",
            granted.len(),
            granted.iter().filter(|s| s.queries == 1).count(),
            lag.0,
            lag.1,
            lag.2,
            took.0,
            took.1,
            took.2
        );
        let slow: Vec<String> = granted
            .iter()
            .filter(|s| s.lag > LATENCY_P95)
            .map(|s| {
                format!(
                    "share {} approved on {}, read on {} by the query sent at {:.1?} ({} queries)",
                    s.share, s.from, s.on, s.lag, s.queries
                )
            })
            .collect();
        assert!(
            granted.len() >= MIN_SAMPLES,
            "only {} approvals measured (at least {MIN_SAMPLES})",
            granted.len()
        );
        assert!(
            lag.1 <= LATENCY_P95,
            "approve answered → rows read on another replica: p95 {:.1?} over {LATENCY_P95:?} (p50 {:.1?}, max {:.1?}, \
             {} samples); the slow ones: {slow:#?}",
            lag.1,
            lag.0,
            lag.2,
            granted.len()
        );
    })
    .await;
    if let Some((p50, p95, max)) = percentiles(&driver.revoked, |s| s.lag) {
        eprintln!(
            "replicas: revoke answered → refused on another replica ({} revocations): query sent p50 {p50:.1?}, p95 {p95:.1?}, max {max:.1?}",
            driver.revoked.len()
        );
    }
    let problems = std::mem::take(&mut driver.problems);
    verdict("calls during the run", &mut failures, async move {
        assert!(
            problems.is_empty(),
            "{} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    })
    .await;
    let panicked = fleet.panicked();
    verdict("no replica panicked", &mut failures, async move {
        assert!(panicked.is_empty(), "panics in the logs of {panicked:?}");
    })
    .await;

    let logs = fleet.logs(40);
    for r in &fleet.replicas {
        r.server.lock().expect("replica lock").take();
    }
    drop(store);
    schema.drop_it().await;
    eprintln!(
        "replicas ({variant}): done in {:.1?}, {} of the checks failed",
        began.elapsed(),
        failures.len()
    );
    if failures.is_empty() {
        return Ok(());
    }
    Err(Failed(format!(
        "the replicas' logs:\n{logs}\n\nreplicas ({variant}, seed {seed}): {} checks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    )))
}
