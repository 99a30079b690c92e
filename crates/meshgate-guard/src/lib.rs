//! meshgate-guard: bounds on untrusted input, checked before the heavy machinery sees it.
//!
//! - [`sql`]: how long a caller's SQL text may be, and how deep and how large its parsed
//!   syntax tree may be, checked before DataFusion plans it (docs/design/QUERY_LIMITS.md).
//! - [`upload`]: the framing of an uploaded file (a Parquet file's footer), checked before a
//!   reader trusts the offsets in it.
//!
//! Nothing here depends on DataFusion or Arrow, so the fuzz targets over these checks build
//! in a minute or two.

pub mod sql;
pub mod upload;

pub use sqlparser;
