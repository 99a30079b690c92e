//! A shared table's version, metadata, data files and change data feed, and the downloads of
//! the files the responses hand out.
//!
//! A table the recipient reads whole is answered with the table's own files. A table it reads
//! filtered or masked (row filters, kept columns, masks, row rules, a credential's tenant
//! scope) is answered with a materialised snapshot of exactly what its SQL would show, found
//! or made in the [`SnapshotCache`](meshgate_engine::sharing::SnapshotCache) under the key
//! (recipient, table, table version, fingerprint of the recipient's access); its change data
//! feed is not served (the raw changes would leak what the rules hide).
//!
//! File URLs are `{public_url}{prefix}/files/{table_id}/d/<file>` (a table file) or
//! `…/s/<snapshot>/<file>` (a snapshot file), with the recipient, the access fingerprint and
//! the expiry signed into them. A download re-checks that the recipient still reads the table
//! with the same fingerprint, so a revocation or a narrowed grant stops outstanding URLs.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use meshgate_core::credential::Claims;
use meshgate_core::files::SignedResource;
use meshgate_core::model::{NewAuditEvent, Outcome};
use meshgate_engine::sharing::{self as data, At, ChangeKind, DataFile, SnapshotCache};
use meshgate_sharing::capabilities::{
    Capabilities, ResponseFormat, response_header_with_end_stream,
};
use meshgate_sharing::hints::{FileValues, Predicate};
use meshgate_sharing::ndjson::{self, FileAction, MetadataExtra};
use meshgate_sharing::page::PageToken;
use meshgate_sharing::params::{CdfParams, parse_timestamp};
use meshgate_sharing::wire::{QueryRequest, QueryTarget};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::SharingResult;
use super::recipient::{Recipient, Shared, canonical, shared_tables};
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::files::SignedParams;
use crate::state::AppState;

/// The query key of the access fingerprint a file URL was signed with.
pub const POLICY_PARAM: &str = "X-Meshgate-Policy";

const CAPABILITIES: &str = "delta-sharing-capabilities";

async fn target(
    state: &AppState,
    r: &Recipient,
    share: &str,
    schema: &str,
    table: &str,
) -> ApiResult<Shared> {
    let mut tables = shared_tables(state, &r.caller).await?;
    // Names are case-insensitive (PROTOCOL.md): each part is resolved to its spelling.
    let found = {
        let s = canonical(tables.iter().map(|t| t.share.as_str()), share).unwrap_or(share);
        let sc = canonical(
            tables
                .iter()
                .filter(|t| t.share == s)
                .map(|t| t.schema.as_str()),
            schema,
        )
        .unwrap_or(schema);
        let n = canonical(
            tables
                .iter()
                .filter(|t| t.share == s && t.schema == sc)
                .map(|t| t.table.name.as_str()),
            table,
        )
        .unwrap_or(table);
        tables
            .iter()
            .position(|t| t.share == s && t.schema == sc && t.table.name == n)
    };
    match found {
        Some(i) => Ok(tables.swap_remove(i)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("table `{share}.{schema}.{table}` does not exist or is not shared with you"),
        )),
    }
}

pub(super) fn location(t: &Shared) -> ApiResult<url::Url> {
    url::Url::parse(&t.table.location).map_err(ApiError::internal)
}

/// Where the files of a served version are.
#[derive(Debug, Clone)]
enum Source {
    /// The table's own files.
    Table,
    /// A snapshot folder under the snapshots root.
    Snapshot(String),
}

/// One version of a shared table as this recipient reads it.
pub(super) struct Served {
    version: i64,
    protocol: Value,
    metadata: Value,
    files: Vec<DataFile>,
    source: Source,
    policy: String,
}

impl Served {
    fn filtered(&self) -> bool {
        matches!(self.source, Source::Snapshot(_))
    }
}

