//! Everything one object should have in AWS, computed whole from its spec
//! and who and where it is: the controller reads it and never asks for a
//! piece halfway through applying.
//!
//! Every ARN here is known before anything exists: names are deterministic
//! and the state machine and its role name the managed job definition
//! without a revision (Batch runs its latest ACTIVE revision), so a new
//! revision changes neither the definition nor the policy.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::arns::{Arn, ArnError, Scope};
use super::iam::{self, PolicyInputs};
use super::names::{NameError, Names};
use super::state_machine::{DefinitionInputs, MessageError, RunInputs, state_machine_definition};
use super::tags::{Owner, desired_tags};
use crate::api::{BatchNotificationSpec, Source, SpecError};

/// Who and where the object is: the inputs besides its spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub region: String,
    pub account: String,
}

/// Why no desired state could be computed; each names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("spec.region: {0}")]
    Region(ArnError),
    #[error("the operator's AWS account: {0}")]
    Account(ArnError),
    #[error("metadata.name: {0}")]
    Name(NameError),
    #[error("{0}")]
    Spec(#[from] SpecError),
    #[error("{0}")]
    Message(#[from] MessageError),
}

/// A resource the operator creates and keeps, or one the spec names by ARN.
#[derive(Clone, Debug, PartialEq)]
pub enum Wanted<T> {
    Managed(T),
    Referenced(String),
}

impl<T> Wanted<T> {
    pub fn managed(&self) -> Option<&T> {
        match self {
            Wanted::Managed(t) => Some(t),
            Wanted::Referenced(_) => None,
        }
    }
}

/// What every managed resource has: a deterministic name and ARN, and our tags.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub name: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComputeEnvironment {
    pub meta: Meta,
    /// FARGATE or FARGATE_SPOT.
    pub compute_type: String,
    pub max_vcpus: i32,
    pub subnets: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub service_role: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobQueue {
    pub meta: Meta,
    pub priority: i32,
    pub compute_environment_arn: String,
    /// (reason, maxTimeSeconds) of each CANCEL action on RUNNABLE jobs.
    pub runnable_time_limits: Vec<(String, i32)>,
}

/// A job definition as registered; [`JobDefinition::fingerprint`] tells a
/// revision registered from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDefinition {
    #[serde(skip)]
    pub meta: Meta,
    pub image: String,
    pub command: Vec<String>,
    pub vcpus: String,
    pub memory_mib: u32,
    pub environment: BTreeMap<String, String>,
    /// FARGATE or EC2.
    pub platform: String,
    pub execution_role_arn: Option<String>,
    /// ENABLED or DISABLED (Fargate only).
    pub assign_public_ip: String,
    pub job_role_arn: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub retry_attempts: Option<u32>,
}

/// The tag on a job definition revision that records what it was registered
/// from (revisions are immutable: a matching tag means "nothing to do").
pub const FINGERPRINT_TAG: &str = "batchnotify.dev/spec-hash";

impl JobDefinition {
    /// 16 hex digits of SHA-256 over the definition's JSON (camelCase keys in
    /// declaration order): renaming a Rust field does not change it, a new
    /// value does. Pinned for the sample by a test.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        super::fingerprint::fingerprint(&[&json], 16)
    }
}

/// The task execution role of a managed Fargate job definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionRole {
    pub meta: Meta,
    pub trust: Value,
    /// AWS's managed task execution policy, attached.
    pub policy_arn: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    pub meta: Meta,
    pub display_name: Option<String>,
    pub subscriptions: Vec<Subscription>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
}

impl Subscription {
    /// Protocols whose subscriptions wait for the endpoint to confirm.
    pub fn needs_confirmation(&self) -> bool {
        matches!(
            self.protocol.as_str(),
            "email" | "email-json" | "http" | "https"
        )
    }
}

/// The state machine's role and its inline policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub meta: Meta,
    pub trust: Value,
    pub policy_name: String,
    pub policy: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateMachine {
    pub meta: Meta,
    pub definition: Value,
    pub role_arn: String,
}

/// The whole desired state, in dependency order.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub scope: Scope,
    pub names: Names,
    pub owner: Owner,
    /// The tags every resource carries.
    pub tags: BTreeMap<String, String>,
    /// `None` when the job queue is referenced (its compute environment is not ours to know).
    pub compute_environment: Option<Wanted<ComputeEnvironment>>,
    pub job_queue: Wanted<JobQueue>,
    /// `Some` when `managedExecutionRole` is on.
    pub execution_role: Option<ExecutionRole>,
    pub job_definition: Wanted<JobDefinition>,
    pub topic: Wanted<Topic>,
    pub role: Role,
    pub state_machine: StateMachine,
    /// Message fields published as written, braces and all (stored before
    /// placeholders existed): reported in status and a Normal Event.
    pub literal_messages: Vec<MessageError>,
}

