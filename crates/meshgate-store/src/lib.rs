//! meshgate-store: where the control plane keeps its state.
//!
//! One [`Store`] trait (one trait per area, see [Layout](#layout)), implemented for SQLite
//! (the embedded default: one file in the data dir, WAL) and PostgreSQL (several server
//! replicas), each with its own migrations. Every
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
//! columns differ), and the few places that need different SQL (row locks, advisory-locked job
//! leasing, how a write transaction starts) branch on [`Backend`]. Queries are checked by the
//! test suite rather than at compile time, so the build needs no database; the suite also
//! checks that the two migration sets build the same tables, columns, keys and indexes, with
//! only the known type differences.
//!
//! On SQLite writes are serialised in-process (one writer at a time, readers concurrent under
//! WAL); on PostgreSQL they rely on row locks and single-statement version checks.
//!
//! # Layout
//!
//! [`Store`] is the sum of one trait per area. Each area trait is declared, with the value
//! types its methods take, in `api/<area>.rs`, and implemented for [`SqlStore`] in
//! `store/<area>.rs`, next to its SQL:
//!
//! - `identity`: principals, group membership, API tokens ([`IdentityStore`])
//! - `org`: domains and their hierarchy, teams, team membership ([`OrgStore`])
//! - `products`: data products and their tables ([`ProductStore`])
//! - `shares`: shares, items, share changes, terms, settings, logs, schedules, local names
//!   ([`ShareStore`])
//! - `grants`: table and file grants in force, the policy version ([`GrantStore`])
//! - `policy`: data filters, row rules, column tags, tag masks and the mask key, tenancy
//!   ([`PolicyStore`])
//! - `credentials`: storage credentials and their signing key ([`CredentialStore`])
//! - `catalog`: listing, descriptions, table tags, form types and forms, rules, catalog rows
//!   ([`CatalogStore`])
//! - `classification`: automatic classification's suggested column tags
//!   ([`ClassificationStore`])
//! - `glossary`: glossaries, terms, term relations and links ([`GlossaryStore`])
//! - `notify`: notifications, contacts, webhooks and deliveries ([`NotifyStore`])
//! - `recipients`: Delta Sharing tokens and recipient settings ([`RecipientStore`])
//! - `outbox`: jobs and their leases ([`OutboxStore`])
//! - `audit`: events appended on their own, reading the log ([`AuditStore`])
//! - `locations`: external locations ([`LocationStore`])
//! - `access`: the bulk read behind the access snapshot ([`AccessStore`])
//! - `replicas`: the change signal and singleton leases of several replicas ([`ReplicaStore`])
//!
//! What the areas share: `store.rs` (argument lists, the generic reads, the audit, job and
//! policy-version writes every change makes, `write_one`), `record.rs` (how each record type
//! is read from its table), `codec.rs` (how values are written to and read from columns) and
//! `db.rs` (connecting, migrating, and `SqlStore::write`, the one way a change is committed:
//! its statements, audit events and jobs in one transaction).

mod api;
mod chain;
mod codec;
mod db;
mod record;
mod store;

pub use api::*;
pub use codec::truncate_to_micros;
pub use db::{Backend, SqlStore, connect, migrate};
