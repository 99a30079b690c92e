//! Why an [`Authorizer`](crate::Authorizer) could not be built: the shipped schema or
//! policies are broken. That is a bug in this crate, never the caller's input.

/// The error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shipped Cedar schema does not parse.
    #[error("the shipped authorization schema is invalid: {message}")]
    Schema { message: String },
    /// The shipped Cedar policies do not parse.
    #[error("the shipped authorization policies do not parse: {message}")]
    Policies { message: String },
    /// The shipped policies do not type-check against the shipped schema.
    #[error("the shipped authorization policies do not validate against the schema: {message}")]
    Validation { message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
