//! Path parameters are checked once, for every route, before any handler sees them
//! (docs/design/SECURITY.md, "names and paths").
//!
//! A path parameter is user input that handlers join into store keys, SQL names and file
//! paths, so the router runs [`check`] on each matched parameter before the handler (and
//! before any body is read):
//! - catalog names (`domain`, `team`, `product`, `table`, and Delta Sharing's `share`,
//!   `schema`) must be valid names ([`names::validate`]);
//! - principal names (`principal`, `group`) must be valid principal names;
//! - a trailing wildcard (`{*path}`) is a file path inside a product's files and must pass
//!   [`files::validate_path`] (relative, no `.`/`..` or empty segments);
//! - every other parameter (ids, column names, form and term names, codes) must be printable
//!   text of at most [`MAX_PARAM_LEN`] bytes without `/`, `\` or a lone `.`/`..`.
//!
//! A parameter that fails is a 400 naming the parameter.

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meshgate_core::{files, names};

use crate::error::ApiError;

/// Longest accepted free-form path parameter, in bytes.
pub const MAX_PARAM_LEN: usize = 256;

/// The router's guard: 400 unless every matched path parameter is well formed.
pub async fn guard(
    params: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    match params {
        Ok(params) => {
            for (key, value) in &params {
                if let Err(e) = check(key, value) {
                    return e.into_response();
                }
            }
        }
        // A route without parameters.
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(_) => {
            return ApiError::bad_request("a path parameter is not valid UTF-8").into_response();
        }
    }
    next.run(req).await
}

/// [`guard`] for the Delta Sharing routes, whose share, schema and table names are
/// case-insensitive (PROTOCOL.md): those are checked as the lowercase names they find, so
/// `/shares/SALES` reaches the handler, which resolves it to `sales`.
pub async fn sharing_guard(
    params: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    match params {
        Ok(params) => {
            for (key, value) in &params {
                let checked = if matches!(key, "share" | "schema" | "table") {
                    check(key, &value.to_lowercase())
                } else {
                    check(key, value)
                };
                if let Err(e) = checked {
                    return e.into_response();
                }
            }
        }
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(_) => {
            return ApiError::bad_request("a path parameter is not valid UTF-8").into_response();
        }
    }
    next.run(req).await
}

/// Checks one path parameter by what its name says it is.
pub fn check(key: &str, value: &str) -> Result<(), ApiError> {
    match key {
        "domain" => names::validate("domain name", value)?,
        "team" => names::validate("team name", value)?,
        "product" | "schema" => names::validate("data product name", value)?,
        "table" => names::validate("table name", value)?,
        "share" => names::validate("share name", value)?,
        "principal" | "group" => names::validate_principal(value)?,
        "path" => files::validate_path(value)?,
        _ => free_form(key, value)?,
    }
    Ok(())
}

fn free_form(key: &str, value: &str) -> Result<(), ApiError> {
    let problem = if value.is_empty() {
        Some("it is empty")
    } else if value.len() > MAX_PARAM_LEN {
        Some("it is too long")
    } else if value == "." || value == ".." {
        Some("it is `.` or `..`")
    } else if value.contains(['/', '\\']) {
        Some("it contains `/` or `\\`")
    } else if value.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match problem {
        Some(why) => Err(ApiError::bad_request(format!(
            "invalid path parameter `{key}`: {why}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_names() {
        for (k, v) in [
            ("table", "../x"),
            ("table", "/etc/passwd"),
            ("table", "a/b"),
            ("product", "A"),
            ("domain", ""),
            ("principal", "x/y"),
            ("path", "../a"),
            ("path", "/a"),
            ("id", ".."),
            ("id", "a/b"),
            ("column", "a\\b"),
            ("code", "a\u{0}"),
        ] {
            assert!(check(k, v).is_err(), "{k}={v:?} should be refused");
        }
        for (k, v) in [
            ("table", "orders"),
            ("principal", "item-service"),
            ("path", "raw/2024/a.csv"),
            ("id", "0190c1e8-7a7e-7b1a-9c1e-6f0a0b0c0d0e"),
            ("column", "Customer Name"),
        ] {
            assert!(check(k, v).is_ok(), "{k}={v:?} should pass");
        }
    }
}
