//! The one error type of the HTTP edge and its JSON body
//! `{"error":{"code","message","request_id"}}`. 4xx say what to fix; 5xx say nothing beyond
//! "internal error" and are logged with their cause under the request id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meshgate_core::error::ErrorKind;
use serde_json::json;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn not_found(what: &str, name: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} `{name}` not found"),
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl ApiError {
    /// The store (or another service the answer needs) cannot be reached for now: 503 with
    /// `Retry-After`, the cause logged, never sent (docs/design/REPLICAS.md §Store outages).
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(cause = %cause, "service unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store is unavailable for now; retry shortly",
        )
    }
}

impl From<meshgate_core::Error> for ApiError {
    fn from(err: meshgate_core::Error) -> Self {
        let status = match err.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Internal => return ApiError::internal(err),
            ErrorKind::Unavailable => return ApiError::unavailable(err),
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

impl From<meshgate_engine::Error> for ApiError {
    fn from(err: meshgate_engine::Error) -> Self {
        use meshgate_engine::Error as E;
        let code = match &err {
            E::InvalidData { .. } => "invalid_data",
            E::Conflict { .. } => return ApiError::conflict(err.to_string()),
            E::Sql { .. } => "invalid_sql",
            E::MemoryLimit { .. } => "query_memory_limit",
            E::Timeout { .. } | E::PlanTimeout { .. } => "query_timeout",
            E::TooComplex { .. } => "query_too_complex",
            E::Storage { .. } | E::Internal { .. } => return ApiError::internal(err),
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, err.to_string())
    }
}

/// The request id of the request being answered, set by the request-id middleware so error
/// bodies can carry it without every handler threading it through.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    pub static REQUEST_ID: String;
}

/// The most characters of a message an error body carries.
const MAX_MESSAGE_CHARS: usize = 1000;

/// What an error body may say of `message`: never a backtrace (a library's error may carry
/// one when `RUST_BACKTRACE` is set: it is cut off with everything after it), never a
/// location on the server (absolute file paths, storage URLs such as `file://…` or
/// `s3://…`, source locations such as `src/x.rs:12`: each becomes `[path]`), and at most
/// [`MAX_MESSAGE_CHARS`] characters. Every error body of the REST API and of Delta Sharing is
/// made from its message through this, so no code path can leak them.
pub fn public_message(message: &str) -> String {
    // A backtrace starts at a line that names it or at its first frame (`  0: …`, `at …`).
    let mut kept = String::with_capacity(message.len());
    for line in message.lines() {
        let t = line.trim_start();
        let frame = t
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            || t.starts_with("at /")
            || t.starts_with("at ./");
        if frame {
            break;
        }
        if let Some(i) = line.to_lowercase().find("backtrace") {
            kept.push_str(line.get(..i).unwrap_or_default());
            break;
        }
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(line);
    }
    let cut = kept
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '(' | '[' | ',' | '-'));
    let mut out = String::with_capacity(cut.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        // Sentence punctuation after a path is not part of it.
        let core = token.trim_end_matches([':', '.', '!', '?']);
        if looks_like_a_location(core) {
            let tail = token.get(core.len()..).unwrap_or_default();
            out.push_str("[path]");
            out.push_str(tail);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in cut.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                '`' | '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | ';'
            )
        {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    let out = out.trim();
    if out.is_empty() {
        return "the request failed".to_string();
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        let mut short: String = out.chars().take(MAX_MESSAGE_CHARS).collect();
        short.push('…');
        short
    } else {
        out.to_string()
    }
}

/// Whether one word of a message names a place on the server: a storage URL, an absolute
/// path of two or more segments (the REST API's own `/api/…` routes excepted), or a source
/// file.
fn looks_like_a_location(token: &str) -> bool {
    const SCHEMES: &[&str] = &[
        "file:",
        "s3://",
        "s3a://",
        "gs://",
        "gcs://",
        "az://",
        "azure://",
        "abfs://",
        "abfss://",
        "adl://",
        "hdfs://",
        "memory://",
    ];
    let lower = token.to_ascii_lowercase();
    if SCHEMES.iter().any(|s| lower.starts_with(s)) {
        return true;
    }
    if lower.contains(".rs:") || lower.ends_with(".rs") || lower.contains("/src/") {
        return true;
    }
    let Some(rest) = token.strip_prefix('/') else {
        return false;
    };
    if token.starts_with("/api/") {
        return false;
    }
    rest.split('/').filter(|s| !s.is_empty()).count() >= 2
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        let message = public_message(&self.message);
        let body =
            json!({"error": {"code": self.code, "message": message, "request_id": request_id}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

// ----- the error model of the OpenAPI document (`openapi.rs`) -----

/// The body of every error response: `{"error": {"code", "message", "request_id"}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Error {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// A stable, machine-readable code: `invalid_request`, `unauthenticated`, `forbidden`,
    /// `not_found`, `conflict`, `internal`, `unavailable`, …
    pub code: String,
    /// What to fix (4xx), or `internal error` (5xx).
    pub message: String,
    /// The id of the request (also in the `x-request-id` response header), for the logs.
    pub request_id: Option<String>,
}

/// The error responses every operation may answer with.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ApiErrors {
    /// The request is malformed: body, query string or a value in it.
    #[response(status = 400)]
    BadRequest(Error),
    /// No bearer token, or one that is unknown, expired or revoked.
    #[response(status = 401)]
    Unauthenticated(Error),
    /// The caller may not do this.
    #[response(status = 403)]
    Forbidden(Error),
    /// No such thing, or one the caller may not see.
    #[response(status = 404)]
    NotFound(Error),
    /// The request conflicts with the current state (exists already, wrong state, …).
    #[response(status = 409)]
    Conflict(Error),
    /// Any other error status (413 for a body over the limit, 500 for an internal error, …).
    #[response(status = "default")]
    Other(Error),
}

#[cfg(test)]
mod tests {
    use super::public_message;

    #[test]
    fn messages_lose_backtraces_locations_and_length() {
        let with_frames = "Invalid data type for Delta Lake: Timestamp(Microsecond, Some(\"Europe/Berlin\"))\n   0: std::backtrace_rs::backtrace::libunwind::trace\n             at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:116:5\n   1: buoyant_kernel::error::Error::with_backtrace";
        assert_eq!(
            public_message(with_frames),
            "Invalid data type for Delta Lake: Timestamp(Microsecond, Some(\"Europe/Berlin\"))"
        );
        assert_eq!(
            public_message("Arrow error: bad value\n\nbacktrace: crates/x/src/lib.rs:12"),
            "Arrow error: bad value"
        );
        assert_eq!(
            public_message("Backtrace:\n  0: main"),
            "the request failed"
        );
        for (input, output) in [
            (
                "`file:///var/lib/meshgate/data/t/` is not a Delta table",
                "`[path]` is not a Delta table",
            ),
            (
                "cannot open /home/x/data/part-0.parquet: denied",
                "cannot open [path]: denied",
            ),
            ("at crates/meshgate-engine/src/ingest.rs:42:7", "at [path]"),
            (
                "cannot read s3://bucket/mesh/t (403)",
                "cannot read [path] (403)",
            ),
        ] {
            assert_eq!(public_message(input), output, "{input}");
        }
        // What must stay: the API's routes, names, single-segment paths, URLs of the web.
        for kept in [
            "set one with `PUT /api/v1/contacts/me`",
            "sharing.prefix `/delta-sharing` must start with `/`",
            "table `sales.ledger.ledger` does not exist",
            "the timestamp 2024-01-01T00:00:00+00:00 is after the latest version",
            "see https://example.com/docs/a/b",
        ] {
            assert_eq!(public_message(kept), kept);
        }
        let long = "x".repeat(5000);
        let short = public_message(&long);
        assert_eq!(short.chars().count(), 1001);
        assert!(short.ends_with('…'));
    }
}
