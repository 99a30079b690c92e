//! meshgate-authz: who may do what on the control plane, decided by Cedar.
//!
//! One [`Authorizer`] answers every control-plane question ("may this actor approve this
//! share?") from a schema and policies shipped in this crate (`policies/`), embedded at
//! build time and validated against each other when the authorizer is built, so a typo
//! fails the tests instead of denying in production. Deny by default; any internal error
//! denies. The crate is pure: the caller passes everything a decision needs.
//!
//! - [`request`]: what is asked — the [`Actor`], the [`Action`], the [`Resource`].
//! - [`authorizer`]: the [`Authorizer`] and how a request becomes Cedar entities.
//! - [`error`]: why an authorizer could not be built.

pub mod authorizer;
pub mod error;
pub mod request;

pub use authorizer::{Authorizer, POLICIES, SCHEMA};
pub use error::{Error, Result};
pub use request::{Action, Actor, Membership, Resource};
