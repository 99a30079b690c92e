//! meshgate-server: the HTTP surface and the background work of a meshgate process.
//!
//! - [`config`]: settings from file and environment.
//! - [`state`]: what handlers and workers share.
//! - [`auth`]: bearer tokens → the calling principal.
//! - [`routes`]: the REST API's core routes (docs/API.md), one resource module per area,
//!   thin handlers over [`identity`] (principals, groups, tokens), [`org`] (domains, teams),
//!   [`products`] (data products and uploads), [`shares`] (the share lifecycle), [`query`]
//!   (SQL) and [`audit`] (the audit log).
//! - [`files`]: a product's files (upload, list, download) and the signed download URLs
//!   served at `/files/v1/…`.
//! - [`catalog`]: listing states, metadata forms and rules, the glossary, classification,
//!   and search (a tantivy index kept in step with the store).
//! - [`worker`]: turns approvals and revocations into grants, and delivers notifications,
//!   from the outbox.
//! - [`notify`]: notifications derived from the audit log — the dispatcher, email and
//!   webhook delivery, and the inbox, contact and webhook API.
//! - [`sharing`]: the Delta Sharing server — the protocol's endpoints under
//!   `[sharing] prefix`, recipient tokens and profiles, signed file URLs, snapshots of
//!   filtered and masked items.
//! - [`mesh`]: `init`, and the quickstart's demo mesh.
//! - [`snapshot`]: the access snapshot — what a caller may read — for every data surface.
//! - [`openapi`]: the OpenAPI 3.1 document of the REST API, served at `/api/v1/openapi.json`.
//! - [`paths`]: the one guard every route's path parameters pass before its handler.
//! - [`scim`]: SCIM 2.0 provisioning of users and groups at `/scim/v2`, for SCIM tokens only.
//! - [`console`]: the web console at `/`, embedded in the binary, and the security headers
//!   of every answer.

pub mod access;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod console;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod files;
pub mod identity;
pub mod locations;
pub mod lookup;
pub mod mesh;
pub mod notify;
pub mod openapi;
pub mod org;
pub mod paths;
pub mod products;
pub mod query;
pub mod replicas;
pub mod routes;
pub mod rows;
pub mod sample;
pub mod scim;
pub mod shares;
pub mod sharing;
pub mod signin;
pub mod snapshot;
pub mod state;
pub mod views;
pub mod worker;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{Config, LogFormat};
pub use state::AppState;

use crate::error::{ApiError, REQUEST_ID};

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .nest(
            "/api/v1",
            // The control plane's writes are followed into the search index; the data
            // plane's (SQL, rows, files) change no catalog entry.
            routes::api(&state)
                .merge(access::routes())
                .merge(credentials::routes())
                .merge(locations::routes())
                .merge(catalog::routes())
                .merge(notify::routes())
                .merge(sharing::api_routes())
                .route_layer(middleware::from_fn_with_state(state.clone(), follow_writes))
                .merge(routes::data_plane())
                .merge(rows::routes())
                .merge(files::routes())
                .merge(openapi::routes())
                .route_layer(middleware::from_fn(paths::guard)),
        )
        .nest(&state.config.sharing.prefix, sharing::routes())
        .merge(signin::browser::routes())
        .merge(console::routes())
        .nest("/scim/v2", scim::routes())
        .merge(files::signed_routes().route_layer(middleware::from_fn(paths::guard)))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see docs/API.md",
            )
        });
    harden(app).with_state(state)
}

/// The layers every request passes through, outermost first: the request id, the security
/// headers of every answer (`console::headers`), then the panic guard. The router and the tests share them.
pub fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn(console::headers))
        .layer(middleware::from_fn(request_id))
}

/// Answers a request whose handler panicked with a 500 carrying the request id, and logs the
/// panic under that id, so one request's bug costs that request, not the process.
async fn catch_panic(req: Request, next: Next) -> Response {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            let request_id = REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default();
            tracing::error!(request_id = %request_id, panic = %message, "a request handler panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response()
        }
    }
}

