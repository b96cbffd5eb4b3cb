//! The Cleanup half of the finalizer. `deletionPolicy: Delete` stops our
//! running executions, then deletes what we own in reverse dependency order;
//! every step is idempotent and NotFound counts as done. `Retain` leaves AWS
//! untouched. A resource someone else owns is never deleted.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::Context;
use super::error::{Error, Problem};
use super::plan::{Ownership, Plan};
use super::report::Report;
use crate::api::{BatchNotification, DeletionPolicy};
use crate::aws::{AwsError, ErrorKind, RegionClients};

pub async fn cleanup(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.spec.deletion_policy() == DeletionPolicy::Retain {
        ctx.publish(
            &obj,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy is Retain: AWS resources are left in place".to_string(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let Some(plan) = locate(&obj, &ctx).await? else {
        // No region could ever be resolved, or no valid names: nothing was created.
        return Ok(Action::await_change());
    };
    let clients = ctx.aws.region(&plan.region);
    let mut report = Report::default();
    let result = delete_all(&obj, &clients, &plan, &mut report).await;
    for (type_, reason, action, note) in report.events() {
        ctx.publish(&obj, type_, reason, &action, note).await;
    }
    match result {
        Ok(()) => Ok(Action::await_change()),
        // Routine: Batch deletes asynchronously. A Normal Event (the
        // Recorder folds repeats into one series), no warning.
        Err(p) if BATCH_DELETING.contains(&p.reason) => {
            ctx.publish(
                &obj,
                EventType::Normal,
                p.reason,
                "Delete",
                p.message.clone(),
            )
            .await;
            Err(Error::DeletionPending(p))
        }
        Err(p) => {
            ctx.publish(
                &obj,
                EventType::Warning,
                p.reason,
                "Delete",
                p.message.clone(),
            )
            .await;
            Err(Error::Deletion(p))
        }
    }
}

/// Waiting for our job queue to be deleted before its compute environment.
const DELETING_JOB_QUEUE: &str = "DeletingJobQueue";
/// Batch refused a delete because an earlier one is still under way.
const DELETION_IN_PROGRESS: &str = "DeletionInProgress";
/// The reasons that are only Batch's own asynchronous deletion.
const BATCH_DELETING: [&str; 2] = [DELETING_JOB_QUEUE, DELETION_IN_PROGRESS];

/// Where this object's AWS resources would be. Status says so once a pass has
/// written it. A crash between the first create and the first status write
/// leaves status empty while AWS already holds tagged resources, so without
/// status the region and account are resolved the way the apply resolves them
/// and the deterministic names are looked up. `None` when the apply could not
/// have created anything: no region, or names it would have refused.
async fn locate(obj: &BatchNotification, ctx: &Context) -> Result<Option<Plan>, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let cluster = &ctx.config.cluster_name;
    if let (Some(region), Some(account)) = (&status.region, &status.account_id) {
        return Plan::new(obj, cluster, region, account, &status)
            .map(Some)
            .map_err(Error::Deletion);
    }
    let region = status
        .region
        .clone()
        .or_else(|| obj.spec.region.clone())
        .or_else(|| ctx.config.default_region.clone());
    let Some(region) = region else {
        return Ok(None);
    };
    let account = match &status.account_id {
        Some(account) => account.clone(),
        None => ctx.account_id().await.map_err(Error::Deletion)?,
    };
    Ok(Plan::new(obj, cluster, &region, &account, &status).ok())
}

fn aws(what: &str) -> impl Fn(AwsError) -> Problem + '_ {
    move |e| Problem::aws(what, &e)
}

/// Only what carries our tags (or what we adopted) is ours to delete.
fn ours(plan: &Plan, tags: &std::collections::BTreeMap<String, String>) -> bool {
    match plan.ownership(tags) {
        Ownership::Ours => true,
        Ownership::Adoptable(_) => plan.adopt,
        Ownership::Other(_) => false,
    }
}

fn not_found_is_empty<T: Default>(r: Result<T, AwsError>) -> Result<T, AwsError> {
    match r {
        Err(e) if e.is(ErrorKind::NotFound) => Ok(T::default()),
        other => other,
    }
}

