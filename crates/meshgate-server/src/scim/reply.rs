//! What a SCIM success answers: `application/scim+json` bodies, 201 with `Location`, 204.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A SCIM answer: 200 with an `application/scim+json` body.
pub struct Scim(pub Value);

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    r
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        scim_json(StatusCode::OK, &self.0)
    }
}

/// A created resource: 201, its `Location`, and the resource.
pub struct Created(pub Value);

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        let mut r = scim_json(StatusCode::CREATED, &self.0);
        if let Some(location) = self.0["meta"]["location"].as_str()
            && let Ok(v) = HeaderValue::from_str(location)
        {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}

/// 204, for a delete.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}
