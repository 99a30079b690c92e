//! Server configuration: defaults, then a TOML file, then `MESHGATE_*` environment variables
//! (nested keys with `__`, e.g. `MESHGATE_QUERY__TIMEOUT_SECS=60`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use meshgate_core::classification::ClassificationMode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded store, local tables and temporary uploads.
    pub data_dir: PathBuf,
    /// Store URL; default `sqlite://<data_dir>/meshgate.db`. Use `postgres://…` for replicas.
    pub store_url: Option<String>,
    /// Where managed tables are created; default `<data_dir>/tables`. A path or a URL.
    pub data_root: Option<String>,
    /// Largest accepted upload, in MiB.
    pub max_upload_mb: u64,
    /// Development of the web console: serve its files from this directory, read at every
    /// request, instead of the copies embedded in the binary. Honoured by debug builds
    /// only; a release build always serves the embedded console.
    pub console_dir: Option<PathBuf>,
    /// The URL clients use to reach this server (for links in messages).
    pub public_url: Option<String>,
    pub query: QuerySettings,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// How often the worker polls for jobs it was not woken for, in milliseconds.
    pub worker_poll_ms: u64,
    /// How long a job the worker leased is reserved for it, in seconds; the worker renews the
    /// leases of the jobs it holds every third of this, so a job may run longer. A job whose
    /// worker died is picked up by another replica when its lease runs out. Only PostgreSQL
    /// (several replicas sharing the queue) waits that long: on SQLite one process serves the
    /// data dir, so it ends every lease when it starts.
    pub worker_lease_secs: u64,
    /// Testing aid: a pause the worker makes after leasing jobs and between the steps of a job,
    /// in milliseconds (default 0: none). It widens the windows in which a crash leaves work
    /// half done, so the crash test (`meshgate-cli/tests/it/crash.rs`) can kill the process
    /// there. Leave it at 0 in production.
    pub worker_step_delay_ms: u64,
    pub lifecycle: LifecycleSettings,
    /// The inbox, email and webhooks (`[notifications]`).
    pub notifications: NotificationSettings,
    /// The Delta Sharing server (`[sharing]`).
    pub sharing: SharingSettings,
    /// Sign-in with identity providers (`[auth]`).
    pub auth: AuthSettings,
    /// Several replicas on one store (`[replicas]`, docs/design/REPLICAS.md).
    pub replicas: ReplicaSettings,
    /// Automatic classification on create and append (`[classification]`,
    /// docs/design/CLASSIFICATION.md).
    pub classification: ClassificationSettings,
    /// The audit log's signed digests (`[audit]`, docs/design/AUDIT.md).
    pub audit: AuditSettings,
}

/// The audit plane (docs/design/AUDIT.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// How often the replica holding the digest lease signs a digest of the chain's new events,
    /// in seconds: the longest an event stays chained but unsigned.
    pub digest_secs: u64,
    /// Where the whole audit stream goes (`[[audit.sinks]]`): SIEM webhooks and NDJSON files.
    /// Only the configuration declares sinks, never the API: a sink receives every event.
    pub sinks: Vec<AuditSink>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            digest_secs: 300,
            sinks: Vec::new(),
        }
    }
}

/// One destination of the audit stream: a webhook or a directory of NDJSON files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSink {
    /// Its name (its cursor in the store is kept under it): letters, digits, `-` and `_`.
    pub name: String,
    /// An `http(s)` URL that batches are POSTed to as NDJSON, signed with `secret`.
    pub webhook: Option<String>,
    /// The HMAC-SHA-256 key of the webhook's `X-Meshgate-Signature` (at least 16 characters).
    pub secret: Option<String>,
    /// A directory the events are appended to, in files `audit-<first position>.ndjson`.
    pub file: Option<PathBuf>,
    /// A file is closed and a new one started once it holds this many KiB.
    pub rotate_kib: u64,
    /// At most this many events per delivery.
    pub batch: u32,
}

impl Default for AuditSink {
    fn default() -> Self {
        AuditSink {
            name: String::new(),
            webhook: None,
            secret: None,
            file: None,
            rotate_kib: 64 * 1024,
            batch: 500,
        }
    }
}

