//! One `ensure_*` per AWS resource: observe, compare by meaning, create or
//! update, and never touch what another object owns.
//!
//! Create-first: when status does not yet record a resource, we create it
//! with its tags in the same call and treat "already exists" as the cue to
//! observe and check ownership. When status records it, we observe it (a
//! resync) and put back what changed out of band.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::error::Problem;
use super::plan::{Ownership, Plan};
use super::report::Report;
use crate::aws::batch::{ComputeEnvironmentInput, JobDefinitionInput};
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::desired;

/// The observed status fields of the previous reconcile, for "do we already have it?".
pub struct Known<'a> {
    pub arn: Option<&'a str>,
}

fn ownership_problem(
    plan: &Plan,
    what: &str,
    tags: &BTreeMap<String, String>,
) -> Result<bool, Problem> {
    match plan.ownership(tags) {
        Ownership::Ours => Ok(false),
        Ownership::Adoptable(_) if plan.adopt => Ok(true),
        Ownership::Adoptable(why) => Err(Problem::conflict(format!(
            "{what} already exists and is {why}; to manage it, annotate this object with {}=\"true\"",
            super::ADOPT_ANNOTATION
        ))),
        Ownership::Other(owner) => Err(Problem::conflict(format!(
            "{what} already exists and belongs to {owner}; it is left untouched"
        ))),
    }
}

fn aws(what: &str) -> impl Fn(AwsError) -> Problem + '_ {
    move |e| Problem::aws(what, &e)
}

// ---------------------------------------------------------------- SNS topic

pub async fn ensure_topic(
    aws_: &RegionClients,
    plan: &Plan,
    known: Known<'_>,
    display_name: Option<&str>,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.topic;
    let what = format!("SNS topic {name}");
    let arn = plan.topic_arn();
    let topics = &aws_.topics;
    let mut existed = known.arn == Some(arn.as_str());
    if !existed {
        match topics.create(name, display_name, &plan.tags).await {
            // CreateTopic is idempotent: it also answers with the ARN of a topic
            // that already existed (AWS only when the tags match; the emulator
            // always). Reading the tags back tells a new topic from someone's.
            Ok(_) => {
                let tags = topics.tags(&arn).await.map_err(aws(&what))?;
                if plan.ownership(&tags) == Ownership::Ours {
                    report.created(&what);
                    return Ok(arn);
                }
                if ownership_problem(plan, &what, &tags)? {
                    topics.tag(&arn, &plan.tags).await.map_err(aws(&what))?;
                    report.adopted(&what);
                }
                existed = true;
            }
            // Same name, other tags: someone's topic, or ours from an older UID.
            Err(e) if matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::AlreadyExists) => {
                let tags = topics.tags(&arn).await.map_err(aws(&what))?;
                if ownership_problem(plan, &what, &tags)? {
                    topics.tag(&arn, &plan.tags).await.map_err(aws(&what))?;
                    report.adopted(&what);
                }
                existed = true;
            }
            Err(e) => return Err(Problem::aws(&what, &e)),
        }
    }
    if existed {
        match topics.observe(&arn).await.map_err(aws(&what))? {
            None => {
                topics
                    .create(name, display_name, &plan.tags)
                    .await
                    .map_err(aws(&what))?;
                report.drift(
                    "CreateTopic",
                    format!("{what} was deleted out of band; recreated"),
                );
            }
            Some(observed) => {
                if observed.display_name.as_deref() != display_name {
                    topics
                        .set_display_name(&arn, display_name.unwrap_or(""))
                        .await
                        .map_err(aws(&what))?;
                    report.drift("SetTopicAttributes", format!("{what} DisplayName put back"));
                }
            }
        }
    }
    Ok(arn)
}