/// Loads `at` of the table and, when the recipient may not read it whole, finds or makes its
/// snapshot.
pub(super) async fn serve_version(
    state: &AppState,
    r: &Recipient,
    t: &Shared,
    at: At,
) -> ApiResult<Served> {
    let location = location(t)?;
    let table = data::open_at(&location, at).await?;
    let version = data::describe(&location, &table)?;
    let policy = data::access_fingerprint(&t.access);
    if data::reads_raw(&table, &t.access)? {
        return Ok(Served {
            version: version.version,
            protocol: version.protocol,
            metadata: version.metadata,
            files: version.files,
            source: Source::Table,
            policy: url_policy(r, policy),
        });
    }
    let key = SnapshotCache::key(
        &r.id().to_string(),
        &t.table.id.to_string(),
        version.version,
        &policy,
    );
    let name = t.table.name.clone();
    let access = t.access.clone();
    let started = std::time::Instant::now();
    let snapshot = state
        .snapshots
        .get_or_make(&key, |dest| async move {
            data::materialise(&table, &access, &dest, &name)
                .await
                .map(|_| ())
        })
        .await?;
    tracing::debug!(
        table = %t.full_name(),
        ms = started.elapsed().as_millis() as u64,
        "snapshot ready"
    );
    let snap = data::table_version(&snapshot.location, At::Latest).await?;
    // The snapshot is a table of its own; the recipient sees the shared table's identity and
    // version, with the schema it may read.
    let mut metadata = snap.metadata;
    if let (Some(m), Some(id)) = (metadata.as_object_mut(), version.metadata.get("id")) {
        m.insert("id".into(), id.clone());
        for key in ["name", "description"] {
            if let Some(v) = version.metadata.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
    }
    Ok(Served {
        version: version.version,
        protocol: snap.protocol,
        metadata,
        files: snap.files,
        source: Source::Snapshot(snapshot.dir),
        policy: url_policy(r, policy),
    })
}

/// What a file URL carries as its policy: the fingerprint of the recipient's access and, when
/// it reads through a credential (a session policy), the credential's id, so that a download
/// is re-checked under that credential, and refused once it expired or was revoked.
fn url_policy(r: &Recipient, fingerprint: String) -> String {
    match &r.caller.session {
        Some(session) => format!("{fingerprint}.{}", session.id),
        None => fingerprint,
    }
}

/// The session of the credential a file URL was handed out under, while it is valid.
pub(super) async fn credential_session(
    state: &AppState,
    id: Uuid,
    principal: Uuid,
) -> ApiResult<Claims> {
    match state.store.get_credential(id).await? {
        Some(c)
            if c.principal_id == principal
                && c.revoked_at.is_none()
                && c.expires_at > Utc::now() =>
        {
            Ok(Claims {
                id: c.id,
                principal_id: c.principal_id,
                policy: c.policy,
                issued_at: c.created_at,
                expires_at: c.expires_at,
            })
        }
        _ => Err(ApiError::forbidden(
            "the credential this URL was handed out under expired or was revoked; query the table again",
        )),
    }
}

/// The signed URL of a file of `served`.
fn file_url(
    state: &AppState,
    r: &Recipient,
    t: &Shared,
    policy: &str,
    source: &Source,
    file: &str,
    expires: i64,
) -> ApiResult<String> {
    let path = match source {
        Source::Table => format!("d/{file}"),
        Source::Snapshot(dir) => format!("s/{dir}/{file}"),
    };
    let resource = SignedResource::SharingFile {
        table_id: t.table.id,
        policy,
        path: &path,
    };
    let signature = state.url_signer.sign(&resource, r.id(), expires)?;
    let base = state.config.public_url();
    let mut url = url::Url::parse(&base)
        .map_err(|e| ApiError::internal(format!("`public_url` `{base}` is not a URL: {e}")))?;
    let id = t.table.id.to_string();
    {
        let mut segments = url.path_segments_mut().map_err(|()| {
            ApiError::internal(format!("`public_url` `{base}` cannot take a path"))
        })?;
        segments.pop_if_empty();
        segments.extend(
            state
                .config
                .sharing
                .prefix
                .trim_start_matches('/')
                .split('/'),
        );
        segments.extend(["files", id.as_str()]);
        segments.extend(path.split('/'));
    }
    url.query_pairs_mut().append_pair(POLICY_PARAM, policy);
    SignedParams {
        principal: r.id(),
        expires,
        signature: &signature,
    }
    .append_to(&mut url);
    Ok(url.to_string())
}

/// How a response derives its files' ids, by the request header `fileidhash`. The published
/// PROTOCOL.md does not describe the header; the reference server's behaviour, which other
/// servers follow, is: `parquet` asks for MD5 ids, `delta` for SHA-256 ids (case-insensitive),
/// anything else is a 400. Without it, meshgate's own ids (the first 128 bits of a SHA-256).
/// Whichever is used, the same file of the same table gets the same id in every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileIds {
    Default,
    Md5,
    Sha256,
}

