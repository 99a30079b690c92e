//! The audit stream to SIEM sinks (docs/design/AUDIT.md §Streaming): every event, reads
//! included, delivered at least once and in chain order to each sink of `[[audit.sinks]]` —
//! an HMAC-signed webhook or a directory of NDJSON files — with a durable cursor per sink in
//! the store, and a replay from any position (`POST /audit/sinks/{name}/replay`).
//!
//! The replica holding the `audit-stream` lease streams. It follows the chain by position,
//! not by `seq`: positions are given at commit under the chain head's lock, so once position
//! `p` is visible every position before it is too, and a cursor never steps over an event
//! that commits late. A batch is delivered, then the cursor moves (compare-and-set from where
//! it was): a crash in between delivers that batch again, which is the "at least once".
//! Consumers tell repeats apart by `chain.pos`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meshgate_core::model::{AuditCursor, AuditEvent, NewAuditEvent};
use meshgate_core::notify::webhook_signature;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;
use crate::config::AuditSink;
use crate::error::{ApiError, ApiResult};
use crate::replicas::singletons::Singleton;
use crate::state::AppState;

/// The longest wait between attempts at a failing sink.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one webhook delivery may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Streams to every configured sink until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let sinks = state.config.audit.sinks.clone();
    if sinks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the audit stream's HTTP client; not streaming");
            return;
        }
    };
    // Per sink: not before when it is tried again, and the current wait after failures.
    let mut next: Vec<(Instant, Duration)> = vec![(Instant::now(), Duration::ZERO); sinks.len()];
    let mut changes = state.store.changes();
    loop {
        let mut busy = false;
        if state.leases.holds(Singleton::AuditStream) {
            for (i, sink) in sinks.iter().enumerate() {
                if Instant::now() < next[i].0 {
                    continue;
                }
                match pump(&state, &client, sink).await {
                    Ok(moved) => {
                        next[i] = (Instant::now(), Duration::ZERO);
                        busy |= moved > 0;
                    }
                    Err(e) => {
                        let wait = (next[i].1 * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                        next[i] = (Instant::now() + wait, wait);
                        tracing::warn!(sink = %sink.name, error = %e, retry_in = ?wait, "audit stream delivery failed");
                        if let Err(e) = state
                            .store
                            .audit_cursor_failed(&cursor_name(sink), &e)
                            .await
                        {
                            tracing::warn!(sink = %sink.name, error = %e, "cannot record an audit sink failure");
                        }
                    }
                }
            }
        }
        if busy {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = changes.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The name of a sink's cursor in the store.
fn cursor_name(sink: &AuditSink) -> String {
    format!("sink:{}", sink.name)
}

/// Delivers the next batch of `sink`, if there is one; how many events it delivered.
async fn pump(
    state: &AppState,
    client: &reqwest::Client,
    sink: &AuditSink,
) -> Result<usize, String> {
    let store_err = |e: meshgate_core::Error| e.to_string();
    let cursor = state
        .store
        .audit_cursor(&cursor_name(sink))
        .await
        .map_err(store_err)?;
    let events = state
        .store
        .audit_chain(cursor.pos + 1, sink.batch)
        .await
        .map_err(store_err)?;
    let Some(last) = events.last().and_then(|e| e.chain.as_ref()).map(|l| l.pos) else {
        return Ok(0);
    };
    let body = ndjson(&events)?;
    match (&sink.webhook, &sink.file) {
        (Some(url), _) => post(client, sink, url, cursor.pos + 1, last, &body).await?,
        (None, Some(dir)) => {
            let dir = dir.clone();
            let rotate = sink.rotate_kib.saturating_mul(1024);
            let first = cursor.pos + 1;
            tokio::task::spawn_blocking(move || append(&dir, rotate, first, &body))
                .await
                .map_err(|e| format!("the file writer failed: {e}"))??;
        }
        (None, None) => return Err("the sink has neither a webhook nor a file".into()),
    }
    // Delivered; a cursor moved meanwhile (a replay) wins, and the next round starts there.
    state
        .store
        .advance_audit_cursor(&cursor_name(sink), cursor.pos, last)
        .await
        .map_err(store_err)?;
    Ok(events.len())
}

/// One event per line, as `GET /audit/chain` gives it (with its `chain` link).
fn ndjson(events: &[AuditEvent]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    for e in events {
        serde_json::to_writer(&mut body, e).map_err(|e| format!("cannot encode an event: {e}"))?;
        body.push(b'\n');
    }
    Ok(body)
}

/// POSTs a batch: NDJSON, `X-Meshgate-Signature: sha256=<HMAC of the body>`, and the range of
/// positions it holds. Anything but 2xx is a failure (the batch is sent again).
async fn post(
    client: &reqwest::Client,
    sink: &AuditSink,
    url: &str,
    first: i64,
    last: i64,
    body: &[u8],
) -> Result<(), String> {
    let secret = sink.secret.as_deref().unwrap_or_default();
    let signature = webhook_signature(secret, body).map_err(|e| e.to_string())?;
    let answer = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
        .header("X-Meshgate-Signature", signature)
        .header("X-Meshgate-Sink", sink.name.as_str())
        .header("X-Meshgate-Positions", format!("{first}-{last}"))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("cannot reach the sink: {e:#}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("the sink answered {}", answer.status()))
    }
}

/// Appends a batch to the newest file of `dir`, or starts `audit-<first>.ndjson` when there is
/// none or the newest holds `rotate` bytes already; flushed to disk before it returns.
fn append(dir: &Path, rotate: u64, first: i64, body: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let newest = newest_file(dir)?;
    let path = match newest {
        Some((path, size)) if size < rotate => path,
        _ => dir.join(format!("audit-{first:012}.ndjson")),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(body)
        .and_then(|()| file.sync_data())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The newest `audit-*.ndjson` of `dir` (names sort by first position) and its size.
fn newest_file(dir: &Path) -> Result<Option<(PathBuf, u64)>, String> {
    let mut newest: Option<PathBuf> = None;
    for entry in
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?
    {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("audit-")
            && name.ends_with(".ndjson")
            && newest.as_ref().is_none_or(|n| path > *n)
        {
            newest = Some(path);
        }
    }
    Ok(match newest {
        Some(path) => {
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .len();
            Some((path, size))
        }
        None => None,
    })
}

// ----- the API: where each sink is, and replays -----

/// One sink and how far behind it is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SinkView {
    pub name: String,
    /// `webhook` or `file`.
    pub kind: String,
    /// The last position delivered, and how many events the chain holds past it.
    pub pos: i64,
    pub behind: i64,
    #[schema(value_type = Option<String>)]
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub failures: i64,
    pub last_error: Option<String>,
}

/// `POST /audit/sinks/{name}/replay`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliver again from this chain position on (1: everything).
    pub from: i64,
}

fn view(sink: &AuditSink, cursor: &AuditCursor, head: i64) -> SinkView {
    SinkView {
        name: sink.name.clone(),
        kind: if sink.webhook.is_some() {
            "webhook"
        } else {
            "file"
        }
        .to_string(),
        pos: cursor.pos,
        behind: (head - cursor.pos).max(0),
        delivered_at: cursor.delivered_at,
        failures: cursor.failures,
        last_error: cursor.last_error.clone(),
    }
}

fn sink<'a>(state: &'a AppState, name: &str) -> ApiResult<&'a AuditSink> {
    state
        .config
        .audit
        .sinks
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found("audit sink", name))
}

