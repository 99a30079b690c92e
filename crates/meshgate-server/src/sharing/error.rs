//! The protocol's error shape: every failure of a Delta Sharing endpoint is `{errorCode,
//! message}` with the status the protocol gives it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meshgate_sharing::wire::{ErrorBody, error_code};

use crate::error::{ApiError, REQUEST_ID, public_message};

/// An error in the protocol's shape: `{"errorCode","message"}` with the spec's codes. Never a
/// 5xx for a user error (clients retry those for minutes).
pub struct SharingError(pub ApiError);

impl From<ApiError> for SharingError {
    fn from(e: ApiError) -> Self {
        SharingError(e)
    }
}

impl From<meshgate_sharing::Error> for SharingError {
    fn from(e: meshgate_sharing::Error) -> Self {
        SharingError(e.into())
    }
}

impl From<meshgate_core::Error> for SharingError {
    fn from(e: meshgate_core::Error) -> Self {
        SharingError(e.into())
    }
}

impl From<meshgate_sharing::Error> for ApiError {
    fn from(e: meshgate_sharing::Error) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for SharingError {
    fn into_response(self) -> Response {
        let e = self.0;
        let code = match e.status {
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::RANGE_NOT_SATISFIABLE => {
                error_code::INVALID_PARAMETER_VALUE
            }
            StatusCode::UNAUTHORIZED => error_code::UNAUTHENTICATED,
            StatusCode::FORBIDDEN => error_code::PERMISSION_DENIED,
            StatusCode::NOT_FOUND => error_code::RESOURCE_DOES_NOT_EXIST,
            StatusCode::TOO_MANY_REQUESTS => error_code::RESOURCE_EXHAUSTED,
            StatusCode::METHOD_NOT_ALLOWED => error_code::UNSUPPORTED_OPERATION,
            s if s.is_client_error() => error_code::INVALID_PARAMETER_VALUE,
            _ => error_code::INTERNAL_ERROR,
        };
        let status = if e.status == StatusCode::CONFLICT {
            StatusCode::BAD_REQUEST
        } else {
            e.status
        };
        let body = ErrorBody {
            error_code: code.to_string(),
            message: public_message(&e.message),
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = REQUEST_ID.try_with(|id| id.clone()).ok()
            && let Ok(v) = HeaderValue::from_str(&id)
        {
            response.headers_mut().insert("x-request-id", v);
        }
        response
    }
}

pub type SharingResult<T> = Result<T, SharingError>;

impl From<meshgate_engine::Error> for SharingError {
    fn from(e: meshgate_engine::Error) -> Self {
        SharingError(crate::error::ApiError::from(e))
    }
}
