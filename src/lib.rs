//! batchnotify: a Kubernetes operator that runs an AWS Batch job through a
//! Step Functions state machine and tells an SNS topic whether it succeeded.
//!
//! Data flows one way: `api` (the CRD) → `desired` (pure: names, tags,
//! documents) → `aws` (observe/create/update/delete, the only SDK calls) →
//! `controller` (the reconcile stages, executions, status, events).

pub mod admin;
pub mod api;
pub mod aws;
pub mod controller;
pub mod desired;
pub mod metrics;
pub mod operator;
pub mod plan;
pub mod plugin;
pub mod telemetry;
