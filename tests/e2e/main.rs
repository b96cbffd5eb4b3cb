//! Integration tests against the real test bed: one binary, one bed, every
//! test in its own namespace.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod admission;
mod cli;
mod context;
mod deploy;
mod events;
mod gitops;
mod operator;
mod plugin;
mod reconcile;
mod runs;
mod strict;
mod testbed_aws;
mod testbed_kube;
