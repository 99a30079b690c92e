//! Data-plane errors, split by who can fix them: the caller (bad file, bad SQL, limits) or us.

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The uploaded data cannot be read or does not fit the table.
    #[error("{message}")]
    InvalidData { message: String },
    /// The SQL does not parse, plan or run (DataFusion's message).
    #[error("{message}")]
    Sql { message: String },
    /// The query needed more memory than the configured limit.
    #[error(
        "query exceeded the memory limit of {limit_mb} MiB; add filters or aggregate, or ask an admin to raise `query.memory_limit_mb`"
    )]
    MemoryLimit { limit_mb: u64 },
    /// The query ran longer than the configured timeout.
    #[error(
        "query exceeded the timeout of {seconds} s; add filters or ask an admin to raise `query.timeout_secs`"
    )]
    Timeout { seconds: u64 },
    /// The SQL is longer, larger or more deeply nested than the limits allow (the message
    /// names the limit and its setting, never a piece of the SQL).
    #[error("{message}")]
    TooComplex { message: String },
    /// Parsing and planning the query took longer than its budget.
    #[error(
        "planning the query took longer than {seconds} s; simplify it or ask an admin to raise `query.plan_timeout_secs`"
    )]
    PlanTimeout { seconds: u64 },
    /// Another writer changed the table while this write was under way; nothing was changed
    /// and the caller may try again.
    #[error("{message}")]
    Conflict { message: String },
    /// A table's storage is missing or unreadable.
    #[error("storage error: {message}")]
    Storage { message: String },
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl Error {
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
        }
    }

    /// Whether the caller can fix this (a 4xx at the HTTP edge).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidData { .. }
                | Error::Conflict { .. }
                | Error::Sql { .. }
                | Error::MemoryLimit { .. }
                | Error::Timeout { .. }
                | Error::TooComplex { .. }
                | Error::PlanTimeout { .. }
        )
    }

    /// Classifies a DataFusion error raised while running a caller's SQL.
    pub fn from_query(err: DataFusionError, memory_limit_mb: u64) -> Self {
        match err.find_root() {
            DataFusionError::ResourcesExhausted(_) => Error::MemoryLimit {
                limit_mb: memory_limit_mb,
            },
            DataFusionError::ObjectStore(e) => Error::storage(e.to_string()),
            DataFusionError::IoError(e) => Error::storage(e.to_string()),
            DataFusionError::Internal(m) => Error::internal(m.clone()),
            _ => Error::Sql {
                message: strip_backtrace(&err.to_string()),
            },
        }
    }

    /// Classifies an error raised while reading an uploaded file: parse and type errors are the
    /// caller's; storage failures are ours.
    pub fn from_ingest(err: DeltaTableError) -> Self {
        match err {
            DeltaTableError::ObjectStore { source } => Error::storage(source.to_string()),
            DeltaTableError::Io { source } => Error::storage(source.to_string()),
            DeltaTableError::Arrow { source } => invalid_arrow(&source),
            DeltaTableError::SchemaMismatch { msg } => Error::InvalidData {
                message: format!("the data does not match the table's schema: {msg}"),
            },
            other => Error::InvalidData {
                message: format!(
                    "the file could not be written as a table: {}",
                    strip_backtrace(&other.to_string())
                ),
            },
        }
    }

    /// Classifies a DataFusion error raised while reading an uploaded file.
    pub fn from_ingest_df(err: DataFusionError) -> Self {
        match err.find_root() {
            DataFusionError::ObjectStore(e) => Error::storage(e.to_string()),
            DataFusionError::ArrowError(e, _) => invalid_arrow(e),
            _ => Error::InvalidData {
                message: format!(
                    "the file could not be read: {}",
                    strip_backtrace(&err.to_string())
                ),
            },
        }
    }
}

fn invalid_arrow(err: &ArrowError) -> Error {
    Error::InvalidData {
        message: format!("the file could not be parsed: {err}"),
    }
}

/// DataFusion may append a backtrace to messages; callers get the first paragraph only.
fn strip_backtrace(message: &str) -> String {
    message
        .split("\n\nbacktrace")
        .next()
        .unwrap_or(message)
        .trim()
        .to_string()
}

/// The text of a panic's payload, when it has one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
