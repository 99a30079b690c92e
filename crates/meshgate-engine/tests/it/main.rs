//! The engine's integration tests, one test binary (each file here a module, named after what
//! it tests) so that DataFusion is linked once rather than once per file. Run one file's tests
//! with e.g. `cargo test -p meshgate-engine --test it adversarial::`.

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adversarial;
mod ingest;
mod layout;
mod limits;
mod object_store;
mod property;
mod sharing;
mod tenants;
