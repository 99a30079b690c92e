//! meshgate-engine: the data plane.
//!
//! - [`storage`]: where product tables live (a local directory or an object-store URL).
//! - [`files`]: a product's files (upload, list, ranged download) on the same storage.
//! - [`ingest`]: turning an uploaded CSV, Parquet or JSON-lines file into a Delta table, or
//!   appending it to one.
//! - [`layout`]: clustering and bloom filters recorded on a table, and `optimize`, which
//!   rewrites its files that way so point queries skip what cannot match.
//! - [`secure`]: the secure table provider every table is wrapped in at catalog lookup, so
//!   views, CTEs, subqueries and joins cannot bypass access rules.
//! - [`policy`]: the row-filter and mask expression language (docs/design/ACCESS.md), compiled to
//!   DataFusion expressions with positions in its errors.
//! - [`query`]: a DataFusion session over exactly the tables a principal may see, under a
//!   memory limit and a timeout.
//! - [`rows`]: appending JSON rows atomically, and multi-tenant tables partitioned by tenant.
//! - [`sampling`]: bounded samples of column values (the first rows of an upload or a table),
//!   for automatic classification.
//! - [`output`]: streaming encoders for query results (JSON, CSV, Arrow IPC).
//! - [`sharing`]: Delta Sharing's view of a table (versions, files, change data feed) and
//!   materialised snapshots of filtered or masked items.
//!
//! DataFusion and Arrow are used through `deltalake`'s re-exports so their versions always
//! match the Delta reader's.

pub mod error;
pub mod files;
pub mod ingest;
pub mod layout;
mod masks;
pub mod output;
pub mod policy;
pub mod query;
pub mod rows;
pub mod sampling;
pub mod secure;
pub mod sharing;
pub mod storage;
pub mod tenancy;
pub mod vacuum;

pub use deltalake::arrow;
pub use deltalake::datafusion;
pub use deltalake::parquet;
pub use error::{Error, Result};