const FILE_ID_HASH: &str = "fileidhash";

impl FileIds {
    fn from_headers(headers: &HeaderMap) -> ApiResult<Self> {
        let Some(value) = headers.get(FILE_ID_HASH) else {
            return Ok(FileIds::Default);
        };
        let bad = || {
            ApiError::bad_request(
                "the `fileidhash` header must be `parquet` (MD5 file ids) or `delta` (SHA-256 file ids)",
            )
        };
        let value = value.to_str().map_err(|_| bad())?.trim();
        if value.eq_ignore_ascii_case("parquet") {
            Ok(FileIds::Md5)
        } else if value.eq_ignore_ascii_case("delta") {
            Ok(FileIds::Sha256)
        } else {
            Err(bad())
        }
    }
}

/// A stable id of a file: the same file of the same table gets the same id in every response.
fn file_id(t: &Shared, source: &Source, path: &str, ids: FileIds) -> String {
    use md5::Md5;
    use sha2::{Digest, Sha256};
    let scope = match source {
        Source::Table => "d".to_string(),
        Source::Snapshot(dir) => format!("s/{dir}"),
    };
    let input = format!("{}\n{scope}\n{path}", t.table.id);
    match ids {
        FileIds::Default => hex::encode(&Sha256::digest(input.as_bytes())[..16]),
        FileIds::Md5 => hex::encode(Md5::digest(input.as_bytes())),
        FileIds::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
    }
}

fn expiry(state: &AppState) -> i64 {
    let ttl = i64::try_from(state.config.sharing.url_ttl_secs).unwrap_or(i64::MAX / 2);
    (Utc::now() + Duration::seconds(ttl)).timestamp()
}

#[expect(
    clippy::too_many_arguments,
    reason = "the fields of one file line, each from a different place"
)]
fn action(
    state: &AppState,
    r: &Recipient,
    t: &Shared,
    served_policy: &str,
    source: &Source,
    f: &DataFile,
    expires: i64,
    version: Option<i64>,
    timestamp: Option<i64>,
    ids: FileIds,
) -> ApiResult<FileAction> {
    Ok(FileAction {
        url: file_url(state, r, t, served_policy, source, &f.path, expires)?,
        id: file_id(t, source, &f.path, ids),
        partition_values: f.partition_values.clone(),
        size: f.size,
        stats: f.stats.clone(),
        modification_time: f.modification_time,
        version,
        timestamp,
        expiration_timestamp: Some(expires.saturating_mul(1000)),
        deletion_vector: None,
    })
}

/// An NDJSON response with the table version and the chosen format in its headers.
fn ndjson_response(
    lines: Vec<String>,
    version: i64,
    format: Option<ResponseFormat>,
    end_stream: bool,
) -> Response {
    let mut body = lines.join("\n");
    body.push('\n');
    let mut response = (StatusCode::OK, Body::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        headers.insert("delta-table-version", v);
    }
    if let Some(f) = format
        && let Ok(v) = HeaderValue::from_str(&response_header_with_end_stream(f, end_stream))
    {
        headers.insert(CAPABILITIES, v);
    }
    response
}

