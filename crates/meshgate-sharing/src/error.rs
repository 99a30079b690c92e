//! The crate's one error type. Every variant is something the caller got wrong and can fix,
//! so the server answers all of them with 400 and `errorCode` `INVALID_PARAMETER_VALUE`
//! ([`Error::error_code`]); never 5xx, which the clients retry for about 100 s
//! (DELTA_SHARING.md, «Never 5xx for a user error»).
//!
//! Messages name the parameter, quote (a bounded prefix of) the value the caller sent and say
//! what would be accepted. They never contain keys, tokens or signatures.

use crate::wire::{ErrorBody, error_code};

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
