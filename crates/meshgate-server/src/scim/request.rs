//! What a SCIM request brings, checked before any operation runs: the caller (a SCIM token,
//! and nothing else — the one extractor that authenticates `/scim/v2`), the JSON body, and
//! the list parameters (`filter`, paging, sorting, `attributes`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::Utc;
use meshgate_core::model::{Principal, TokenScope};
use meshgate_core::token;
use serde_json::Value;

use super::error::{ScimError, ScimResult};
use super::filter::{self, AttrPath, Filter};
use super::schema::{DEFAULT_COUNT, MAX_BODY_BYTES, MAX_RESULTS};
use crate::state::AppState;

/// The longest bearer token looked at: meshgate's tokens are far shorter.
const MAX_TOKEN_BYTES: usize = 512;

/// The caller of a SCIM endpoint: the principal of a usable API token of scope `scim`. Any
/// other token — an ordinary API token (an admin's included), a tenant credential, a
/// recipient token, an identity provider's JWT — is a 401 here, and a SCIM token is a 401
/// everywhere else (`auth::authenticate`).
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub principal: Principal,
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = crate::auth::bearer(parts).map_err(|e| ScimError::unauthorized(e.message))?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ScimError::unauthorized(format!(
                "the bearer token is longer than {MAX_TOKEN_BYTES} bytes: /scim/v2 takes a meshgate SCIM token (mgt_…)"
            )));
        }
        let refused = || {
            ScimError::unauthorized(
                "invalid, expired or revoked token: /scim/v2 takes a SCIM token (an API token of scope scim that an admin makes: POST /api/v1/tokens with {\"scope\": \"scim\"})",
            )
        };
        let Some((record, principal)) = state.store.find_token(&token::hash(token)).await? else {
            return Err(refused());
        };
        if !record.is_usable(Utc::now()) || !principal.active {
            return Err(refused());
        }
        if record.scope != TokenScope::Scim {
            return Err(ScimError::unauthorized(
                "this API token is not a SCIM token: /scim/v2 takes only tokens of scope scim (an admin makes one: POST /api/v1/tokens with {\"scope\": \"scim\"})",
            ));
        }
        Ok(ScimCaller { principal })
    }
}

/// A SCIM request body: a JSON object, at most [`MAX_BODY_BYTES`]. Sent as
/// `application/scim+json` or `application/json` (the type is not insisted on).
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!("the request body is over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ScimError::bad(
                    "invalidSyntax",
                    format!("cannot read the request body: {}", r.body_text()),
                )
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ScimError::bad(
                "invalidSyntax",
                "the request has no body: send a JSON object",
            ));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}"))
        })?;
        if !value.is_object() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "the body must be a JSON object",
            ));
        }
        Ok(ScimBody(value))
    }
}

/// Which attributes an answer carries (`attributes`, `excludedAttributes`; RFC 7644 §3.9).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

/// The parameters of a list or search (RFC 7644 §3.4.2).
#[derive(Debug, Clone)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub projection: Projection,
}

/// The query string's parameters, names as sent.
pub struct ScimQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for ScimQuery {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimError::bad("invalidSyntax", "unreadable query string"))?;
        let raw = raw.unwrap_or_default();
        if raw.len() > 2 * filter::MAX_FILTER_BYTES {
            return Err(ScimError::bad(
                "invalidValue",
                format!(
                    "the query string is longer than {} bytes",
                    2 * filter::MAX_FILTER_BYTES
                ),
            ));
        }
        Ok(ScimQuery(
            url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl ScimQuery {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn projection(&self) -> ScimResult<Projection> {
        Ok(Projection {
            attributes: paths(self.get("attributes").unwrap_or_default())?,
            excluded: paths(self.get("excludedAttributes").unwrap_or_default())?,
        })
    }

    pub fn list(&self) -> ScimResult<ListParams> {
        let number = |name: &str| -> ScimResult<Option<i64>> {
            self.get(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        ScimError::bad(
                            "invalidValue",
                            format!("`{name}` must be an integer, not `{v}`"),
                        )
                    })
                })
                .transpose()
        };
        list_params(
            self.get("filter"),
            number("startIndex")?,
            number("count")?,
            self.get("sortBy"),
            self.get("sortOrder"),
            self.projection()?,
        )
    }
}

fn paths(list: &str) -> ScimResult<Vec<AttrPath>> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(filter::parse_attr_path)
        .collect()
}

fn list_params(
    filter_text: Option<&str>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    projection: Projection,
) -> ScimResult<ListParams> {
    let filter = match filter_text.map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => Some(filter::parse(text)?),
        None => None,
    };
    let descending = match sort_order.map(str::trim).filter(|s| !s.is_empty()) {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("`sortOrder` is `ascending` or `descending`, not `{o}`"),
            ));
        }
    };
    let sort_by = match sort_by.map(str::trim).filter(|s| !s.is_empty()) {
        Some(p) => Some(filter::parse_attr_path(p)?),
        None => None,
    };
    // RFC 7644 §3.4.2.4: a startIndex under 1 is 1; a negative count is 0.
    let start_index = usize::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let count = match count {
        None => DEFAULT_COUNT,
        Some(c) => usize::try_from(c.max(0)).unwrap_or(0).min(MAX_RESULTS),
    };
    Ok(ListParams {
        filter,
        start_index,
        count,
        sort_by,
        descending,
        projection,
    })
}

/// The parameters of a `POST …/.search` body (a SearchRequest).
pub fn search_params(body: &Value) -> ScimResult<ListParams> {
    let text = |name: &str| -> ScimResult<Option<&str>> {
        match filter::get_ci(body, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ScimError::bad(
                "invalidValue",
                format!("`{name}` of a search request must be a string"),
            )),
        }
    };
    let number = |name: &str| -> ScimResult<Option<i64>> {
        match filter::get_ci(body, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                ScimError::bad("invalidValue", format!("`{name}` must be an integer"))
            }),
            Some(_) => Err(ScimError::bad(
                "invalidValue",
                format!("`{name}` of a search request must be an integer"),
            )),
        }
    };
    let list = |name: &str| -> ScimResult<Vec<AttrPath>> {
        match filter::get_ci(body, name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => filter::parse_attr_path(s),
                    _ => Err(ScimError::bad(
                        "invalidValue",
                        format!("`{name}` must be an array of attribute paths"),
                    )),
                })
                .collect(),
            Some(Value::String(s)) => paths(s),
            Some(_) => Err(ScimError::bad(
                "invalidValue",
                format!("`{name}` must be an array of attribute paths"),
            )),
        }
    };
    list_params(
        text("filter")?,
        number("startIndex")?,
        number("count")?,
        text("sortBy")?,
        text("sortOrder")?,
        Projection {
            attributes: list("attributes")?,
            excluded: list("excludedAttributes")?,
        },
    )
}
