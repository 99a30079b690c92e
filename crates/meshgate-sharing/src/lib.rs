//! meshgate-sharing: the Delta Sharing protocol, as the real clients speak it.
//!
//! Everything here is pure (no I/O, no async) so the server's Delta Sharing handlers stay
//! thin: they authenticate, look the table up, and call into this crate to read the request
//! and write the answer. The traps each module handles are those of docs/design/DELTA_SHARING.md and of
//! the real clients (`delta-sharing` 1.4.2 for Python, Spark, delta-kernel):
//!
//! - [`wire`]: the JSON bodies: shares, schemas and tables listings (one line, the Python
//!   client reads only the first), error bodies, and the `/query` request body.
//! - [`capabilities`]: the `delta-sharing-capabilities` header and the choice of exactly one
//!   response format (`parquet` or `delta`).
//! - [`ndjson`]: the NDJSON lines of `/metadata`, `/query` and `/changes` in both formats.
//! - [`hints`]: `jsonPredicateHints`, parsed and evaluated conservatively against a file's
//!   partition values and statistics (pruning never drops a matching file).
//! - [`page`]: opaque, signed page tokens and `maxResults`.
//! - [`params`]: timestamps, booleans and the `/changes` query parameters.
//! - [`error`]: the crate's error; every variant is a caller mistake (400
//!   `INVALID_PARAMETER_VALUE`).

pub mod capabilities;
pub mod error;
pub mod hints;
pub mod ndjson;
pub mod page;
pub mod params;
pub mod wire;

pub use capabilities::{Capabilities, ResponseFormat};
pub use error::{Error, Result};
pub use hints::{FileValues, Predicate};
pub use ndjson::{ChangeKind, FileAction, MetadataExtra};
pub use page::PageToken;
pub use params::CdfParams;
pub use wire::{ErrorBody, QueryRequest};