/// Subscribes what the spec lists and is missing; unsubscribes confirmed
/// subscriptions the spec no longer lists. Returns (protocol, endpoint, state).
pub async fn ensure_subscriptions(
    aws_: &RegionClients,
    topic_arn: &str,
    desired_subs: &[(String, String)],
    just_created: bool,
    report: &mut Report,
) -> Result<Vec<(String, String, String)>, Problem> {
    let what = format!("subscriptions of {topic_arn}");
    let topics = &aws_.topics;
    // A topic we just created has no subscriptions: no need to list them.
    let observed = if just_created {
        Vec::new()
    } else {
        topics.subscriptions(topic_arn).await.map_err(aws(&what))?
    };
    let mut states = Vec::new();
    for (protocol, endpoint) in desired_subs {
        match observed
            .iter()
            .find(|s| &s.protocol == protocol && &s.endpoint == endpoint)
        {
            Some(s) => states.push((
                protocol.clone(),
                endpoint.clone(),
                if s.is_pending() {
                    "PendingConfirmation"
                } else {
                    "Confirmed"
                }
                .to_string(),
            )),
            None => {
                topics
                    .subscribe(topic_arn, protocol, endpoint)
                    .await
                    .map_err(aws(&what))?;
                report.created(format!("{protocol} subscription"));
                let state =
                    if matches!(protocol.as_str(), "email" | "email-json" | "http" | "https") {
                        "PendingConfirmation"
                    } else {
                        "Confirmed"
                    };
                states.push((protocol.clone(), endpoint.clone(), state.to_string()));
            }
        }
    }
    for s in &observed {
        let wanted = desired_subs
            .iter()
            .any(|(p, e)| p == &s.protocol && e == &s.endpoint);
        if !wanted && !s.is_pending() {
            topics.unsubscribe(&s.arn).await.map_err(aws(&what))?;
            report.deleted(format!("{} subscription", s.protocol));
        }
    }
    Ok(states)
}

// ---------------------------------------------------------------- IAM role

pub async fn ensure_role(
    aws_: &RegionClients,
    plan: &Plan,
    known: Known<'_>,
    trust: &Value,
    policy: &Value,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.role;
    let what = format!("IAM role {name}");
    let roles = &aws_.roles;
    let trust_text = trust.to_string();
    let policy_text = policy.to_string();
    let arn = plan.role_arn();
    if known.arn != Some(arn.as_str()) {
        match roles
            .create(name, &trust_text, STATE_MACHINE_ROLE, &plan.tags)
            .await
        {
            Ok(_) => {
                roles
                    .put_inline_policy(name, &plan.names.policy, &policy_text)
                    .await
                    .map_err(aws(&what))?;
                report.created(&what);
                return Ok(arn);
            }
            Err(e) if e.is(ErrorKind::AlreadyExists) => {}
            Err(e) => return Err(Problem::aws(&what, &e)),
        }
    }
    let Some(observed) = roles.observe(name).await.map_err(aws(&what))? else {
        roles
            .create(name, &trust_text, STATE_MACHINE_ROLE, &plan.tags)
            .await
            .map_err(aws(&what))?;
        roles
            .put_inline_policy(name, &plan.names.policy, &policy_text)
            .await
            .map_err(aws(&what))?;
        report.drift(
            "CreateRole",
            format!("{what} was deleted out of band; recreated"),
        );
        return Ok(arn);
    };
    if known.arn != Some(arn.as_str()) && ownership_problem(plan, &what, &observed.tags)? {
        roles.tag(name, &plan.tags).await.map_err(aws(&what))?;
        report.adopted(&what);
    }
    let trust_same = desired::documents::decode_iam_policy(&observed.trust_policy_encoded)
        .map(|t| desired::documents::documents_equal(&t, trust))
        .unwrap_or(false);
    if !trust_same {
        roles
            .update_trust_policy(name, &trust_text)
            .await
            .map_err(aws(&what))?;
        report.drift(
            "UpdateAssumeRolePolicy",
            format!("{what} trust policy put back"),
        );
    }
    let current = roles
        .inline_policy(name, &plan.names.policy)
        .await
        .map_err(aws(&what))?;
    let policy_same = current
        .as_deref()
        .and_then(|p| desired::documents::decode_iam_policy(p).ok())
        .map(|p| desired::documents::documents_equal(&p, policy))
        .unwrap_or(false);
    if !policy_same {
        roles
            .put_inline_policy(name, &plan.names.policy, &policy_text)
            .await
            .map_err(aws(&what))?;
        if current.is_some() {
            report.drift(
                "PutRolePolicy",
                format!("{what} inline policy {} put back", plan.names.policy),
            );
        }
    }
    Ok(observed.arn)
}

