//! meshgate-store: where the control plane keeps its state.
//!
//! One [`Store`] trait, implemented for SQLite (the embedded default: one file in the data
//! dir, WAL) and PostgreSQL (several server replicas), each with its own migrations. Every
//! mutating method takes the audit event(s) describing it and commits them in the same
//! transaction as the change, and share changes also carry their outbox jobs, so a crash can
//! never leave a state change without its audit record or its follow-up work.
//!
//! Open a store with [`connect`] (`sqlite://PATH`, `sqlite::memory:` or `postgres://…`); it
//! runs the backend's migrations. [`migrate`] only migrates (`meshgate migrate`).
//!
//! # Why one implementation on sqlx's `Any` driver
//!
//! The two backends differ in little that matters here: the same tables, the same queries,
//! `$n` placeholders (which sqlx also accepts on SQLite). Writing every query once and running
//! it on both through the `Any` driver keeps the backends from drifting apart, and the one
//! behavioural test suite exercises the same code paths on both. The price is the `Any`
//! driver's small type set, so columns hold plain types (see `codec`): uuids and JSON as text,
//! timestamps as BIGINT microseconds. Each backend keeps its own migrations (types, identity
//! columns differ), and the few places that need different SQL (row locks, `SKIP LOCKED` job
//! leasing, how a write transaction starts) branch on [`Backend`]. Queries are checked by the
//! test suite rather than at compile time, so the build needs no database.
//!
//! On SQLite writes are serialised in-process (one writer at a time, readers concurrent under
//! WAL); on PostgreSQL they rely on row locks and single-statement version checks.

mod api;
mod codec;
mod db;
mod record;
mod store;

pub use api::*;
pub use codec::truncate_to_micros;
pub use db::{Backend, SqlStore, connect, migrate};
