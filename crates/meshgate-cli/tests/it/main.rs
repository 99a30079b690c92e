//! The CLI's end-to-end tests, one test binary (each file here a module, named after what it
//! tests) driving the real `meshgate` binary. Run one with e.g.
//! `cargo test -p meshgate-cli --test it crash::`.

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod fleet;

mod alerts;
mod audit;
mod catalog;
mod crash;
mod lifecycle;
mod login;
mod outage;
mod replicas;
mod tour;
