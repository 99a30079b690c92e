//! The authorizer's tests: the rule table of the crate docs as (actor, action, resource,
//! expected) cases, checked against the shipped policies; the schema/policy validation that
//! makes a typo in `policies/` fail here; and a property test against a plain-Rust reference
//! model.
//!
//! - `fixtures`: the ids, actors and resources the cases are written with.
//! - `rule_table`: the cases, and the admin/outsider sweep over every action.
//! - `schema`: the shipped schema and policies validate against each other.
//! - `model`: the Cedar decision equals a plain-Rust statement of the rules.
//! - `kept`: a kept actor entity never answers for an actor that has changed.

mod fixtures;
mod kept;
mod model;
mod rule_table;
mod schema;
