//! The request extractors every route uses, so that a malformed body, query string or id is
//! answered the same way everywhere: our error shape, 400 for what cannot be parsed, 404 for
//! an id that cannot name anything.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// JSON bodies that fail to parse get our error shape with serde's explanation.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "invalid request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Query strings likewise.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "invalid query string: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Path parameters beside those a lookup extractor reads (a column, a form, a file path…),
/// deserialized into `T`: a struct naming the ones it wants, whose `utoipa::IntoParams`
/// describes them in the OpenAPI document. The router's guard (`paths.rs`) has checked every
/// parameter already; a route without the parameters `T` names is a programming error.
pub struct PathParams<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParams(v)),
            Err(rejection) if rejection.status().is_server_error() => {
                Err(ApiError::internal(rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// One named parameter of the matched route's path (percent-decoded). A route whose path has
/// no such parameter is a programming error, answered as an internal error.
pub async fn path_param<S: Send + Sync>(
    parts: &mut axum::http::request::Parts,
    state: &S,
    name: &str,
) -> ApiResult<String> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
        .ok_or_else(|| ApiError::internal(format!("the route has no `{{{name}}}` parameter")))
}

/// The share named by the route's `{id}`: what is not a uuid names no share (404). The
/// operation loads the share, because whether the caller may see it is part of its checks.
pub struct ShareId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ShareId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "id").await?;
        share_id(&raw).map(ShareId)
    }
}

/// The share item named by the route's `{item}` (404 when it is not a uuid).
pub struct ItemId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ItemId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "item").await?;
        Uuid::parse_str(&raw)
            .map(ItemId)
            .map_err(|_| ApiError::not_found("share item", &raw))
    }
}

/// A share id in a path or body; what is not a uuid names no share (404).
pub fn share_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("share", raw))
}

/// An optional JSON body: an empty (or all-whitespace) body means the defaults.
pub struct OptionalBody<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default, S: Send + Sync> axum::extract::FromRequest<S>
    for OptionalBody<T>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is over the limit",
                ),
                _ => ApiError::bad_request(format!(
                    "invalid request body: {}",
                    rejection.body_text()
                )),
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&body)
            .map(OptionalBody)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}

/// A created resource: 201 with the resource as JSON.
pub struct Created<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Created<T> {
    fn into_response(self) -> axum::response::Response {
        (axum::http::StatusCode::CREATED, Json(self.0)).into_response()
    }
}

/// The empty object `{}`: the answer of an action that has nothing to return.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Empty {}
