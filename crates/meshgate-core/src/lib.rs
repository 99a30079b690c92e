//! meshgate-core: the vocabulary of meshgate.
//!
//! Everything here is pure (no I/O) so it compiles fast and is unit-testable:
//! - [`model`]: the concepts of docs/design/ARCHITECTURE.md (mesh, domain, team, principal, data product,
//!   table, share, share item, grant, audit event), one name each.
//! - [`lifecycle`]: the share and share-item state machines of docs/design/LIFECYCLE.md, table-driven.
//! - [`names`]: validation of user-chosen names (they become SQL identifiers).
//! - [`token`]: API token generation and hashing.
//! - [`access`]: masks, grant scopes, data filters, row rules, tag masks (docs/design/ACCESS.md).
//! - [`catalog`]: metadata forms, enforcement rules, listing states, glossary, classification.
//! - [`classification`]: automatic classification's suggested tags, and what detections and
//!   decisions do to them and to column tags.
//! - [`credential`]: signed, short-lived, tenant-scoped credentials (session policies).
//! - [`snapshot`]: the access snapshot, what one principal may read, resolved from store rows.
//! - [`files`]: product files: path rules, byte ranges, signed download URLs.
//! - [`notify`]: which audit events notify whom, the messages, webhook signatures.
//! - [`anomaly`]: unusual-read alerts: per-principal baselines of read volumes, and findings.
//! - [`alerts`]: alerts as the mesh keeps them, the detector's settings, suspensions.
//! - [`audit_chain`]: the audit log's hash chain, signed digests and their verifier.
//! - [`bounded`]: the bounded, least-recently-used map the in-process caches keep their
//!   entries in.
//! - [`error`]: the domain error enum.

pub mod access;
pub mod alerts;
pub mod anomaly;
pub mod audit_chain;
pub mod bounded;
pub mod catalog;
pub mod classification;
pub mod credential;
pub mod error;
pub mod files;
pub mod lifecycle;
pub mod model;
pub mod names;
pub mod notify;
pub mod snapshot;
pub mod token;

pub use error::{Error, Result};
