//! The Cleanup half of the finalizer. `deletionPolicy: Delete` stops our
//! running executions, then deletes what we own in reverse dependency order;
//! every step is idempotent and NotFound counts as done. `Retain` leaves AWS
//! untouched. A resource someone else owns is never deleted.

use std::sync::Arc;

use kube::runtime::controller::Action;

use kube::ResourceExt;

use super::Context;
use super::access;
use super::error::{Error, Problem};
use super::managers::compute_environment::ComputeEnvironmentManager;
use super::managers::job_definition::JobDefinitionManager;
use super::managers::job_queue::JobQueueManager;
use super::managers::role::{ExecutionRoleManager, StateMachineRoleManager};
use super::managers::state_machine::StateMachineManager;
use super::managers::topic::TopicManager;
use super::managers::{self, Judge, Removal};
use super::report::Report;
use crate::api::reason::Reason;
use crate::api::{BatchNotification, DeletionPolicy};
use crate::aws::{Principal, RegionClients};
use crate::desired::{Desired, Identity, Scope, Wanted};

pub async fn cleanup(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.spec.deletion_policy() == DeletionPolicy::Retain {
        return retain(&obj, &ctx).await;
    }
    let principal = match principal(&obj, &ctx).await {
        Ok(p) => p,
        Err(p) => {
            ctx.publish(&obj, p.reason, "Delete", p.message.clone())
                .await;
            return Err(Error::Deletion(p));
        }
    };
    let Some(desired) = locate(&obj, &ctx, &principal).await? else {
        // No region could ever be resolved, or no valid names: nothing was created.
        return Ok(Action::await_change());
    };
    let clients = ctx.aws.clients(&principal, desired.scope.region()).await;
    let mut report = Report::default();
    let judge = Judge {
        owner: &desired.owner,
        adopt: super::adopt(&obj),
        spec_changed: false,
    };
    let status = obj.status.clone().unwrap_or_default();
    let result = remove_all(
        &clients,
        &desired,
        &judge,
        status.execution_role_arn.is_some(),
        &mut report,
    )
    .await;
    let result = match result {
        Ok(()) => remove_route_if_last(&obj, &ctx, &clients, &desired.scope).await,
        other => other,
    };
    for (reason, action, note) in report.events() {
        ctx.publish(&obj, reason, &action, note).await;
    }
    let Err(p) = result else {
        return Ok(Action::await_change());
    };
    // Routine (Batch deletes asynchronously) is a Normal Event the Recorder
    // folds into one series; a real problem a Warning.
    ctx.publish(&obj, p.reason, "Delete", p.message.clone())
        .await;
    if p.reason.routine() {
        Err(Error::DeletionPending(p))
    } else {
        Err(Error::Deletion(p))
    }
}

/// `deletionPolicy: Retain`: AWS is left as it is; only this object's hold
/// on the events route goes.
async fn retain(obj: &BatchNotification, ctx: &Context) -> Result<Action, Error> {
    ctx.publish(
        obj,
        Reason::Retained,
        "Delete",
        "deletionPolicy is Retain: AWS resources are left in place".to_string(),
    )
    .await;
    let principal = principal(obj, ctx).await.map_err(Error::Deletion)?;
    release_events_route(obj, ctx, &principal)
        .await
        .map_err(Error::Deletion)?;
    Ok(Action::await_change())
}

/// The last object of this cluster in its region takes the events route
/// with it (event mode; a later object makes it again).
async fn remove_route_if_last(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    scope: &Scope,
) -> Result<(), Problem> {
    if !ctx.events.enabled() || ctx.region_still_used(obj, scope.account(), scope.region()) {
        return Ok(());
    }
    ctx.events.remove(clients, scope).await
}

/// The last object of this cluster in its region takes the operator's
/// events route with it (event mode; a later object makes it again). The
/// route is the operator's, not the object's: `Retain` keeps the object's
/// resources, not it.
async fn release_events_route(
    obj: &BatchNotification,
    ctx: &Context,
    principal: &Principal,
) -> Result<(), Problem> {
    let status = obj.status.clone().unwrap_or_default();
    let (Some(region), Some(account)) = (status.region, status.account_id) else {
        return Ok(());
    };
    let Ok(scope) = Scope::new(region.clone(), account) else {
        return Ok(());
    };
    let clients = ctx.aws.clients(principal, &region).await;
    remove_route_if_last(obj, ctx, &clients, &scope).await
}

