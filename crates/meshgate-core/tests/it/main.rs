//! The core's integration tests, one test binary (each file here a module): model-based
//! property tests of the share lifecycle and of the access snapshot's resolution. Run one
//! file's tests with e.g. `cargo test -p meshgate-core --test it snapshot_model::`.
//!
//! proptest keeps the failures it found under `tests/proptest-regressions/<module>.txt`: with
//! `main.rs` in this directory, its default (`SourceParallel`) takes `tests/it/` for the crate
//! root and writes beside it, not beside each module.

// Helpers outside the `#[test]` functions (generators, reference models) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lifecycle_model;
mod snapshot_model;