/// Descriptions of the roles the operator creates (shown in the IAM console).
const STATE_MACHINE_ROLE: &str = "Step Functions role managed by batchnotify";
const EXECUTION_ROLE: &str = "ECS task execution role of a Batch job, managed by batchnotify";

/// The task execution role of a managed Fargate job definition
/// (`managedExecutionRole: true`): trusted by ECS tasks, with AWS's managed
/// execution policy attached, so a new account needs no role made by hand.
pub async fn ensure_execution_role(
    aws_: &RegionClients,
    plan: &Plan,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.execution_role;
    let what = format!("IAM role {name}");
    let roles = &aws_.roles;
    let trust = desired::iam::execution_role_trust_policy();
    let policy_arn = plan.execution_role_policy_arn();
    match roles.observe(name).await.map_err(aws(&what))? {
        None => {
            roles
                .create(name, &trust.to_string(), EXECUTION_ROLE, &plan.tags)
                .await
                .map_err(aws(&what))?;
            roles
                .attach_policy(name, &policy_arn)
                .await
                .map_err(aws(&what))?;
            report.created(&what);
        }
        Some(observed) => {
            if ownership_problem(plan, &what, &observed.tags)? {
                roles.tag(name, &plan.tags).await.map_err(aws(&what))?;
                report.adopted(&what);
            }
            let trust_same = desired::documents::decode_iam_policy(&observed.trust_policy_encoded)
                .map(|t| desired::documents::documents_equal(&t, &trust))
                .unwrap_or(false);
            if !trust_same {
                roles
                    .update_trust_policy(name, &trust.to_string())
                    .await
                    .map_err(aws(&what))?;
                report.drift(
                    "UpdateAssumeRolePolicy",
                    format!("{what} trust policy put back"),
                );
            }
            let attached = roles.attached_policies(name).await.map_err(aws(&what))?;
            if !attached.contains(&policy_arn) {
                roles
                    .attach_policy(name, &policy_arn)
                    .await
                    .map_err(aws(&what))?;
                report.drift(
                    "AttachRolePolicy",
                    format!("{what}: {policy_arn} attached again"),
                );
            }
        }
    }
    Ok(plan.execution_role_arn())
}

/// Deletes the task execution role once the spec no longer asks for it (only
/// if it carries our tags).
pub async fn remove_execution_role(
    aws_: &RegionClients,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), Problem> {
    let name = &plan.names.execution_role;
    let what = format!("IAM role {name}");
    let roles = &aws_.roles;
    if let Some(role) = roles.observe(name).await.map_err(aws(&what))?
        && matches!(plan.ownership(&role.tags), Ownership::Ours)
    {
        roles
            .delete_with_attached(name, &plan.execution_role_policy_arn())
            .await
            .map_err(aws(&what))?;
        report.deleted(&what);
    }
    Ok(())
}

// ---------------------------------------------------------------- state machine

/// True when Step Functions refuses the role because IAM has not yet made it
/// assumable by states.amazonaws.com (IAM is eventually consistent). Only that
/// answer: any other denial is a missing permission of the operator.
fn role_not_yet_assumable(e: &AwsError) -> bool {
    crate::aws::sfn::role_not_assumable(e)
}