/// `GET /audit/sinks`: the configured sinks (their destinations are not shown).
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<SinkView>> {
    super::may_read(state, caller)?;
    let head = state.store.audit_head().await?.pos;
    let mut out = Vec::new();
    for sink in &state.config.audit.sinks {
        let cursor = state.store.audit_cursor(&cursor_name(sink)).await?;
        out.push(view(sink, &cursor, head));
    }
    Ok(out)
}

/// `POST /audit/sinks/{name}/replay`: delivery starts again at `from`.
pub async fn replay(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: ReplayRequest,
) -> ApiResult<SinkView> {
    super::may_read(state, caller)?;
    let configured = sink(state, name)?;
    if req.from < 1 {
        return Err(ApiError::bad_request(
            "`from` is a chain position, 1 or more",
        ));
    }
    let event = NewAuditEvent::new(
        Some(caller.id()),
        "audit.sink_replay",
        "audit_sink",
        Some(name.to_string()),
    )
    .with_detail(serde_json::json!({ "from": req.from }));
    let cursor = cursor_name(configured);
    state
        .store
        .replay_audit_cursor(&cursor, req.from, event)
        .await?;
    let head = state.store.audit_head().await?.pos;
    let cursor = state.store.audit_cursor(&cursor).await?;
    Ok(view(configured, &cursor, head))
}
