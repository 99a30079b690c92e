//! The SCIM error body (RFC 7644 §3.12): `{"schemas": [Error URN], "status": "400",
//! "scimType": "invalidFilter", "detail": "…"}` with the `application/scim+json` type. Every
//! answer under `/scim/v2` that is not a success is one, whatever failed: the token, the body,
//! a filter, the store. 4xx details say what to fix; a 5xx says only "internal error" and the
//! request id (the cause is logged under it).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::schema::ERROR_URN;
use crate::error::{ApiError, REQUEST_ID, public_message};

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    /// RFC 7644 Table 9: `invalidFilter`, `tooMany`, `uniqueness`, `mutability`,
    /// `invalidSyntax`, `invalidPath`, `noTarget`, `invalidValue`, `invalidVers`, `sensitive`.
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// A 400 with its `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::UNAUTHORIZED, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let scim_type = match (e.status, e.code) {
            (StatusCode::BAD_REQUEST, _) => Some("invalidValue"),
            (StatusCode::CONFLICT, "already_exists") => Some("uniqueness"),
            _ => None,
        };
        ScimError::new(e.status, scim_type, e.message)
    }
}

impl From<meshgate_core::Error> for ScimError {
    fn from(e: meshgate_core::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        let detail = if self.status.is_server_error() {
            match &request_id {
                Some(id) => format!("internal error (request id {id})"),
                None => "internal error".to_string(),
            }
        } else {
            public_message(&self.detail)
        };
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status.as_u16().to_string(),
            "detail": detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"meshgate-scim\""),
            );
        }
        response
    }
}
