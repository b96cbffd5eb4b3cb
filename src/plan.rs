//! `batchnotify plan -f manifest.yaml`: what a manifest would create and
//! grant, computed offline by the same pure functions the controller uses, so
//! a security reviewer sees the IAM policy before anything is applied.

use kube::ResourceExt;
use serde_json::json;

use crate::api::{BatchNotification, Source};
use crate::desired::arns::Scope;
use crate::desired::iam::{PolicyInputs, inline_policy, trust_policy};
use crate::desired::names::Names;
use crate::desired::state_machine::{DefinitionInputs, state_machine_definition};
use crate::desired::tags::{Owner, desired_tags};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("not a BatchNotification manifest: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("{0}")]
    Spec(String),
    #[error("printing the plan: {0}")]
    Print(String),
}

/// How the plan is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// YAML in which every string that a YAML 1.1 reader (PyYAML, many tools)
    /// would read as another type is quoted: a policy's `Version: "2012-10-17"`
    /// stays a string when copied.
    #[default]
    Yaml,
    /// Pretty-printed JSON: the policies and the definition as AWS takes them.
    Json,
}

/// Renders the plan.
pub fn render(
    manifest: &str,
    cluster: &str,
    namespace: &str,
    region: &str,
    account: &str,
    format: Format,
) -> Result<String, PlanError> {
    let obj: BatchNotification = serde_yaml::from_str(manifest)?;
    obj.spec
        .validate()
        .map_err(|e| PlanError::Spec(e.to_string()))?;
    let namespace = obj.namespace().unwrap_or_else(|| namespace.to_string());
    let name = obj.name_any();
    let region = obj
        .spec
        .region
        .clone()
        .unwrap_or_else(|| region.to_string());
    let scope = Scope::new(&region, account)
        .map_err(|e| PlanError::Spec(format!("region/account: {e}")))?;
    let names = Names::new(cluster, &namespace, &name)
        .map_err(|e| PlanError::Spec(format!("metadata.name: {e}")))?;
    let owner = Owner {
        cluster: cluster.to_string(),
        namespace: namespace.clone(),
        name: name.clone(),
        uid: "<the object's UID>".to_string(),
    };
    let tags = desired_tags(&owner, &obj.spec.tags());
    let spec_err = |e: crate::api::SpecError| PlanError::Spec(e.to_string());

    let mut creates = Vec::new();
    let queue_arn = match obj.spec.job_queue.source().map_err(spec_err)? {
        Source::Arn(arn) => arn.to_string(),
        Source::Managed(q) => {
            if q.compute_environment.managed.is_some() {
                creates.push(json!({"compute environment": names.compute_environment}));
            }
            creates.push(json!({"job queue": names.job_queue}));
            scope.job_queue_arn(&names.job_queue)
        }
    };
    let job_definition_arn = match obj.spec.job_definition.source().map_err(spec_err)? {
        Source::Arn(arn) => arn.to_string(),
        Source::Managed(_) => {
            creates.push(json!({"job definition": names.job_definition}));
            format!(
                "{}:<revision>",
                scope.job_definition_arn(&names.job_definition, None)
            )
        }
    };
    let topic_arn = match obj.spec.topic.source().map_err(spec_err)? {
        Source::Arn(arn) => arn.to_string(),
        Source::Managed(_) => {
            creates.push(json!({"SNS topic": names.topic}));
            scope.topic_arn(&names.topic)
        }
    };
    creates.push(json!({"IAM role": names.role, "inline policy": names.policy}));
    creates.push(json!({"state machine": names.state_machine}));

    let plan = json!({
        "object": format!("{namespace}/{name}"),
        "region": region,
        "account": account,
        "creates": creates,
        "tags": tags,
        "roleTrustPolicy": trust_policy(&scope, &names.state_machine),
        "roleInlinePolicy": inline_policy(&scope, &PolicyInputs {
            job_queue_arn: &queue_arn,
            job_definition_arn: &job_definition_arn,
            topic_arn: &topic_arn,
        }),
        "stateMachineDefinition": state_machine_definition(&DefinitionInputs::from_spec(
            &obj.spec,
            scope.partition(),
            &queue_arn,
            &job_definition_arn,
            &topic_arn,
        )),
    });
    match format {
        Format::Yaml => serde_saphyr::to_string(&plan).map_err(|e| PlanError::Print(e.to_string())),
        Format::Json => serde_json::to_string_pretty(&plan)
            .map(|json| json + "\n")
            .map_err(|e| PlanError::Print(e.to_string())),
    }
}
