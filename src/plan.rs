//! `batchnotify plan -f manifest.yaml`: what a manifest would create and
//! grant, computed offline by the same pure functions the controller uses, so
//! a security reviewer sees the IAM policy before anything is applied.

use kube::ResourceExt;
use serde_json::json;

use crate::api::BatchNotification;
use crate::desired::{Desired, Identity, Wanted};

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
    let identity = Identity {
        cluster: cluster.to_string(),
        namespace: namespace.clone(),
        name: name.clone(),
        uid: "<the object's UID>".to_string(),
        region: region.clone(),
        account: account.to_string(),
    };
    let desired = Desired::new(&obj.spec, &identity).map_err(|e| PlanError::Spec(e.to_string()))?;

    let mut creates = Vec::new();
    if let Some(Wanted::Managed(ce)) = &desired.compute_environment {
        creates.push(json!({"compute environment": ce.meta.name}));
    }
    if let Wanted::Managed(queue) = &desired.job_queue {
        creates.push(json!({"job queue": queue.meta.name}));
    }
    if let Some(role) = &desired.execution_role {
        creates.push(json!({"IAM role": role.meta.name}));
    }
    if let Wanted::Managed(def) = &desired.job_definition {
        creates.push(json!({"job definition": def.meta.name}));
    }
    if let Wanted::Managed(topic) = &desired.topic {
        creates.push(json!({"SNS topic": topic.meta.name}));
    }
    let role = &desired.role;
    creates.push(json!({"IAM role": role.meta.name, "inline policy": role.policy_name}));
    creates.push(json!({"state machine": desired.state_machine.meta.name}));

    let plan = json!({
        "object": format!("{namespace}/{name}"),
        "region": region,
        "account": account,
        "creates": creates,
        "tags": desired.tags,
        "roleTrustPolicy": role.trust,
        "roleInlinePolicy": role.policy,
        "stateMachineDefinition": desired.state_machine.definition,
    });
    match format {
        Format::Yaml => serde_saphyr::to_string(&plan).map_err(|e| PlanError::Print(e.to_string())),
        Format::Json => serde_json::to_string_pretty(&plan)
            .map(|json| json + "\n")
            .map_err(|e| PlanError::Print(e.to_string())),
    }
}