pub async fn ensure_state_machine(
    aws_: &RegionClients,
    plan: &Plan,
    known: Known<'_>,
    role_arn: &str,
    definition: &Value,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.state_machine;
    let what = format!("state machine {name}");
    let machines = &aws_.state_machines;
    let arn = plan.state_machine_arn();
    let text = definition.to_string();
    let propagation = |e: &AwsError| {
        Problem::transient(
            "RolePropagating",
            format!(
                "{what}: the new IAM role is not yet assumable by Step Functions ({e}); retrying"
            ),
            Duration::from_secs(5),
        )
    };
    let mut adopting_checked = known.arn == Some(arn.as_str());
    if !adopting_checked {
        match machines.create(name, &text, role_arn, &plan.tags).await {
            Ok(created) => {
                report.created(&what);
                return Ok(created);
            }
            Err(e) if role_not_yet_assumable(&e) => return Err(propagation(&e)),
            Err(e) if e.is(ErrorKind::AlreadyExists) => {
                let tags = machines.tags(&arn).await.map_err(aws(&what))?;
                if ownership_problem(plan, &what, &tags)? {
                    machines.tag(&arn, &plan.tags).await.map_err(aws(&what))?;
                    report.adopted(&what);
                }
                adopting_checked = true;
            }
            Err(e) => return Err(Problem::aws(&what, &e)),
        }
    }
    debug_assert!(adopting_checked);
    match machines.observe(&arn).await.map_err(aws(&what))? {
        None => {
            machines
                .create(name, &text, role_arn, &plan.tags)
                .await
                .map_err(|e| {
                    if role_not_yet_assumable(&e) {
                        propagation(&e)
                    } else {
                        Problem::aws(&what, &e)
                    }
                })?;
            report.drift(
                "CreateStateMachine",
                format!("{what} was deleted out of band; recreated"),
            );
        }
        Some(observed) => {
            let same_definition = serde_json::from_str::<Value>(&observed.definition)
                .map(|d| desired::documents::documents_equal(&d, definition))
                .unwrap_or(false);
            if !same_definition || observed.role_arn != role_arn {
                machines.update(&arn, &text, role_arn).await.map_err(|e| {
                    if role_not_yet_assumable(&e) {
                        propagation(&e)
                    } else {
                        Problem::aws(&what, &e)
                    }
                })?;
                if known.arn == Some(arn.as_str()) && !plan.generation_changed {
                    let field = if same_definition {
                        "roleArn"
                    } else {
                        "definition"
                    };
                    report.drift("UpdateStateMachine", format!("{what} {field} put back"));
                } else {
                    report.updated(&what);
                }
            }
        }
    }
    Ok(arn)
}

// ---------------------------------------------------------------- Batch

/// Registers a new revision when the spec changed (revisions are immutable),
/// and deregisters the older revisions we own.
pub async fn ensure_job_definition(
    aws_: &RegionClients,
    plan: &Plan,
    input: &JobDefinitionInput,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.job_definition;
    let what = format!("job definition {name}");
    let batch = &aws_.batch;
    let fingerprint = super::plan::spec_hash(&format!("{input:?}"));
    let mut tags = plan.tags.clone();
    tags.insert(super::plan::SPEC_HASH_TAG.to_string(), fingerprint.clone());

    let active = batch
        .active_job_definitions(name)
        .await
        .map_err(aws(&what))?;
    let mut ours = Vec::new();
    for def in &active {
        match plan.ownership(&def.tags) {
            Ownership::Ours => ours.push(def),
            Ownership::Adoptable(_) if plan.adopt => {
                batch.tag(&def.arn, &tags).await.map_err(aws(&what))?;
                report.adopted(format!("{what}:{}", def.revision));
                ours.push(def)
            }
            _ => {
                ownership_problem(plan, &format!("{what}:{}", def.revision), &def.tags)?;
            }
        }
    }
    let current = ours
        .iter()
        .rev()
        .find(|d| d.tags.get(super::plan::SPEC_HASH_TAG) == Some(&fingerprint))
        .map(|d| d.arn.clone());
    let arn = match current {
        Some(arn) => arn,
        None => {
            let arn = batch
                .register_job_definition(name, input, &tags)
                .await
                .map_err(aws(&what))?;
            if ours.is_empty() {
                report.created(&what);
            } else {
                report.updated(format!("{what}: registered a new revision"));
            }
            arn
        }
    };
    for old in ours.iter().filter(|d| d.arn != arn) {
        batch
            .deregister_job_definition(&old.arn)
            .await
            .map_err(aws(&what))?;
        report.deleted(format!("{what}:{} (old revision)", old.revision));
    }
    Ok(arn)
}