/// After a write request, brings this process's caches up to date with what it committed
/// (the change feed, `replicas::feed`), so that a search right after a write sees it.
async fn follow_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let response = next.run(req).await;
    if writes {
        state.catch_up().await;
    }
    response
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, format!("ready ({})", state.store.backend())).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store is not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable").into_response()
        }
    }
}

/// Gives every request an id (the caller's `x-request-id` if it sent a sane one), logs the
/// request under it, makes it available to error bodies and audit events, and returns it.
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Sets up logging: `RUST_LOG` filters (default `info`), text or JSON lines on stderr.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,deltalake=warn,deltalake_core=warn,datafusion=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn,delta_kernel=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Serves until SIGINT/SIGTERM, then stops accepting, finishes in-flight requests and stops
/// the worker and the notification dispatcher.
pub async fn serve(state: AppState) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", state.config.listen))?;
    serve_on(state, listener, shutdown_signal()).await
}

/// Serves on an already bound listener until `shutdown` completes.
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // On SQLite this is the only process serving the data dir, so a leased job was leased by
    // an earlier run of it that stopped (or was killed) mid-job: end those leases now rather
    // than leave the jobs waiting `worker_lease_secs`. On PostgreSQL other replicas may hold
    // leases on live work; their leases run out by themselves.
    if state.store.backend() == meshgate_store::Backend::Sqlite.as_str() {
        match state.store.release_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "released the leases of an earlier run"),
            Err(e) => return Err(format!("cannot release the job leases: {e}")),
        }
    }
    let stop = CancellationToken::new();
    let background = background(&state, &stop);
    tracing::info!(
        listen = %state.config.listen,
        store = state.store.backend(),
        data_root = %state.data_root.url(),
        "meshgate is serving"
    );
    let app = router(state);
    // The peer address is known to handlers (Delta Sharing recipients' IP allow-lists).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // No Nagle delay: a streamed body's first bytes go out with its headers, not ~40 ms later
    // (the peer's delayed ACK), which every ranged file read would otherwise pay.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("server error: {e}"));
    stop.cancel();
    join_background(background).await;
    tracing::info!("meshgate stopped");
    result
}

/// The background loops of a serving process, each named and each stopped by `stop`: the
/// share worker, the change feed, the singleton leases, and the singleton tasks — the
/// notification dispatcher, the scheduler (expiry, reminders, verification), the Delta
/// Sharing snapshot collector, the audit digest signer and the audit stream — which act only while this replica holds their lease
/// (docs/design/REPLICAS.md).
fn background(state: &AppState, stop: &CancellationToken) -> JoinSet<&'static str> {
    let mut set = JoinSet::new();
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        worker::run(s, st).await;
        "the share worker"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        replicas::feed::run(s, st).await;
        "the change feed"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        replicas::singletons::run(s, st).await;
        "the singleton leases"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        notify::run_dispatcher(s, st).await;
        "the notification dispatcher"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        shares::run_scheduler(s, st).await;
        "the scheduler"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        sharing::collect_garbage(s, st).await;
        "the snapshot collector"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        audit::digests::run(s, st).await;
        "the audit digest signer"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        audit::stream::run(s, st).await;
        "the audit stream"
    });
    let s = state.clone();
    let st = stop.clone();
    set.spawn(async move {
        audit::alerts::run(s, st).await;
        "the unusual-read detector"
    });
    set
}

/// Waits for every background loop to stop (they were cancelled), at most 10 s in all; what
/// is still running then is named in the log and aborted.
async fn join_background(mut set: JoinSet<&'static str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(None) => return,
            Ok(Some(Ok(name))) => tracing::debug!("{name} stopped"),
            Ok(Some(Err(e))) => tracing::error!(error = %e, "a background loop failed"),
            Err(_) => {
                tracing::warn!(
                    running = set.len(),
                    "background loops did not stop within 10 s; aborting them"
                );
                set.shutdown().await;
                return;
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
