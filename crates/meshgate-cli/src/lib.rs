//! The library half of the `meshgate` binary: the quickstart's demo mesh ([`demo`]), which
//! `meshgate quickstart` seeds and the test suites of the server and the CLI build on.

pub mod demo;