impl Desired {
    pub fn new(spec: &BatchNotificationSpec, id: &Identity) -> Result<Desired, DesiredError> {
        let scope = Scope::new(&id.region, &id.account).map_err(|e| match e {
            ArnError::Account(_) => DesiredError::Account(e),
            _ => DesiredError::Region(e),
        })?;
        let names = Names::new(&id.cluster, &id.namespace, &id.name).map_err(DesiredError::Name)?;
        let owner = Owner {
            cluster: id.cluster.clone(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            uid: id.uid.clone(),
        };
        let tags = desired_tags(&owner, &spec.tags());
        let meta = |name: &str, arn: String| Meta {
            name: name.to_string(),
            arn,
            tags: tags.clone(),
        };

        let (compute_environment, job_queue) = match spec.job_queue.source()? {
            Source::Arn(arn) => (None, Wanted::Referenced(arn.to_string())),
            Source::Managed(queue) => {
                let environment = match queue.compute_environment.source()? {
                    Source::Arn(arn) => Wanted::Referenced(arn.to_string()),
                    Source::Managed(ce) => Wanted::Managed(ComputeEnvironment {
                        meta: meta(
                            &names.compute_environment,
                            scope.compute_environment_arn(&names.compute_environment),
                        ),
                        compute_type: ce.compute_type().as_str().to_string(),
                        max_vcpus: i32::try_from(ce.max_vcpus()).unwrap_or(i32::MAX),
                        subnets: ce.subnets.clone(),
                        security_group_ids: ce.security_group_ids.clone(),
                        service_role: ce
                            .service_role_arn
                            .clone()
                            .unwrap_or_else(|| iam::batch_service_linked_role(&scope)),
                    }),
                };
                let compute_environment_arn = match &environment {
                    Wanted::Referenced(arn) => arn.clone(),
                    Wanted::Managed(ce) => ce.meta.arn.clone(),
                };
                let queue = Wanted::Managed(JobQueue {
                    meta: meta(&names.job_queue, scope.job_queue_arn(&names.job_queue)),
                    priority: queue.priority(),
                    compute_environment_arn,
                    runnable_time_limits: queue
                        .job_state_time_limit_actions
                        .iter()
                        .flatten()
                        .map(|a| {
                            (
                                a.reason.clone(),
                                i32::try_from(a.max_time_seconds).unwrap_or(i32::MAX),
                            )
                        })
                        .collect(),
                });
                (Some(environment), queue)
            }
        };

        let (execution_role, job_definition) = match spec.job_definition.source()? {
            Source::Arn(arn) => (None, Wanted::Referenced(arn.to_string())),
            Source::Managed(def) => {
                let execution_role = def
                    .managed_execution_role()
                    .then(|| execution_role(&scope, &names, &tags));
                let execution_role_arn = match &execution_role {
                    Some(role) => Some(role.meta.arn.clone()),
                    None => def.execution_role_arn.clone(),
                };
                let mut definition = JobDefinition {
                    meta: meta(
                        &names.job_definition,
                        scope.job_definition_arn(&names.job_definition, None),
                    ),
                    image: def.image.clone(),
                    command: def.command.clone().unwrap_or_default(),
                    vcpus: def.vcpus().to_string(),
                    memory_mib: def.memory_mib(),
                    environment: def.environment.clone().unwrap_or_default(),
                    platform: def.platform().as_str().to_string(),
                    execution_role_arn,
                    assign_public_ip: def.assign_public_ip().as_str().to_string(),
                    job_role_arn: def.job_role_arn.clone(),
                    timeout_seconds: def.timeout_seconds,
                    retry_attempts: def.retry_attempts,
                };
                let fingerprint = definition.fingerprint();
                definition
                    .meta
                    .tags
                    .insert(FINGERPRINT_TAG.to_string(), fingerprint);
                (execution_role, Wanted::Managed(definition))
            }
        };

        let topic = match spec.topic.source()? {
            Source::Arn(arn) => Wanted::Referenced(arn.to_string()),
            Source::Managed(topic) => Wanted::Managed(Topic {
                meta: meta(&names.topic, scope.topic_arn(&names.topic)),
                display_name: topic.display_name.clone(),
                subscriptions: topic
                    .subscriptions
                    .iter()
                    .map(|s| Subscription {
                        protocol: s.protocol.as_str().to_string(),
                        endpoint: s.endpoint.clone(),
                    })
                    .collect(),
            }),
        };

        let queue_arn = arn_of(&job_queue, |q| &q.meta.arn);
        let job_definition_arn = arn_of(&job_definition, |d| &d.meta.arn);
        let topic_arn = arn_of(&topic, |t| &t.meta.arn);
        let role = Role {
            meta: meta(&names.role, scope.role_arn(&names.role)),
            trust: iam::trust_policy(&scope, &names.state_machine),
            policy_name: names.policy.clone(),
            policy: iam::inline_policy(
                &scope,
                &PolicyInputs {
                    job_queue_arn: queue_arn,
                    job_definition_arn,
                    topic_arn,
                },
            ),
        };
        let run = RunInputs::from_spec(spec, &id.region, &id.namespace, &id.name)?;
        let literal_messages = run.literal.clone();
        let state_machine = StateMachine {
            meta: meta(
                &names.state_machine,
                scope.state_machine_arn(&names.state_machine),
            ),
            definition: state_machine_definition(&DefinitionInputs {
                run,
                ..DefinitionInputs::from_spec(
                    spec,
                    scope.partition(),
                    queue_arn,
                    job_definition_arn,
                    topic_arn,
                )
            }),
            role_arn: role.meta.arn.clone(),
        };
        Ok(Desired {
            scope,
            names,
            owner,
            tags,
            compute_environment,
            job_queue,
            execution_role,
            job_definition,
            topic,
            role,
            state_machine,
            literal_messages,
        })
    }

    /// The task execution role at its name, wanted or not: one the spec no
    /// longer asks for is deleted.
    pub fn execution_role_at_its_name(&self) -> ExecutionRole {
        execution_role(&self.scope, &self.names, &self.tags)
    }

    /// The ARN of one of this object's executions.
    pub fn execution_arn(&self, execution: &str) -> String {
        self.scope
            .execution_arn(&self.names.state_machine, execution)
    }

    /// Every ARN the spec references, with its field: they must be in this
    /// object's account (and, but for IAM's, its region).
    pub fn references<'a>(
        &self,
        spec: &'a BatchNotificationSpec,
    ) -> Vec<(&'static str, &'a str, bool)> {
        let queue = spec.job_queue.managed.as_ref();
        let environment = queue.and_then(|q| q.compute_environment.managed.as_ref());
        let job = spec.job_definition.managed.as_ref();
        let regional = [
            ("spec.jobQueue.arn", spec.job_queue.arn.as_deref()),
            (
                "spec.jobQueue.managed.computeEnvironment.arn",
                queue.and_then(|q| q.compute_environment.arn.as_deref()),
            ),
            ("spec.jobDefinition.arn", spec.job_definition.arn.as_deref()),
            ("spec.topic.arn", spec.topic.arn.as_deref()),
        ];
        // IAM is global: its ARNs carry no region.
        let global = [
            (
                "spec.jobQueue.managed.computeEnvironment.managed.serviceRoleArn",
                environment.and_then(|e| e.service_role_arn.as_deref()),
            ),
            (
                "spec.jobDefinition.managed.executionRoleArn",
                job.and_then(|j| j.execution_role_arn.as_deref()),
            ),
            (
                "spec.jobDefinition.managed.jobRoleArn",
                job.and_then(|j| j.job_role_arn.as_deref()),
            ),
        ];
        regional
            .into_iter()
            .filter_map(|(f, a)| a.map(|a| (f, a, true)))
            .chain(
                global
                    .into_iter()
                    .filter_map(|(f, a)| a.map(|a| (f, a, false))),
            )
            .collect()
    }