/// Whose credentials delete this object's resources: the principal its
/// namespace's AccessGrant gives now, as long as that is the account they
/// were made in; the operator's own for an object made without a grant.
/// Otherwise the finalizer stays, saying why: nothing leaked, nothing lost.
async fn principal(obj: &BatchNotification, ctx: &Context) -> Result<Principal, Problem> {
    let status = obj.status.clone().unwrap_or_default();
    let made_in = status.account_id.clone();
    let resolved = access::resolve(
        &ctx.grants,
        obj,
        &ctx.config.cluster_name,
        ctx.config.require_grant,
    )
    .await;
    let keep = |p: Problem| Problem {
        message: format!(
            "{}; this object's AWS resources{} are not deleted until it can act there again (the finalizer stays)",
            p.message,
            made_in
                .as_deref()
                .map(|a| format!(" in account {a}"))
                .unwrap_or_default()
        ),
        ..p
    };
    match resolved {
        Ok(access) => {
            if let (Some(made), Some(now)) = (made_in.as_deref(), access.principal.account())
                && made != now
            {
                return Err(keep(Problem::new(
                    Reason::AccountChanged,
                    format!("namespace's access is now account {now}, not {made}"),
                )));
            }
            Ok(access.principal)
        }
        // Made without a grant (or nothing made): with the operator's own identity.
        Err(_) if status.access.is_none() => Ok(Principal::Operator),
        Err(p) => Err(keep(p)),
    }
}

/// Where this object's AWS resources would be. Status says so once a pass has
/// written it. A crash between the first create and the first status write
/// leaves status empty while AWS already holds tagged resources, so without
/// status the region and account are resolved the way the apply resolves them
/// and the deterministic names are looked up. `None` when the apply could not
/// have created anything: no region, or names it would have refused.
async fn locate(
    obj: &BatchNotification,
    ctx: &Context,
    principal: &Principal,
) -> Result<Option<Desired>, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let region = status
        .region
        .clone()
        .or_else(|| obj.spec.region.clone())
        .or_else(|| ctx.config.default_region.clone());
    let Some(region) = region else {
        return Ok(None);
    };
    let account = match (&status.account_id, principal.account()) {
        (Some(account), _) => account.clone(),
        (None, Some(account)) => account.to_string(),
        (None, None) => ctx.account_id().await.map_err(Error::Deletion)?,
    };
    let identity = Identity {
        cluster: ctx.config.cluster_name.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
        region,
        account,
    };
    match Desired::new(&obj.spec, &identity) {
        Ok(desired) => Ok(Some(desired)),
        // Recorded in status, so resources may exist: say why they cannot be found.
        Err(e) if status.region.is_some() => {
            Err(Error::Deletion(super::reconcile::desired_problem(e)))
        }
        Err(_) => Ok(None),
    }
}

/// The managers of [`super::reconcile`] in reverse dependency order; what a
/// spec references is never touched.
async fn remove_all(
    clients: &RegionClients,
    desired: &Desired,
    judge: &Judge<'_>,
    execution_role_recorded: bool,
    report: &mut Report,
) -> Result<(), Problem> {
    managers::remove::<StateMachineManager>(clients, &desired.state_machine, judge, report).await?;
    managers::remove::<StateMachineRoleManager>(clients, &desired.role, judge, report).await?;
    // Found by its name even when no longer asked for (turned off before a crash).
    if desired.execution_role.is_some() || execution_role_recorded {
        let role = desired.execution_role_at_its_name();
        managers::remove::<ExecutionRoleManager>(clients, &role, judge, report).await?;
    }
    if let Wanted::Managed(topic) = &desired.topic {
        managers::remove::<TopicManager>(clients, topic, judge, report).await?;
    }
    if let Wanted::Managed(def) = &desired.job_definition {
        managers::remove::<JobDefinitionManager>(clients, def, judge, report).await?;
    }
    let Wanted::Managed(queue) = &desired.job_queue else {
        return Ok(());
    };
    let removal = managers::remove::<JobQueueManager>(clients, queue, judge, report)
        .await
        .map_err(retry_later)?;
    if removal == Removal::Pending {
        return Err(disabling(&managers::what::<JobQueueManager>(queue)));
    }
    let Some(Wanted::Managed(ce)) = &desired.compute_environment else {
        return Ok(());
    };
    // AWS deletes a compute environment only once no queue uses it: wait for
    // our queue to go. A queue at our name that is not ours is never waited
    // for (it would never go); AWS refusing to delete our compute environment
    // while that queue uses it is retried below.
    let queue_left = clients
        .batch
        .job_queue(&queue.meta.name)
        .await
        .map_err(|e| Problem::aws(&managers::what::<JobQueueManager>(queue), &e))?;
    if queue_left.is_some_and(|q| judge.ours(&q.tags)) {
        return Err(Problem::new(
            Reason::DeletingJobQueue,
            format!("waiting for job queue {} to be deleted", queue.meta.name),
        ));
    }
    let removal = managers::remove::<ComputeEnvironmentManager>(clients, ce, judge, report)
        .await
        .map_err(retry_later)?;
    if removal == Removal::Pending {
        return Err(disabling(&managers::what::<ComputeEnvironmentManager>(ce)));
    }
    Ok(())
}

/// Batch disables asynchronously (UPDATING): deletion follows once it settles.
fn disabling(what: &str) -> Problem {
    Problem::new(
        Reason::DeletionInProgress,
        format!("{what} is being disabled; it is deleted once AWS Batch has settled it"),
    )
}

/// Batch deletes are asynchronous: "in use" or "not yet disabled" means later.
fn retry_later(p: Problem) -> Problem {
    if matches!(p.reason, Reason::AwsConflict | Reason::AwsRejected) {
        Problem::new(Reason::DeletionInProgress, p.message)
    } else {
        p
    }
}
