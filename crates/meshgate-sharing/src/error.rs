//! The crate's one error type. Every variant is something the caller got wrong and can fix,
//! so the server answers all of them with 400 and `errorCode` `INVALID_PARAMETER_VALUE`
//! ([`Error::error_code`]); never 5xx, which the clients retry for about 100 s
//! (docs/design/DELTA_SHARING.md §Errors).
//!
//! Messages name the parameter, quote (a bounded prefix of) the value the caller sent and say
//! what would be accepted. They never contain keys, tokens or signatures.

use serde::{Deserialize, Serialize};

/// The `errorCode` values of the error body. The spec leaves them open; these are the ones
/// the reference server and Databricks use, so clients that switch on them understand them.
pub mod error_code {
    /// 400: a parameter, field or header has a value the server does not accept.
    pub const INVALID_PARAMETER_VALUE: &str = "INVALID_PARAMETER_VALUE";
    /// 400: the body cannot be parsed at all (the reference server's code for bad JSON).
    pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";
    /// 400: a well-formed request for something this server does not do.
    pub const UNSUPPORTED_OPERATION: &str = "UNSUPPORTED_OPERATION";
    /// 404: the share, schema or table does not exist or is not shared with the caller.
    pub const RESOURCE_DOES_NOT_EXIST: &str = "RESOURCE_DOES_NOT_EXIST";
    /// 403: the caller is known but may not do this (for example an IP outside the
    /// recipient's allow-list).
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// 401: the bearer token is missing, unknown or expired.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// 429: rate limited. The clients retry 429 with back-off.
    pub const RESOURCE_EXHAUSTED: &str = "RESOURCE_EXHAUSTED";
    /// 500: a bug or an outage; the message must not carry the cause.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// The error body of every non-2xx response: `{"errorCode":…,"message":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// One of the [`error_code`] constants.
    pub error_code: String,
    /// What went wrong, for a person; never the cause of a 5xx.
    pub message: String,
}

impl ErrorBody {
    /// An error body with `code` (one of [`error_code`]) and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error_code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was wrong with a Delta Sharing request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A query parameter or body field has a value the protocol does not allow.
    #[error("invalid `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter or field, spelled as on the wire (`startingVersion`).
        name: &'static str,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// Parameters that cannot be used together, or one that needs another.
    #[error("{message}")]
    Conflict {
        /// Which parameters, and how to fix the request.
        message: String,
    },
    /// The `/query` body is not a JSON object.
    #[error("the request body is not a JSON object: {reason}; send `{{}}` for a full snapshot")]
    InvalidBody {
        /// The JSON parser's complaint.
        reason: String,
    },
    /// A `pageToken` that this server did not issue for this listing and principal (forged,
    /// tampered with, truncated, or from another listing).
    #[error(
        "invalid pageToken: it was not issued for this listing; list again without `pageToken`"
    )]
    InvalidPageToken,
    /// `jsonPredicateHints` that cannot be parsed. The server should not fail the request
    /// for this: hints are best effort, so it serves the files unfiltered.
    #[error("invalid jsonPredicateHints: {reason}")]
    InvalidPredicate {
        /// What is wrong in the predicate tree.
        reason: String,
    },
    /// The table cannot be served in any response format the client accepts.
    #[error("{message}")]
    FormatNotAccepted {
        /// What the table needs and which header to send.
        message: String,
    },
}

impl Error {
    /// The Delta Sharing `errorCode` for this error: always `INVALID_PARAMETER_VALUE` (400).
    pub fn error_code(&self) -> &'static str {
        error_code::INVALID_PARAMETER_VALUE
    }

    /// The `{"errorCode","message"}` body for this error.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(self.error_code(), self.to_string())
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
        }
    }

    pub(crate) fn predicate(reason: impl Into<String>) -> Self {
        Error::InvalidPredicate {
            reason: reason.into(),
        }
    }
}

/// A value as it may appear in a message: at most 64 characters, control characters escaped.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if value.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter() {
        let e = Error::invalid("maxResults", "`x` is not a whole number");
        assert_eq!(
            e.to_string(),
            "invalid `maxResults`: `x` is not a whole number"
        );
        assert_eq!(e.error_code(), "INVALID_PARAMETER_VALUE");
        let body = e.to_error_body();
        assert_eq!(body.error_code, "INVALID_PARAMETER_VALUE");
        assert_eq!(body.message, e.to_string());
    }

    #[test]
    fn shown_bounds_and_escapes() {
        assert_eq!(shown("a\nb"), "a\\nb");
        let long = "x".repeat(100);
        let s = shown(&long);
        assert!(s.starts_with(&"x".repeat(64)));
        assert!(s.ends_with('…'));
    }
}