    /// Where a referenced ARN must be: this scope's account and region.
    pub fn check_reference(&self, arn: &str, regional: bool) -> Result<(), ReferenceError> {
        let parsed = Arn::parse(arn).map_err(|_| ReferenceError::NotAnArn)?;
        if parsed.account != self.scope.account() {
            return Err(ReferenceError::Account(parsed.account.to_string()));
        }
        if regional && parsed.region != self.scope.region() {
            return Err(ReferenceError::Region(parsed.region.to_string()));
        }
        Ok(())
    }
}

/// A fingerprint of what the AWS resources are made from: the spec without
/// `run` (a new trigger or schedule changes no resource).
pub fn infrastructure_fingerprint(spec: &BatchNotificationSpec) -> String {
    let mut spec = spec.clone();
    spec.run = None;
    let json = serde_json::to_string(&spec).unwrap_or_default();
    super::fingerprint::fingerprint(&[&json], 16)
}

/// Why a referenced ARN cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    NotAnArn,
    Account(String),
    Region(String),
}

fn execution_role(scope: &Scope, names: &Names, tags: &BTreeMap<String, String>) -> ExecutionRole {
    ExecutionRole {
        meta: Meta {
            name: names.execution_role.clone(),
            arn: scope.role_arn(&names.execution_role),
            tags: tags.clone(),
        },
        trust: iam::execution_role_trust_policy(),
        policy_arn: iam::execution_role_policy_arn(scope),
    }
}

