//! The server's integration tests, one test binary (each file here a module, named after what
//! it tests) so that the server and DataFusion are linked once rather than once per file.
//! `common` is the shared test mesh; run one file's tests with e.g.
//! `cargo test -p meshgate-server --test it routes::`.

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod access;
mod alerts;
mod api;
mod catalog;
mod classification;
mod console;
mod credentials;
mod error_bodies;
mod files;
mod lifecycle;
mod limits;
mod locations;
mod notify;
mod replicas;
mod roles;
mod routes;
mod scim;
mod security;
mod sharing;
mod sharing_conformance;
mod signin;