impl AuditSettings {
    /// Refuses sinks that could not deliver: a bad name, two with one name, neither or both of
    /// `webhook` and `file`, a webhook without a secret or not over HTTP(S).
    pub fn check(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for sink in &self.sinks {
            let name = &sink.name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(format!(
                    "audit.sinks: name `{name}`: use 1 to 64 letters, digits, `-` or `_`"
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(format!("audit.sinks: two sinks are named `{name}`"));
            }
            match (&sink.webhook, &sink.file) {
                (Some(url), None) => {
                    let parsed = url::Url::parse(url)
                        .map_err(|e| format!("audit.sinks `{name}`: webhook `{url}`: {e}"))?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(format!(
                            "audit.sinks `{name}`: the webhook must be an http(s) URL"
                        ));
                    }
                    if sink.secret.as_ref().is_none_or(|s| s.len() < 16) {
                        return Err(format!(
                            "audit.sinks `{name}`: a webhook needs a `secret` of at least 16 characters"
                        ));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "audit.sinks `{name}`: give either `webhook` or `file`"
                    ));
                }
            }
            if sink.batch == 0 || sink.rotate_kib == 0 {
                return Err(format!(
                    "audit.sinks `{name}`: `batch` and `rotate_kib` must be above 0"
                ));
            }
        }
        Ok(())
    }
}

/// What automatic classification does on create and append (docs/design/CLASSIFICATION.md).
/// The mesh's setting lives here, with its other policy switches (such as
/// `lifecycle.allow_self_approval`), not in the store: see the design page, "Departures".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassificationSettings {
    /// `off`, `suggest` (the default: detections are suggested tags owners confirm or
    /// reject) or `apply` (a confident detection tags its column at once, so tag masks hash
    /// it for every non-owner from the next query). `meshgate quickstart` makes it `apply`
    /// unless it is set.
    pub mode: Option<ClassificationMode>,
    /// How many values of each column are sampled (the first rows of what is written), from
    /// [`MIN_SAMPLE_VALUES`] to [`MAX_SAMPLE_VALUES`].
    pub sample_values: usize,
}

/// The fewest values `classification.sample_values` may ask for: fewer and every column is
/// judged by its name alone.
pub const MIN_SAMPLE_VALUES: usize = meshgate_classify::MIN_VALUES;
/// The most values `classification.sample_values` may ask for (the sample's rows are held in
/// memory while it is classified).
pub const MAX_SAMPLE_VALUES: usize = 100_000;

impl Default for ClassificationSettings {
    fn default() -> Self {
        ClassificationSettings {
            mode: None,
            sample_values: 1000,
        }
    }
}

impl ClassificationSettings {
    /// The mode in force: `suggest` unless set.
    pub fn mode(&self) -> ClassificationMode {
        self.mode.unwrap_or(ClassificationMode::Suggest)
    }

    /// Checks the settings a server cannot run with.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_SAMPLE_VALUES..=MAX_SAMPLE_VALUES).contains(&self.sample_values) {
            return Err(format!(
                "classification.sample_values is {}; use {MIN_SAMPLE_VALUES} to {MAX_SAMPLE_VALUES}",
                self.sample_values
            ));
        }
        Ok(())
    }
}

/// How replicas on one store keep in step and share the singleton tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaSettings {
    /// How often the change feed reads the store even when no change was signalled, in
    /// milliseconds: the bound on how stale a cache may get when a signal is lost (and the
    /// only way a SQLite server learns of what another process, e.g. the CLI, wrote).
    pub poll_ms: u64,
    /// How long a singleton task's lease lasts, in seconds: the longest a task waits for a new
    /// replica after its holder died without giving the lease up.
    pub lease_secs: u64,
    /// How often the leases are renewed (and free ones claimed), in milliseconds; at most half
    /// of `lease_secs`.
    pub lease_renew_ms: u64,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            poll_ms: 1000,
            lease_secs: 10,
            lease_renew_ms: 2000,
        }
    }
}

