//! Several replicas on one store (docs/design/REPLICAS.md): what keeps a process's own state
//! in step with changes any replica makes, and which background work runs on one replica only.
//!
//! - [`feed`]: the change feed — the one follower of the audit log that brings this
//!   process's caches up to date (the search index, the credential revocation list), and the
//!   wait for a job finished by whichever replica ran it. Woken by the store's change signal
//!   (`ReplicaStore::changes`: PostgreSQL `LISTEN`/`NOTIFY`, this process's commits) and by a
//!   poll. Its cursor is [`cursor`].
//! - [`singletons`]: claims the leases in the store of the tasks only one replica may run (the
//!   scheduler, the notification dispatcher, the snapshot collector); [`leases`] records
//!   which this process holds.
//!
//! [`cursor`] and [`leases`] are below the state (it holds them); [`feed`] and [`singletons`]
//! are above it.

pub mod cursor;
pub mod feed;
pub mod leases;
pub mod singletons;