fn capabilities(headers: &HeaderMap) -> Capabilities {
    Capabilities::parse(headers.get(CAPABILITIES).and_then(|v| v.to_str().ok()))
}

pub(super) async fn audit(
    state: &AppState,
    r: &Recipient,
    action: &str,
    t: &Shared,
    outcome: Outcome,
    detail: Value,
) -> ApiResult<()> {
    let mut detail = detail;
    if let Some(d) = detail.as_object_mut() {
        d.insert("table".into(), json!(t.full_name()));
    }
    let e = NewAuditEvent::new(Some(r.id()), action, "table", Some(t.table.id.to_string()))
        .with_outcome(outcome)
        .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(detail);
    state.store.append_audit(e).await?;
    Ok(())
}

// ----- version -----

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionQuery {
    #[serde(default)]
    starting_timestamp: Option<String>,
}

async fn version_of(
    state: &AppState,
    r: &Recipient,
    share: &str,
    schema: &str,
    table: &str,
    q: &VersionQuery,
) -> ApiResult<Response> {
    let t = target(state, r, share, schema, table).await?;
    let location = location(&t)?;
    let version = match q.starting_timestamp.as_deref() {
        Some(ts) => {
            let ts = parse_timestamp(ts)
                .map_err(|e| ApiError::bad_request(format!("startingTimestamp: {e}")))?;
            data::first_version_after(&location, ts).await?
        }
        None => data::latest_version(&location).await?,
    };
    let mut response = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        response.headers_mut().insert("delta-table-version", v);
    }
    Ok(response)
}

pub async fn version(
    State(state): State<AppState>,
    r: Recipient,
    Path((share, schema, table)): Path<(String, String, String)>,
    Query(q): Query<VersionQuery>,
) -> SharingResult<Response> {
    Ok(version_of(&state, &r, &share, &schema, &table, &q).await?)
}

/// The deprecated `HEAD …/tables/{table}`: the version in the header.
pub async fn version_head(
    State(state): State<AppState>,
    r: Recipient,
    Path((share, schema, table)): Path<(String, String, String)>,
) -> SharingResult<Response> {
    Ok(version_of(
        &state,
        &r,
        &share,
        &schema,
        &table,
        &VersionQuery::default(),
    )
    .await?)
}

// ----- metadata -----

/// `GET …/metadata`'s query: the version to describe, by number or time (the reference
/// server's parameters; both at once is a 400).
#[derive(Debug, Default, serde::Deserialize)]
pub struct MetadataQuery {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

impl MetadataQuery {
    fn at(&self) -> ApiResult<At> {
        match (self.version.as_deref(), self.timestamp.as_deref()) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "give at most one of `version` and `timestamp`",
            )),
            (Some(v), None) => match v.trim().parse::<i64>() {
                Ok(v) if v >= 0 => Ok(At::Version(v)),
                _ => Err(ApiError::bad_request(
                    "version: must be a non-negative integer",
                )),
            },
            (None, Some(ts)) => parse_timestamp(ts)
                .map(At::Timestamp)
                .map_err(ApiError::from),
            (None, None) => Ok(At::Latest),
        }
    }
}

pub async fn metadata(
    State(state): State<AppState>,
    r: Recipient,
    headers: HeaderMap,
    Path((share, schema, table)): Path<(String, String, String)>,
    Query(q): Query<MetadataQuery>,
) -> SharingResult<Response> {
    let at = q.at()?;
    let t = target(&state, &r, &share, &schema, &table).await?;
    let served = serve_version(&state, &r, &t, at).await?;
    let format = capabilities(&headers).choose(needs_delta(&served.protocol))?;
    let lines = vec![
        ndjson::protocol_line(format, &served.protocol),
        ndjson::metadata_line(
            format,
            &served.metadata,
            &MetadataExtra {
                version: Some(served.version),
                size: Some(served.files.iter().map(|f| f.size).sum()),
                num_files: Some(served.files.len() as i64),
            },
        ),
    ];
    audit(
        &state,
        &r,
        "sharing.metadata",
        &t,
        Outcome::Success,
        json!({"version": served.version, "format": format.as_str(), "filtered": served.filtered()}),
    )
    .await?;
    Ok(ndjson_response(lines, served.version, Some(format), false))
}

