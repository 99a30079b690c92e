//! Domain errors. Each variant says what went wrong in words a user can act on; the HTTP edge
//! maps them to status codes (see `Error::kind`).

use crate::lifecycle::{ItemAction, ItemStatus, ShareAction, ShareStatus};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an error should be reported at an API edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something invalid (400).
    Invalid,
    /// The object does not exist or the caller may not know it exists (404).
    NotFound,
    /// The caller may see the object but not do this (403).
    Forbidden,
    /// The object's current state does not allow the action (409).
    Conflict,
    /// Something broke on our side (500).
    Internal,
    /// A service the server depends on (the store) cannot be reached for now; the same
    /// request may succeed later (503).
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{message}")]
    Invalid { message: String },
    #[error("{what} `{name}` not found")]
    NotFound { what: &'static str, name: String },
    #[error("{what} `{name}` already exists")]
    AlreadyExists { what: &'static str, name: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error(
        "cannot {action} share `{share}`: it is `{current}`; allowed actions from `{current}`: {allowed}"
    )]
    ShareTransition {
        share: String,
        action: ShareAction,
        current: ShareStatus,
        allowed: String,
    },
    #[error("cannot {action} item `{item}`: it is `{current}`")]
    ItemTransition {
        item: String,
        action: ItemAction,
        current: ItemStatus,
    },
    #[error("{message}")]
    Conflict { message: String },
    #[error("internal error: {message}")]
    Internal { message: String },
    #[error("{message}")]
    Unavailable { message: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. } | Error::Invalid { .. } => ErrorKind::Invalid,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::AlreadyExists { .. }
            | Error::ShareTransition { .. }
            | Error::ItemTransition { .. }
            | Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            name: name.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden {
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
        }
    }

    /// A stable machine-readable code for the API error body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidName { .. } => "invalid_name",
            Error::Invalid { .. } => "invalid_request",
            Error::NotFound { .. } => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Forbidden { .. } => "forbidden",
            Error::ShareTransition { .. } | Error::ItemTransition { .. } => "invalid_transition",
            Error::Conflict { .. } => "conflict",
            Error::Internal { .. } => "internal",
            Error::Unavailable { .. } => "unavailable",
        }
    }
}