/// Sign-in (docs/design/SIGN_IN.md): meshgate's own tokens always work; with `oidc`, bearer
/// JWTs from the listed OpenID providers do too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The trusted issuers: one table (`[auth.oidc]`, or `MESHGATE_AUTH__OIDC__ISSUER=…`) or a
    /// list (`[[auth.oidc]]`).
    #[serde(deserialize_with = "one_or_many_issuers")]
    pub oidc: Vec<meshgate_oidc::IssuerConfig>,
    /// How long a verified bearer JWT is remembered (its principal, groups synced), in
    /// seconds; never past the token's own expiry.
    pub token_cache_secs: u64,
    /// A browser session unused this long ends, in seconds.
    pub session_idle_secs: u64,
    /// A browser session ends this long after sign-in however active, in seconds.
    pub session_absolute_secs: u64,
    /// The quickstart's one-click sign-in: these principals can be signed in as, without a
    /// token, from a browser on this machine (loopback peers only). Empty (the default)
    /// turns it off; `meshgate quickstart` sets its demo people. Never set it on a server
    /// others reach.
    pub demo_people: Vec<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            oidc: Vec::new(),
            token_cache_secs: 300,
            session_idle_secs: 2 * 3600,
            session_absolute_secs: 12 * 3600,
            demo_people: Vec::new(),
        }
    }
}

fn one_or_many_issuers<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<meshgate_oidc::IssuerConfig>, D::Error> {
    // A list first: an issuer's fields all have defaults, so an empty list (the default,
    // serialized) would otherwise read as one issuer with an empty URL.
    #[derive(Deserialize)]
    #[serde(untagged)]
    // A list first: a struct also deserializes from a sequence, so an empty list would
    // otherwise read as one issuer with every field defaulted.
    enum OneOrMany {
        Many(Vec<meshgate_oidc::IssuerConfig>),
        One(Box<meshgate_oidc::IssuerConfig>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(c) => vec![*c],
        OneOrMany::Many(v) => v,
    })
}

/// The Delta Sharing server (docs/design/DELTA_SHARING.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharingSettings {
    /// Where the protocol's endpoints are served; profiles point here
    /// (`{public_url}{prefix}`).
    pub prefix: String,
    /// How long a file URL in a response stays valid, in seconds (at least 3600: clients
    /// never refresh them).
    pub url_ttl_secs: u64,
    /// A new recipient token's lifetime when its maker gives none, in days (0: no expiry).
    pub token_days: u32,
    /// The lifetime of an access token the OAuth token endpoint issues, in seconds.
    pub oauth_token_secs: u64,
    /// A materialised snapshot (of a filtered or masked item) nobody read for this long is
    /// removed, in seconds; at least `url_ttl_secs`, so no URL handed out outlives its file.
    pub snapshot_idle_secs: u64,
    /// How often unused snapshots and expired access tokens are collected, in seconds.
    pub gc_interval_secs: u64,
}

impl Default for SharingSettings {
    fn default() -> Self {
        SharingSettings {
            prefix: "/delta-sharing".into(),
            url_ttl_secs: 3600,
            token_days: 90,
            oauth_token_secs: 3600,
            snapshot_idle_secs: 24 * 3600,
            gc_interval_secs: 3600,
        }
    }
}

impl SharingSettings {
    /// Checks the settings a server cannot run with.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.prefix;
        if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') || p.starts_with("/api/") {
            return Err(format!(
                "sharing.prefix `{p}` must start with `/`, not end with `/` and not be under `/api/` (e.g. `/delta-sharing`)"
            ));
        }
        if self.url_ttl_secs < 3600 {
            return Err(format!(
                "sharing.url_ttl_secs is {}; Delta Sharing clients never refresh file URLs, so it must be at least 3600",
                self.url_ttl_secs
            ));
        }
        if self.snapshot_idle_secs < self.url_ttl_secs {
            return Err(format!(
                "sharing.snapshot_idle_secs ({}) must be at least sharing.url_ttl_secs ({}): a snapshot must outlive the URLs to its files",
                self.snapshot_idle_secs, self.url_ttl_secs
            ));
        }
        if self.oauth_token_secs == 0 || self.gc_interval_secs == 0 {
            return Err(
                "sharing.oauth_token_secs and sharing.gc_interval_secs must be positive".into(),
            );
        }
        Ok(())
    }
}