fn needs_delta(protocol: &Value) -> bool {
    protocol
        .get("minReaderVersion")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        > 1
}

// ----- query -----

/// Files of `files` that may hold rows the hint admits (an invalid hint filters nothing), and
/// whether a hint was applied.
fn prune(files: Vec<DataFile>, hint: Option<&str>) -> (Vec<DataFile>, &'static str) {
    let Some(text) = hint.filter(|h| !h.trim().is_empty()) else {
        return (files, "none");
    };
    let predicate = match Predicate::parse(text) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring an invalid jsonPredicateHints");
            return (files, "invalid");
        }
    };
    let kept = files
        .into_iter()
        .filter(|f| {
            let stats: Option<Value> = f
                .stats
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            predicate.may_match(&FileValues {
                partition_values: &f.partition_values,
                stats: stats.as_ref(),
            })
        })
        .collect();
    (kept, "applied")
}

/// The first files that together hold at least `limit` rows (by their statistics; a file
/// without a row count counts as none, so nothing is cut that might be needed).
fn limit_files(files: Vec<DataFile>, limit: Option<i64>) -> Vec<DataFile> {
    let Some(limit) = limit else {
        return files;
    };
    let mut rows = 0i64;
    let mut out = Vec::new();
    for f in files {
        if rows >= limit && !out.is_empty() {
            break;
        }
        rows += f
            .stats
            .as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|s| s.get("numRecords").and_then(Value::as_i64))
            .unwrap_or(0);
        out.push(f);
    }
    out
}

pub async fn query(
    State(state): State<AppState>,
    r: Recipient,
    headers: HeaderMap,
    Path((share, schema, table)): Path<(String, String, String)>,
    body: Bytes,
) -> SharingResult<Response> {
    let ids = FileIds::from_headers(&headers)?;
    let t = target(&state, &r, &share, &schema, &table).await?;
    let req = QueryRequest::parse(&body)?;
    let caps = capabilities(&headers);
    let at = match req.validate()? {
        QueryTarget::Latest => At::Latest,
        QueryTarget::Version(v) => At::Version(v),
        QueryTarget::Timestamp(t) => At::Timestamp(t),
        QueryTarget::Changes {
            starting_version,
            ending_version,
        } => {
            return Ok(
                query_since(&state, &r, &t, &caps, ids, starting_version, ending_version).await?,
            );
        }
    };
    // Pages of files, when the client asks for them (`maxFiles`, `pageToken`). A page token
    // holds the version of the first page: later pages read that version even after new
    // commits (the clients refuse pages of different versions).
    let binding = format!(
        "query|{}|{}|{}|{:?}|{:?}|{:?}",
        r.id(),
        t.table.id,
        data::access_fingerprint(&t.access),
        at,
        req.json_predicate_hints,
        req.limit_hint
    );
    let secret = state
        .url_signer
        .derive_key("meshgate delta sharing page tokens v1")?;
    let (at, start) = match req.page_token.as_deref().filter(|p| !p.is_empty()) {
        Some(token) => PageToken::decode(&secret, &binding, token)?
            .split_once(':')
            .and_then(|(v, o)| Some((At::Version(v.parse().ok()?), o.parse::<usize>().ok()?)))
            .ok_or_else(|| ApiError::bad_request("invalid pageToken"))?,
        None => (at, 0),
    };
    let served = serve_version(&state, &r, &t, at).await?;
    let format = caps.choose(needs_delta(&served.protocol))?;
    let total = served.files.len();
    let (files, hints) = prune(served.files.clone(), req.json_predicate_hints.as_deref());
    let files = limit_files(files, req.limit_hint);
    let paged = req.max_files.is_some() || req.page_token.is_some();
    let max = req.max_files.map_or(usize::MAX, |m| {
        usize::try_from(m.max(1)).unwrap_or(usize::MAX)
    });
    let page: Vec<&DataFile> = files.iter().skip(start).take(max).collect();
    let next = start.saturating_add(page.len());
    let next_token = (paged && next < files.len())
        .then(|| PageToken::encode(&secret, &binding, &format!("{}:{next}", served.version)));

    let expires = expiry(&state);
    let mut lines = Vec::with_capacity(page.len() + 3);
    // Every page starts with the protocol and metadata: the Spark client checks that they are
    // the same on each page as on the first.
    lines.push(ndjson::protocol_line(format, &served.protocol));
    lines.push(ndjson::metadata_line(
        format,
        &served.metadata,
        &MetadataExtra::at(served.version),
    ));
    let mut bytes = 0i64;
    for f in &page {
        bytes += f.size;
        let a = action(
            &state,
            &r,
            &t,
            &served.policy,
            &served.source,
            f,
            expires,
            None,
            None,
            ids,
        )?;
        lines.push(ndjson::file_line(format, &a));
    }
    let end_stream = paged || caps.include_end_stream_action;
    if end_stream {
        lines.push(end_stream_action(next_token.as_deref(), expires));
    }
    audit(
        &state,
        &r,
        "sharing.query",
        &t,
        Outcome::Success,
        json!({
            "version": served.version, "format": format.as_str(), "filtered": served.filtered(),
            "files": page.len(), "files_in_version": total, "bytes": bytes,
            "hints": hints, "limit_hint": req.limit_hint,
        }),
    )
    .await?;
    Ok(ndjson_response(
        lines,
        served.version,
        Some(format),
        end_stream,
    ))
}

