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

impl From<meshgate_core::Error> for ApiError {
    fn from(err: meshgate_core::Error) -> Self {
        let status = match err.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Internal => return ApiError::internal(err),
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

impl From<meshgate_engine::Error> for ApiError {
    fn from(err: meshgate_engine::Error) -> Self {
        use meshgate_engine::Error as E;
        let code = match &err {
            E::InvalidData { .. } => "invalid_data",
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        let body = json!({"error": {"code": self.code, "message": self.message, "request_id": request_id}});
        (self.status, Json(body)).into_response()
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
    /// `not_found`, `conflict`, `internal`, …
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