/// The share lifecycle's scheduled tasks (docs/design/LIFECYCLE.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSettings {
    /// How often the scheduler looks for expired shares, reminders due and items to verify,
    /// in seconds.
    pub schedule_interval_secs: u64,
    /// Shared items not verified for this long are verified (and re-applied if unhealthy).
    pub verify_interval_secs: u64,
    /// How long before a share expires its reminder goes out, in days.
    pub expiry_reminder_days: u32,
    /// A request left undecided this long gets a reminder (and again after as long), in days.
    pub pending_reminder_days: u32,
    /// Separation of duties: when false (the default), nobody may approve, modify or approve
    /// the extension of a share requested by itself or by a team it belongs to. When true it
    /// may, and each such act is audited `share.self_decision`.
    pub allow_self_approval: bool,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            schedule_interval_secs: 60,
            verify_interval_secs: 7 * 24 * 3600,
            expiry_reminder_days: 7,
            pending_reminder_days: 3,
            allow_self_approval: false,
        }
    }
}

/// How notifications are delivered (docs/design/LIFECYCLE.md §Notifications). The in-app inbox is always
/// on; email needs `smtp_url`; webhooks need nothing here unless they must reach internal
/// hosts (`webhook_allow_hosts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// The SMTP server for email: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (TLS); credentials as `smtp://user:password@host`.
    /// None: no email.
    pub smtp_url: Option<String>,
    /// The sender of notification email, e.g. `meshgate <meshgate@example.com>`.
    pub smtp_from: String,
    /// How often the dispatcher reads new audit events, in milliseconds.
    pub dispatch_poll_ms: u64,
    /// The first retry of a failed email or webhook delivery waits this long, in
    /// milliseconds; each further retry waits twice as long as the one before (at most 10
    /// minutes).
    pub retry_base_ms: u64,
    /// Attempts at one email or webhook delivery before it is given up (and recorded so).
    pub max_attempts: u32,
    /// Hosts (names or IP addresses) webhooks may be delivered to although they are not
    /// public: loopback, private, link-local and other internal addresses are refused
    /// otherwise (docs/design/MASKS_AND_WEBHOOKS.md). E.g. `["hooks.internal.example", "127.0.0.1"]`; in
    /// the environment a list or one comma-separated string
    /// (`MESHGATE_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS=hooks.internal.example,127.0.0.1`).
    #[serde(deserialize_with = "string_or_list")]
    pub webhook_allow_hosts: Vec<String>,
}

/// A list of strings given as a list, or as one string of comma-separated items (how an
/// environment variable carries it most easily).
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySettings {
    /// Memory all running queries share before spilling to disk or failing, in MiB.
    pub memory_limit_mb: u64,
    /// Longest a query may run, in seconds.
    pub timeout_secs: u64,
    /// Longest accepted SQL text, in bytes (docs/design/QUERY_LIMITS.md).
    pub max_sql_bytes: usize,
    /// Most tokens (keywords, names, literals, operators) in a query's SQL.
    pub max_sql_tokens: usize,
    /// Deepest nesting of expressions, subqueries and set operations in a query; a chain such
    /// as `a + b + …` or `x OR y OR …` nests one level per term.
    pub max_expr_depth: usize,
    /// Longest parsing and planning of one query may take, in seconds (within
    /// `timeout_secs`).
    pub plan_timeout_secs: u64,
}

impl QuerySettings {
    /// Checks the settings a server cannot run with.
    pub fn check(&self) -> Result<(), String> {
        if self.max_sql_bytes == 0
            || self.max_sql_tokens == 0
            || self.max_expr_depth == 0
            || self.plan_timeout_secs == 0
        {
            return Err(
                "query.max_sql_bytes, query.max_sql_tokens, query.max_expr_depth and query.plan_timeout_secs must be positive".into(),
            );
        }
        // Planning recurses over expressions; past this even the planner's large stack is
        // not a safe margin.
        if self.max_expr_depth > MAX_EXPR_DEPTH {
            return Err(format!(
                "query.max_expr_depth is {}; at most {MAX_EXPR_DEPTH} is safe",
                self.max_expr_depth
            ));
        }
        Ok(())
    }
}

