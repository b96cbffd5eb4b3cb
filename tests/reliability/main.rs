//! The reliability suite (issue #8): faults, crashes and bad input against the
//! real operator binary, the real API server and the emulator, with figures.
//!
//! Every scenario records what it did (kills survived, faults injected by
//! kind, bad inputs tried, duplicates, leaks and status regressions found) and
//! the last scenario to finish prints the summary table (with `--nocapture`;
//! it is also written to `target/tmp/reliability-summary.txt`).
//!
//! Scale: `RELIABILITY_KILLS` (default 5: the short version `cargo test` runs;
//! `make reliability` runs 24) and `RELIABILITY_SEED` (default: from the clock;
//! printed) replay a run's random choices.

#[path = "../support/mod.rs"]
mod support;

mod common;
mod figures;

mod bad_input;
mod crash;
mod outages;
mod security;
mod throttling;
