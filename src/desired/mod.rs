//! Pure functions: spec + resolved ARNs → AWS names, tags and documents.
//!
//! No I/O, no SDK or Kubernetes types: everything here can be tested alone
//! and is the single source of what the operator wants AWS to look like.

pub mod access;
pub mod arns;
pub mod documents;
pub mod events;
pub mod executions;
mod fingerprint;
pub mod iam;
pub mod messages;
pub mod names;
pub mod resources;
pub mod runs;
pub mod state_machine;
pub mod tags;

pub use arns::{Arn, ArnError, Partition, Scope};
pub use documents::{
    DocumentError, decode_iam_policy, documents_equal, iam_policy_matches, normalize_policy,
    parse_document, policies_equal,
};
pub use executions::{execution_name_for_schedule, execution_name_for_trigger};
pub use iam::{PolicyInputs, inline_policy, trust_policy};
pub use names::{NameError, Names};
pub use resources::{
    ComputeEnvironment, Desired, DesiredError, ExecutionRole, FINGERPRINT_TAG, Identity,
    JobDefinition, JobQueue, Meta, Role, StateMachine, Subscription, Topic, Wanted,
};
pub use state_machine::{DefinitionInputs, state_machine_definition};
pub use tags::{Owner, Ownership, classify_ownership, desired_tags};
pub mod schedule;
