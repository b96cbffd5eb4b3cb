//! The resolved plan for one object: its names, tags, ARNs and documents,
//! all computed by the pure `desired` module from (cluster, namespace, name,
//! UID, region, account).

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::Value;

use super::error::Problem;
use crate::api::{BatchNotification, BatchNotificationSpec, BatchNotificationStatus};
use crate::desired::arns::Scope;
use crate::desired::executions;
use crate::desired::iam::{self, PolicyInputs};
use crate::desired::names::Names;
use crate::desired::state_machine::{DefinitionInputs, state_machine_definition};
use crate::desired::tags::{self, Owner};

/// The tag on a job definition revision that records which spec it was registered from
/// (revisions are immutable, so a matching tag means "nothing to do").
pub const SPEC_HASH_TAG: &str = "batchnotify.dev/spec-hash";

/// A short, stable hash of a job definition's inputs (the [`SPEC_HASH_TAG`] value).
pub fn spec_hash(input: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(input.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who owns an observed resource, in the controller's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Ownership {
    Ours,
    /// Untagged, or tagged for this object under an older UID: ours once adopted.
    Adoptable(String),
    /// Someone else's (a description of the owner).
    Other(String),
}

pub struct Plan {
    pub scope: Scope,
    pub region: String,
    pub account: String,
    pub owner: Owner,
    pub names: Names,
    pub tags: BTreeMap<String, String>,
    /// The object carries the adoption annotation.
    pub adopt: bool,
    /// The spec changed since the last status write (an update, not drift).
    pub generation_changed: bool,
}

impl Plan {
    pub fn new(
        obj: &BatchNotification,
        cluster: &str,
        region: &str,
        account: &str,
        status: &BatchNotificationStatus,
    ) -> Result<Plan, Problem> {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        let scope = Scope::new(region, account)
            .map_err(|e| Problem::stalled("InvalidSpec", format!("spec.region: {e}")))?;
        let names = Names::new(cluster, &namespace, &name)
            .map_err(|e| Problem::stalled("InvalidName", format!("metadata.name: {e}")))?;
        let owner = Owner {
            cluster: cluster.to_string(),
            namespace,
            name,
            uid: obj.uid().unwrap_or_default(),
        };
        let tags = tags::desired_tags(&owner, &obj.spec.tags());
        let adopt = obj
            .annotations()
            .get(super::ADOPT_ANNOTATION)
            .is_some_and(|v| v == "true");
        Ok(Plan {
            scope,
            region: region.to_string(),
            account: account.to_string(),
            owner,
            names,
            tags,
            adopt,
            generation_changed: status.observed_generation != obj.metadata.generation,
        })
    }

    pub fn ownership(&self, observed: &BTreeMap<String, String>) -> Ownership {
        match tags::classify_ownership(&self.owner, observed) {
            tags::Ownership::Ours => Ownership::Ours,
            tags::Ownership::Untagged => {
                Ownership::Adoptable("not tagged by batchnotify".to_string())
            }
            tags::Ownership::SameObjectOlderUid { uid } => Ownership::Adoptable(format!(
                "tagged for {}/{} under an older UID {}",
                self.owner.namespace,
                self.owner.name,
                uid.unwrap_or_default()
            )),
            tags::Ownership::OtherObject {
                cluster,
                namespace,
                name,
                ..
            } => Ownership::Other(format!(
                "BatchNotification {}/{} of cluster {}",
                namespace.unwrap_or_else(|| "?".into()),
                name.unwrap_or_else(|| "?".into()),
                cluster.unwrap_or_else(|| "?".into())
            )),
        }
    }

    pub fn topic_arn(&self) -> String {
        self.scope.topic_arn(&self.names.topic)
    }

    pub fn role_arn(&self) -> String {
        self.scope.role_arn(&self.names.role)
    }

    pub fn execution_role_arn(&self) -> String {
        self.scope.role_arn(&self.names.execution_role)
    }

    /// AWS's managed task execution policy, attached to the execution role.
    pub fn execution_role_policy_arn(&self) -> String {
        iam::execution_role_policy_arn(&self.scope)
    }

    pub fn state_machine_arn(&self) -> String {
        self.scope.state_machine_arn(&self.names.state_machine)
    }

    pub fn execution_arn(&self, execution: &str) -> String {
        self.scope
            .execution_arn(&self.names.state_machine, execution)
    }

    /// The Batch service-linked role: what AWS uses when a compute environment names none.
    pub fn batch_service_linked_role(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch",
            self.scope.partition().as_str(),
            self.account
        )
    }

    pub fn execution_name_for_trigger(&self, trigger: &str) -> String {
        executions::execution_name_for_trigger(&self.owner.uid, trigger)
    }

    pub fn execution_name_for_schedule(&self, at: k8s_openapi::jiff::Timestamp) -> String {
        executions::execution_name_for_schedule(&self.owner.uid, at)
    }

    pub fn trust_policy(&self) -> Value {
        iam::trust_policy(&self.scope, &self.names.state_machine)
    }

    pub fn inline_policy(
        &self,
        job_queue_arn: &str,
        job_definition_arn: &str,
        topic_arn: &str,
    ) -> Value {
        iam::inline_policy(
            &self.scope,
            &PolicyInputs {
                job_queue_arn,
                job_definition_arn,
                topic_arn,
            },
        )
    }

    pub fn definition(
        &self,
        spec: &BatchNotificationSpec,
        job_queue_arn: &str,
        job_definition_arn: &str,
        topic_arn: &str,
    ) -> Value {
        state_machine_definition(&DefinitionInputs::from_spec(
            spec,
            self.scope.partition(),
            job_queue_arn,
            job_definition_arn,
            topic_arn,
        ))
    }
}