async fn delete_all(
    obj: &BatchNotification,
    clients: &RegionClients,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), Problem> {
    let spec = &obj.spec;

    // The state machine: stop our running executions first.
    let machine = plan.state_machine_arn();
    let what = format!("state machine {}", plan.names.state_machine);
    let tags =
        not_found_is_empty(clients.state_machines.tags(&machine).await).map_err(aws(&what))?;
    if !tags.is_empty() && ours(plan, &tags) {
        // A machine deleted before a crash may keep answering for its tags.
        let running = not_found_is_empty(clients.state_machines.running_executions(&machine).await)
            .map_err(aws(&what))?;
        for execution in running {
            clients
                .state_machines
                .stop_execution(&execution, "the BatchNotification was deleted")
                .await
                .map_err(aws(&what))?;
            report.deleted(format!(
                "stopped execution {}",
                execution.rsplit(':').next().unwrap_or("")
            ));
        }
        clients
            .state_machines
            .delete(&machine)
            .await
            .map_err(aws(&what))?;
        report.deleted(&what);
    }

    let what = format!("IAM role {}", plan.names.role);
    if let Some(role) = clients
        .roles
        .observe(&plan.names.role)
        .await
        .map_err(aws(&what))?
        && ours(plan, &role.tags)
    {
        clients
            .roles
            .delete(&plan.names.role, &plan.names.policy)
            .await
            .map_err(aws(&what))?;
        report.deleted(&what);
    }

    // The task execution role: found by its name, deleted only with our tags.
    let execution_role_asked = spec
        .job_definition
        .managed
        .as_ref()
        .is_some_and(|d| d.managed_execution_role());
    let execution_role_known = obj
        .status
        .as_ref()
        .is_some_and(|s| s.execution_role_arn.is_some());
    if execution_role_asked || execution_role_known {
        let name = &plan.names.execution_role;
        let what = format!("IAM role {name}");
        if let Some(role) = clients.roles.observe(name).await.map_err(aws(&what))?
            && ours(plan, &role.tags)
        {
            clients
                .roles
                .delete_with_attached(name, &plan.execution_role_policy_arn())
                .await
                .map_err(aws(&what))?;
            report.deleted(&what);
        }
    }

    if spec.topic.managed.is_some() {
        let arn = plan.topic_arn();
        let what = format!("SNS topic {}", plan.names.topic);
        let tags = not_found_is_empty(clients.topics.tags(&arn).await).map_err(aws(&what))?;
        if !tags.is_empty() && ours(plan, &tags) {
            for sub in
                not_found_is_empty(clients.topics.subscriptions(&arn).await).map_err(aws(&what))?
            {
                if !sub.is_pending() {
                    clients
                        .topics
                        .unsubscribe(&sub.arn)
                        .await
                        .map_err(aws(&what))?;
                }
            }
            clients.topics.delete(&arn).await.map_err(aws(&what))?;
            report.deleted(&what);
        }
    }

    if spec.job_definition.managed.is_some() {
        let what = format!("job definition {}", plan.names.job_definition);
        for def in clients
            .batch
            .active_job_definitions(&plan.names.job_definition)
            .await
            .map_err(aws(&what))?
        {
            if ours(plan, &def.tags) {
                clients
                    .batch
                    .deregister_job_definition(&def.arn)
                    .await
                    .map_err(aws(&what))?;
                report.deleted(format!("{what}:{}", def.revision));
            }
        }
    }

    if let Some(queue) = spec.job_queue.managed.as_ref() {
        let what = format!("job queue {}", plan.names.job_queue);
        let mut deleting_queue = false;
        if let Some(q) = clients
            .batch
            .job_queue(&plan.names.job_queue)
            .await
            .map_err(aws(&what))?
            && ours(plan, &q.tags)
        {
            // Deletion is asynchronous: one already under way is waited for.
            if q.status != "DELETING" {
                let requested = clients
                    .batch
                    .delete_job_queue(&q.arn)
                    .await
                    .map_err(|e| retry_later(&what, e))?;
                if !requested {
                    return Err(disabling(&what));
                }
                report.deleted(&what);
            }
            deleting_queue = true;
        }
        if queue.compute_environment.managed.is_some() {
            let what = format!("compute environment {}", plan.names.compute_environment);
            // AWS deletes a compute environment only once no queue uses it:
            // wait for our queue to go. A queue at our name that is not ours is
            // never waited for (it would never go); AWS refusing to delete our
            // compute environment while that queue uses it is retried below.
            if deleting_queue
                && clients
                    .batch
                    .job_queue(&plan.names.job_queue)
                    .await
                    .map_err(aws(&what))?
                    .is_some()
            {
                return Err(Problem::transient(
                    DELETING_JOB_QUEUE,
                    format!(
                        "waiting for job queue {} to be deleted",
                        plan.names.job_queue
                    ),
                    Duration::from_secs(5),
                ));
            }
            if let Some(ce) = clients
                .batch
                .compute_environment(&plan.names.compute_environment)
                .await
                .map_err(aws(&what))?
                && ours(plan, &ce.tags)
                && ce.status != "DELETING"
            {
                let requested = clients
                    .batch
                    .delete_compute_environment(&ce.arn)
                    .await
                    .map_err(|e| retry_later(&what, e))?;
                if !requested {
                    return Err(disabling(&what));
                }
                report.deleted(&what);
            }
        }
    }
    Ok(())
}

/// Batch disables asynchronously (UPDATING): deletion follows once it settles.
fn disabling(what: &str) -> Problem {
    Problem::transient(
        DELETION_IN_PROGRESS,
        format!("{what} is being disabled; it is deleted once AWS Batch has settled it"),
        Duration::from_secs(5),
    )
}

/// Batch deletes are asynchronous: "in use" or "not yet disabled" means later.
fn retry_later(what: &str, e: AwsError) -> Problem {
    if matches!(e.kind, ErrorKind::Conflict | ErrorKind::InvalidInput) {
        Problem::transient(
            DELETION_IN_PROGRESS,
            format!("{what}: {e}"),
            Duration::from_secs(5),
        )
    } else {
        Problem::aws(what, &e)
    }
}
