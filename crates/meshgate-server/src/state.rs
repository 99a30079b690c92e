//! What every handler and worker shares.

use std::sync::{Arc, Mutex};

use meshgate_authz::Authorizer;
use meshgate_engine::query::{QueryConfig, QueryEngine};
use meshgate_engine::storage::DataRoot;
use meshgate_store::Store;
use tokio::sync::Notify;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub authz: Arc<Authorizer>,
    pub engine: Arc<QueryEngine>,
    pub data_root: Arc<DataRoot>,
    pub config: Arc<Config>,
    /// Wakes the share worker right after a job is enqueued.
    pub wake_worker: Arc<Notify>,
    /// The subjects of the jobs this process's worker has finished (`worker::Finished`).
    pub finished_jobs: Arc<crate::worker::Finished>,
    /// The change feed: how far this process has followed the audit log into its caches
    /// (`replicas::feed`).
    pub feed: Arc<crate::replicas::cursor::Feed>,
    /// The singleton tasks' leases this process holds (`replicas::singletons`).
    pub leases: Arc<crate::replicas::leases::Leases>,
    /// Access snapshots by principal, each valid for the policy version it was resolved at
    /// (`snapshot`): any grant, membership or product change bumps the version, so a stale
    /// entry is never read.
    pub access: Arc<Mutex<crate::snapshot::access::AccessCache>>,
    /// Principals' team memberships and groups by policy version (`auth::view_of`), the same
    /// way.
    pub memberships: Arc<crate::auth::Memberships>,
    /// The credential signing key and this replica's revocation list (kept in step by the
    /// change feed).
    pub credentials: Arc<crate::credentials::keys::CredentialKeys>,
    /// Signs and verifies download URLs (a sub-key of the same mesh signing key).
    pub url_signer: Arc<meshgate_core::files::UrlSigner>,
    /// The catalog's search index, rebuilt from the store when the state is opened and kept
    /// in step by the change feed.
    pub catalog: Arc<crate::catalog::index::Catalog>,
    /// The HTTP client webhook deliveries are posted with.
    pub http: reqwest::Client,
    /// Materialised Delta Sharing snapshots of filtered and masked items.
    pub snapshots: Arc<meshgate_engine::sharing::SnapshotCache>,
    /// Sign-in with identity providers: bearer JWTs (`signin`).
    pub signin: Arc<crate::signin::tokens::SignIn>,
    /// The principals suspended after an unusual-read alert, refused on every surface
    /// (`auth::Caller::new`); kept in step by the change feed.
    pub suspended: Arc<crate::audit::alerts::Suspended>,
}

impl AppState {
    /// Opens the store (running migrations) and the engine.
    pub async fn open(config: Config) -> Result<AppState, String> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!(
                "cannot create data dir `{}`: {e}",
                config.data_dir.display()
            )
        })?;
        std::fs::create_dir_all(config.upload_dir())
            .map_err(|e| format!("cannot create the upload dir: {e}"))?;
        crate::notify::setup::check_config(&config.notifications)?;
        config.sharing.check()?;
        config.query.check()?;
        config.classification.check()?;
        config.audit.check()?;
        let signin = crate::signin::tokens::SignIn::new(&config.auth)?;
        let store = meshgate_store::connect(&config.store_url())
            .await
            .map_err(|e| format!("cannot open the store: {e}"))?;
        let authz = Authorizer::new()
            .map_err(|e| format!("cannot load the authorization policies: {e}"))?;
        let data_root = DataRoot::parse(&config.data_root()).map_err(|e| e.to_string())?;
        let engine = QueryEngine::new(QueryConfig {
            memory_limit_mb: config.query.memory_limit_mb,
            timeout: std::time::Duration::from_secs(config.query.timeout_secs),
            spill_dir: Some(config.data_dir.join("spill")),
            limits: meshgate_engine::query::Limits {
                max_bytes: config.query.max_sql_bytes,
                max_tokens: config.query.max_sql_tokens,
                max_depth: config.query.max_expr_depth,
            },
            plan_timeout: std::time::Duration::from_secs(config.query.plan_timeout_secs),
        })
        .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(config.data_dir.join("spill"))
            .map_err(|e| format!("cannot create the spill dir: {e}"))?;
        let key = store
            .signing_key()
            .await
            .map_err(|e| format!("cannot read the credential signing key: {e}"))?;
        let url_signer = meshgate_core::files::UrlSigner::new(&key)
            .map_err(|e| format!("cannot derive the URL signing key: {e}"))?;
        let credentials = crate::credentials::keys::CredentialKeys::new(key);
        let http = crate::notify::setup::webhook_client(&config.notifications)?;
        let state = AppState {
            store,
            authz: Arc::new(authz),
            engine: Arc::new(engine),
            data_root: Arc::new(data_root.clone()),
            config: Arc::new(config),
            wake_worker: Arc::new(Notify::new()),
            finished_jobs: Arc::new(crate::worker::Finished::default()),
            feed: Arc::new(crate::replicas::cursor::Feed::new()),
            leases: Arc::new(crate::replicas::leases::Leases::new()),
            access: Arc::new(Mutex::new(crate::snapshot::access::AccessCache::new(
                crate::snapshot::access::CAPACITY,
            ))),
            memberships: Arc::new(crate::auth::Memberships::default()),
            credentials: Arc::new(credentials),
            url_signer: Arc::new(url_signer),
            catalog: Arc::new(crate::catalog::index::Catalog::new()?),
            http,
            snapshots: Arc::new(
                meshgate_engine::sharing::SnapshotCache::open(&data_root)
                    .map_err(|e| e.to_string())?,
            ),
            signin: Arc::new(signin),
            suspended: Arc::new(crate::audit::alerts::Suspended::default()),
        };
        // The feed starts at the log's end before the first full reads of what it keeps in
        // step, so nothing committed in between is missed.
        state
            .feed
            .follow_from_now(state.store.as_ref())
            .await
            .map_err(|e| format!("cannot read the audit log: {}", e.message))?;
        crate::replicas::feed::refresh_revocations(&state)
            .await
            .map_err(|e| format!("cannot read the revoked credentials: {}", e.message))?;
        crate::audit::alerts::refresh_suspended(&state)
            .await
            .map_err(|e| format!("cannot read the suspended principals: {}", e.message))?;
        crate::catalog::index::rebuild(state.store.as_ref(), &state.catalog)
            .await
            .map_err(|e| format!("cannot build the catalog's search index: {}", e.message))?;
        Ok(state)
    }
}

/// What this process keeps of the store follows it through the change feed.
impl AppState {
    /// Brings this process's caches (the search index, the revocation list) up to date with
    /// every committed change they have not seen (`replicas::feed`): run after each write
    /// request (`lib.rs`) and by the feed's loop.
    pub async fn catch_up(&self) {
        crate::replicas::feed::catch_up(self).await;
    }

    /// Rebuilds the whole index: after a bulk seed (the quickstart's demo mesh).
    pub async fn rebuild_index(&self) -> crate::error::ApiResult<()> {
        crate::catalog::index::rebuild(self.store.as_ref(), &self.catalog).await
    }
}