/// The largest `query.max_expr_depth` accepted.
pub const MAX_EXPR_DEPTH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("meshgate-data"),
            store_url: None,
            data_root: None,
            max_upload_mb: 1024,
            console_dir: None,
            public_url: None,
            query: QuerySettings::default(),
            log_format: LogFormat::Text,
            worker_poll_ms: 1000,
            worker_lease_secs: 10,
            worker_step_delay_ms: 0,
            lifecycle: LifecycleSettings::default(),
            notifications: NotificationSettings::default(),
            sharing: SharingSettings::default(),
            auth: AuthSettings::default(),
            replicas: ReplicaSettings::default(),
            classification: ClassificationSettings::default(),
            audit: AuditSettings::default(),
        }
    }
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            smtp_url: None,
            smtp_from: "meshgate <meshgate@localhost>".into(),
            dispatch_poll_ms: 1000,
            retry_base_ms: 1000,
            max_attempts: 10,
            webhook_allow_hosts: Vec::new(),
        }
    }
}

impl Default for QuerySettings {
    fn default() -> Self {
        let limits = meshgate_engine::query::Limits::default();
        QuerySettings {
            memory_limit_mb: 1024,
            timeout_secs: 300,
            max_sql_bytes: limits.max_bytes,
            max_sql_tokens: limits.max_tokens,
            max_expr_depth: limits.max_depth,
            plan_timeout_secs: 30,
        }
    }
}

/// `MESHGATE_*` variables that belong to the CLI client or to test suites (`TEST_*`, and the
/// crash test's `CRASH_*`).
fn is_foreign_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("test_")
        || key.starts_with("crash_")
        || matches!(key.as_str(), "url" | "token" | "config" | "ci_venv")
}