/// `query` with `startingVersion`: the files each version from it on added, with their
/// versions and commit times (what streaming readers follow). Whole-table readers only.
async fn query_since(
    state: &AppState,
    r: &Recipient,
    t: &Shared,
    caps: &Capabilities,
    ids: FileIds,
    start: i64,
    end: Option<i64>,
) -> ApiResult<Response> {
    let location = location(t)?;
    let latest = data::open_at(&location, At::Latest).await?;
    if !data::reads_whole(&latest, &t.access)? {
        return Err(filtered_refusal(t, "startingVersion"));
    }
    if let Some(why) = data::raw_changes_refusal(&latest) {
        return Err(unservable_changes(t, "startingVersion", &why));
    }
    let changes = data::file_changes(&location, start, end, false).await?;
    let policy = url_policy(r, data::access_fingerprint(&t.access));
    let format = caps.choose(needs_delta(&changes.protocol))?;
    let expires = expiry(state);
    let mut lines = changes_head(format, &changes);
    let mut files = 0usize;
    for c in changes.changes.iter().filter(|c| c.kind == ChangeKind::Add) {
        let a = action(
            state,
            r,
            t,
            &policy,
            &Source::Table,
            &c.file,
            expires,
            Some(c.version),
            Some(c.timestamp),
            ids,
        )?;
        lines.push(ndjson::file_line(format, &a));
        files += 1;
    }
    if caps.include_end_stream_action {
        lines.push(end_stream_action(None, expires));
    }
    audit(
        state,
        r,
        "sharing.query",
        t,
        Outcome::Success,
        json!({"starting_version": start, "ending_version": changes.end, "files": files, "format": format.as_str()}),
    )
    .await?;
    Ok(ndjson_response(
        lines,
        changes.start,
        Some(format),
        caps.include_end_stream_action,
    ))
}

/// The first lines of a changes answer: the protocol, and the metadata at its first version.
fn changes_head(format: ResponseFormat, changes: &data::TableChanges) -> Vec<String> {
    vec![
        ndjson::protocol_line(format, &changes.protocol),
        ndjson::metadata_line(format, &changes.metadata, &MetadataExtra::at(changes.start)),
    ]
}

/// The `endStreamAction` line: the next page's token, and when the URLs above expire.
fn end_stream_action(next_page_token: Option<&str>, expires: i64) -> String {
    ndjson::end_stream_line(next_page_token, None, Some(expires.saturating_mul(1000)))
}