pub async fn ensure_compute_environment(
    aws_: &RegionClients,
    plan: &Plan,
    input: &ComputeEnvironmentInput,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.compute_environment;
    let what = format!("compute environment {name}");
    let batch = &aws_.batch;
    match batch.compute_environment(name).await.map_err(aws(&what))? {
        None => {
            batch
                .create_compute_environment(name, input, &plan.tags)
                .await
                .map_err(aws(&what))?;
            report.created(&what);
            // A new compute environment is CREATING; Batch refuses a queue on
            // it until it is VALID.
            Err(compute_environment_not_ready(&what, "CREATING"))
        }
        Some(ce) => {
            if ownership_problem(plan, &what, &ce.tags)? {
                batch.tag(&ce.arn, &plan.tags).await.map_err(aws(&what))?;
                report.adopted(&what);
            }
            // Batch accepts no change while CREATING/UPDATING, and no queue
            // on a compute environment that is not VALID.
            // https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
            if ce.status == "CREATING" || ce.status == "UPDATING" || ce.status == "DELETING" {
                return Err(compute_environment_not_ready(&what, &ce.status));
            }
            let differs = ce.max_vcpus != Some(input.max_vcpus)
                || sorted(&ce.subnets) != sorted(&input.subnets)
                || sorted(&ce.security_group_ids) != sorted(&input.security_group_ids)
                || ce.state != "ENABLED";
            if differs {
                batch
                    .update_compute_environment(&ce.arn, input)
                    .await
                    .map_err(aws(&what))?;
                report.updated(&what);
                return Err(compute_environment_not_ready(&what, "UPDATING"));
            }
            if ce.status == "INVALID" {
                return Err(Problem::stalled(
                    "ComputeEnvironmentInvalid",
                    format!(
                        "{what} is INVALID: {}",
                        ce.status_reason
                            .as_deref()
                            .unwrap_or("AWS Batch gave no reason")
                    ),
                ));
            }
            Ok(ce.arn)
        }
    }
}

/// Batch is still working on the compute environment: look again shortly.
fn compute_environment_not_ready(what: &str, status: &str) -> Problem {
    Problem::transient(
        "ComputeEnvironmentNotReady",
        format!("{what} is {status}; the job queue follows once it is VALID"),
        Duration::from_secs(5),
    )
}

pub async fn ensure_job_queue(
    aws_: &RegionClients,
    plan: &Plan,
    priority: i32,
    compute_environment_arn: &str,
    report: &mut Report,
) -> Result<String, Problem> {
    let name = &plan.names.job_queue;
    let what = format!("job queue {name}");
    let batch = &aws_.batch;
    match batch.job_queue(name).await.map_err(aws(&what))? {
        None => {
            let arn = batch
                .create_job_queue(name, priority, compute_environment_arn, &plan.tags)
                .await
                .map_err(aws(&what))?;
            report.created(&what);
            Ok(arn)
        }
        Some(q) => {
            if ownership_problem(plan, &what, &q.tags)? {
                batch.tag(&q.arn, &plan.tags).await.map_err(aws(&what))?;
                report.adopted(&what);
            }
            if q.priority != priority
                || q.compute_environments != [compute_environment_arn.to_string()]
                || q.state != "ENABLED"
            {
                // Batch accepts no update while the queue is CREATING/UPDATING.
                if q.status == "CREATING" || q.status == "UPDATING" {
                    return Err(Problem::transient(
                        "JobQueueNotReady",
                        format!("{what} is {}; it is updated once VALID", q.status),
                        Duration::from_secs(5),
                    ));
                }
                batch
                    .update_job_queue(&q.arn, priority, compute_environment_arn)
                    .await
                    .map_err(aws(&what))?;
                report.updated(&what);
            }
            Ok(q.arn)
        }
    }
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}