impl Config {
    /// The pause `worker_step_delay_ms` asks for between the worker's steps (a testing aid
    /// that widens the windows a crash can hit; none by default).
    pub async fn step_delay(&self) {
        if self.worker_step_delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(self.worker_step_delay_ms)).await;
        }
    }

    /// Loads defaults ← `file` (if any) ← `MESHGATE_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("config file `{}` does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // `MESHGATE_*` also names the CLI's client settings and the test suites' switches;
        // those are not server settings, so they must not trip `deny_unknown_fields`.
        figment = figment.merge(
            Env::prefixed("MESHGATE_")
                .filter(|key| !is_foreign_key(key.as_str()))
                .split("__"),
        );
        figment
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    pub fn store_url(&self) -> String {
        self.store_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("meshgate.db").display()))
    }

    pub fn data_root(&self) -> String {
        self.data_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tables").to_string_lossy().into_owned())
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// Where uploads are staged before they are written as tables.
    pub fn upload_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_test_variables_are_not_server_settings() {
        for key in [
            "URL",
            "token",
            "TEST_S3_ROOT",
            "test_postgres_url",
            "CONFIG",
            "CI_VENV",
            "CRASH_SEED",
            "crash_rounds",
        ] {
            assert!(is_foreign_key(key), "{key}");
        }
        for key in [
            "listen",
            "DATA_DIR",
            "query__timeout_secs",
            "WORKER_STEP_DELAY_MS",
        ] {
            assert!(!is_foreign_key(key), "{key}");
        }
    }

    #[test]
    fn defaults_and_file() -> Result<(), String> {
        let c = Config::load(None)?;
        assert_eq!(c.max_upload_mb, 1024);
        assert!(
            c.auth.oidc.is_empty(),
            "no issuer unless configured: {:?}",
            c.auth.oidc
        );
        assert!(c.store_url().starts_with("sqlite://"));
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let f = dir.path().join("m.toml");
        std::fs::write(&f, "max_upload_mb = 5\n[query]\ntimeout_secs = 7\n")
            .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!((c.max_upload_mb, c.query.timeout_secs), (5, 7));
        std::fs::write(
            &f,
            "[notifications]\nsmtp_url = \"smtp://127.0.0.1:2525\"\n[lifecycle]\npending_reminder_days = 5\n",
        )
        .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!(
            c.notifications.smtp_url.as_deref(),
            Some("smtp://127.0.0.1:2525")
        );
        assert_eq!(
            (
                c.lifecycle.pending_reminder_days,
                c.notifications.max_attempts
            ),
            (5, 10)
        );
        std::fs::write(&f, "bogus = 1\n").map_err(|e| e.to_string())?;
        assert!(Config::load(Some(&f)).is_err());
        std::fs::write(&f, "worker_lease_secs = 5\nworker_step_delay_ms = 20\n")
            .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!((c.worker_lease_secs, c.worker_step_delay_ms), (5, 20));
        std::fs::write(
            &f,
            "[notifications]\nwebhook_allow_hosts = [\"hooks.internal.example\", \"127.0.0.1\"]\n",
        )
        .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!(
            c.notifications.webhook_allow_hosts,
            ["hooks.internal.example", "127.0.0.1"]
        );
        Ok(())
    }

    #[test]
    fn classification_settings() -> Result<(), String> {
        let c = Config::load(None)?;
        assert_eq!(c.classification.mode(), ClassificationMode::Suggest);
        assert_eq!(c.classification.sample_values, 1000);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let f = dir.path().join("m.toml");
        std::fs::write(
            &f,
            "[classification]\nmode = \"apply\"\nsample_values = 50\n",
        )
        .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!(c.classification.mode, Some(ClassificationMode::Apply));
        assert_eq!(c.classification.sample_values, 50);
        c.classification.check()?;
        std::fs::write(&f, "[classification]\nmode = \"always\"\n").map_err(|e| e.to_string())?;
        assert!(Config::load(Some(&f)).is_err());
        let few = ClassificationSettings {
            sample_values: 5,
            ..Default::default()
        };
        assert!(few.check().is_err());
        Ok(())
    }

    #[test]
    fn identity_providers_from_a_file_one_or_several() -> Result<(), String> {
        assert!(Config::load(None)?.auth.oidc.is_empty());
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let f = dir.path().join("m.toml");
        std::fs::write(
            &f,
            "[auth.oidc]\nissuer = \"https://idp.example.com\"\nclient_id = \"meshgate\"\nprovision = \"on\"\n",
        )
        .map_err(|e| e.to_string())?;
        let c = Config::load(Some(&f))?;
        assert_eq!(c.auth.oidc.len(), 1);
        assert_eq!(c.auth.oidc[0].issuer, "https://idp.example.com");
        assert_eq!(c.auth.oidc[0].provision, meshgate_oidc::Provision::On);
        assert_eq!(c.auth.oidc[0].user_claim, "sub");
        std::fs::write(
            &f,
            "[[auth.oidc]]\nissuer = \"https://a.example.com\"\nclient_id = \"m\"\n[[auth.oidc]]\nissuer = \"https://b.example.com\"\nclient_id = \"m\"\n",
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(Config::load(Some(&f))?.auth.oidc.len(), 2);
        Ok(())
    }

    #[test]
    fn webhook_allow_hosts_from_the_environment() -> Result<(), String> {
        // What `Env` does with `MESHGATE_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS`: parse the value
        // as a figment value (`[a, b]` is a list, anything else one string) under the nested
        // key. A list and a comma-separated string give the same setting.
        let env = |value: &str| -> Result<Vec<String>, String> {
            let parsed: figment::value::Value = value.parse().map_err(|_| "unparsable")?;
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Serialized::default(
                    "notifications.webhook_allow_hosts",
                    parsed,
                ))
                .extract::<Config>()
                .map(|c| c.notifications.webhook_allow_hosts)
                .map_err(|e| e.to_string())
        };
        let want = ["hooks.internal.example", "127.0.0.1"];
        assert_eq!(env("hooks.internal.example, 127.0.0.1")?, want);
        assert_eq!(env("[hooks.internal.example, 127.0.0.1]")?, want);
        assert_eq!(env("[\"hooks.internal.example\", \"127.0.0.1\"]")?, want);
        assert_eq!(env("127.0.0.1")?, ["127.0.0.1"]);
        Ok(())
    }
}