fn filtered_refusal(t: &Shared, what: &str) -> ApiError {
    ApiError::forbidden(format!(
        "`{what}` is not available for `{}`: your access to it is filtered or masked, and its raw changes would show what that hides; read snapshots with `query` instead",
        t.full_name()
    ))
}

/// The change data feed of a table whose change files mean more than they say on their own
/// (deletion vectors, column mapping): not served, for anyone.
fn unservable_changes(t: &Shared, what: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "`{what}` is not available for `{}`: {why}, and its change files are not served; read snapshots with `query` instead",
        t.full_name()
    ))
}

// ----- changes -----

pub async fn changes(
    State(state): State<AppState>,
    r: Recipient,
    headers: HeaderMap,
    Path((share, schema, table)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> SharingResult<Response> {
    let ids = FileIds::from_headers(&headers)?;
    let t = target(&state, &r, &share, &schema, &table).await?;
    let params = CdfParams::parse(&q)?;
    let location = location(&t)?;
    let latest = data::open_at(&location, At::Latest).await?;
    // Whether the recipient reads the whole table decides, not the table's reader version: a
    // whole-table reader of a `timestamp_ntz` table (reader version 3) reads its feed in the
    // `delta` format.
    if !data::reads_whole(&latest, &t.access)? {
        audit(
            &state,
            &r,
            "sharing.changes",
            &t,
            Outcome::Denied,
            json!({"reason": "filtered"}),
        )
        .await?;
        return Err(filtered_refusal(&t, "changes").into());
    }
    if let Some(why) = data::raw_changes_refusal(&latest) {
        return Err(unservable_changes(&t, "changes", &why).into());
    }
    let start = match (params.starting_version, params.starting_timestamp) {
        (Some(v), _) => v,
        (None, Some(ts)) => data::first_version_after(&location, ts).await?,
        (None, None) => {
            return Err(ApiError::bad_request("give startingVersion or startingTimestamp").into());
        }
    };
    let end = match (params.ending_version, params.ending_timestamp) {
        (Some(v), _) => Some(v),
        (None, Some(ts)) => Some(data::version_at(&location, ts).await?),
        (None, None) => None,
    };
    let changes = data::file_changes(&location, start, end, true).await?;
    let caps = capabilities(&headers);
    let format = caps.choose(needs_delta(&changes.protocol))?;
    let policy = url_policy(&r, data::access_fingerprint(&t.access));
    let expires = expiry(&state);
    let mut lines = changes_head(format, &changes);
    let mut metadata_changes = changes.metadata_changes.iter().peekable();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    for c in &changes.changes {
        while let Some((v, m)) = metadata_changes.peek() {
            if *v > c.version {
                break;
            }
            if params.include_historical_metadata {
                lines.push(ndjson::metadata_line(format, m, &MetadataExtra::at(*v)));
            }
            metadata_changes.next();
        }
        let a = action(
            &state,
            &r,
            &t,
            &policy,
            &Source::Table,
            &c.file,
            expires,
            Some(c.version),
            Some(c.timestamp),
            ids,
        )?;
        let (kind, name) = match c.kind {
            ChangeKind::Add => (ndjson::ChangeKind::Add, "add"),
            ChangeKind::Remove => (ndjson::ChangeKind::Remove, "remove"),
            ChangeKind::Cdc => (ndjson::ChangeKind::Cdf, "cdf"),
        };
        *counts.entry(name).or_default() += 1;
        lines.push(ndjson::change_line(format, kind, &a));
    }
    if caps.include_end_stream_action {
        lines.push(end_stream_action(None, expires));
    }
    audit(
        &state,
        &r,
        "sharing.changes",
        &t,
        Outcome::Success,
        json!({"starting_version": changes.start, "ending_version": changes.end,
               "files": counts, "format": format.as_str()}),
    )
    .await?;
    Ok(ndjson_response(
        lines,
        changes.start,
        Some(format),
        caps.include_end_stream_action,
    ))
}