fn arn_of<'a, T>(wanted: &'a Wanted<T>, managed: impl Fn(&'a T) -> &'a String) -> &'a str {
    match wanted {
        Wanted::Referenced(arn) => arn,
        Wanted::Managed(t) => managed(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::documents::documents_equal;

    fn sample() -> BatchNotificationSpec {
        let text = include_str!("../../examples/sample.yaml");
        let obj: crate::api::BatchNotification = serde_yaml::from_str(text).expect("sample");
        obj.spec
    }

    fn identity() -> Identity {
        Identity {
            cluster: "prod".into(),
            namespace: "data".into(),
            name: "manage-a-batch-job".into(),
            uid: "8c1f0d6e-0000-4000-8000-000000000001".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn the_samples_job_definition_fingerprint_is_pinned() {
        let desired = Desired::new(&sample(), &identity()).expect("desired");
        let Wanted::Managed(def) = &desired.job_definition else {
            panic!("managed")
        };
        // Changes only when what is registered changes: a new value here
        // re-registers every job definition once (say so in the release notes).
        assert_eq!(def.fingerprint(), "d3e030563d29b343");
        assert_eq!(def.meta.tags.get(FINGERPRINT_TAG), Some(&def.fingerprint()));
    }

    #[test]
    fn the_definition_and_policy_name_the_job_definition_without_its_revision() {
        let desired = Desired::new(&sample(), &identity()).expect("desired");
        let Wanted::Managed(def) = &desired.job_definition else {
            panic!("managed")
        };
        let unrevisioned = &def.meta.arn;
        assert!(unrevisioned.ends_with(&format!("job-definition/{}", def.meta.name)));
        let submit = &desired.state_machine.definition["States"]["Submit Batch Job"];
        assert_eq!(
            submit["Parameters"]["JobDefinition"],
            json_str(unrevisioned)
        );
        let grants = desired.role.policy["Statement"][1]["Resource"].to_string();
        assert!(
            grants.contains(&format!("\"{unrevisioned}:*\"")),
            "{grants}"
        );
        // The execution role the job definition uses is the one managed.
        let role = desired.execution_role.as_ref().expect("execution role");
        assert_eq!(
            def.execution_role_arn.as_deref(),
            Some(role.meta.arn.as_str())
        );
        assert_eq!(desired.state_machine.role_arn, desired.role.meta.arn);
    }

    fn json_str(s: &str) -> Value {
        Value::String(s.to_string())
    }

    #[test]
    fn referenced_resources_are_used_as_given() {
        let spec: BatchNotificationSpec = serde_json::from_value(serde_json::json!({
            "jobQueue": {"arn": "arn:aws:batch:us-east-1:123456789012:job-queue/q"},
            "jobDefinition": {"arn": "arn:aws:batch:us-east-1:123456789012:job-definition/d:3"},
            "topic": {"arn": "arn:aws:sns:us-east-1:123456789012:t"},
        }))
        .expect("spec");
        let desired = Desired::new(&spec, &identity()).expect("desired");
        assert!(desired.compute_environment.is_none() && desired.execution_role.is_none());
        assert_eq!(
            desired.job_definition,
            Wanted::Referenced("arn:aws:batch:us-east-1:123456789012:job-definition/d:3".into())
        );
        let expected =
            crate::desired::state_machine_definition(&crate::desired::DefinitionInputs::from_spec(
                &spec,
                desired.scope.partition(),
                "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "arn:aws:batch:us-east-1:123456789012:job-definition/d:3",
                "arn:aws:sns:us-east-1:123456789012:t",
            ));
        assert!(documents_equal(
            &desired.state_machine.definition,
            &expected
        ));
    }

    #[test]
    fn an_account_that_is_not_one_is_named_as_such() {
        let mut id = identity();
        id.account = "12345".into();
        let e = Desired::new(&sample(), &id).expect_err("bad account");
        assert!(
            e.to_string().starts_with("the operator's AWS account:"),
            "{e}"
        );
        let mut id = identity();
        id.region = "Mars".into();
        let e = Desired::new(&sample(), &id).expect_err("bad region");
        assert!(e.to_string().starts_with("spec.region:"), "{e}");
    }
}
