//! The reconcile, as named stages: validate → resolve → desired → apply each
//! AWS resource in dependency order → status; then the runs, reported apart
//! (`RunSucceeded`), whose errors never touch Ready. Status is written in
//! one place ([`super::status::write`]), and only when it changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::access::{self, Access};
use super::error::{Error, Problem};
use super::managers::compute_environment::ComputeEnvironmentManager;
use super::managers::job_definition::JobDefinitionManager;
use super::managers::job_queue::JobQueueManager;
use super::managers::role::{ExecutionRoleManager, StateMachineRoleManager};
use super::managers::state_machine::StateMachineManager;
use super::managers::topic::{TopicManager, subscription_status};
use super::managers::{self, Applied, Judge, Manager};
use super::progress::Step;
use super::references::{self, Reference};
use super::report::Report;
use super::resync::Pass as Observe;
use super::{Context, executions, status};
use crate::api::{BatchNotification, BatchNotificationStatus, RunOutcome};
use crate::aws::{Principal, RegionClients, budget};
use crate::desired::{Desired, DesiredError, Identity, Wanted};

/// The reason of a Problem AWS's throttling caused (see `Problem::aws`).
const THROTTLED: &str = "AwsThrottled";

/// How long a role this pass created is given before the state machine is
/// created with it. IAM is eventually consistent: Step Functions refuses a
/// role it cannot assume yet, and every refused CreateStateMachine spends a
/// token of the account's scarcest bucket (100, then 1 a second). A later
/// refusal is still answered as `RolePropagating`, with backoff.
const ROLE_PROPAGATION: Duration = Duration::from_secs(5);

/// The Apply half of the finalizer: make AWS match the spec, follow runs,
/// write status.
pub async fn apply(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    let obj = latest_before_a_trigger_run(obj, &ctx).await?;
    let started = Instant::now();
    let old = obj.status.clone().unwrap_or_default();
    let mut new = old.clone();
    let mut report = Report::default();

    let mut pass = ctx.pass_for(&obj);
    // A resync pass waits its turn among at most half the reconciles, at
    // background priority: creation and runs always find room.
    let resync_permit = match pass {
        Observe::Resync => match ctx.resync_slots.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                ctx.postpone_resync(&obj);
                pass = Observe::Trust;
                None
            }
        },
        _ => None,
    };
    let full = pass != Observe::Trust;
    // A pass retrying a failed one starts where it stopped; a resync
    // re-observes everything.
    let trusted = match pass {
        Observe::Change => ctx.trusted_steps(&obj),
        _ => Vec::new(),
    };
    let converging = converge(&obj, &ctx, &old, &mut new, &mut report, full, trusted);
    let converged = if pass == Observe::Resync {
        budget::background(converging).await
    } else {
        converging.await
    };
    drop(resync_permit);
    ctx.metrics
        .stage("converge", started.elapsed().as_secs_f64());
    let problem = converged.as_ref().err().cloned();
    if full && problem.is_none() {
        ctx.full_pass_done(&obj, pass);
    }
    report_infrastructure(&obj, &ctx, &old, &mut new, &report, problem.as_ref()).await;

    // Runs, once the state machine is there; their trouble is theirs.
    let runs = match &converged {
        Ok((desired, principal)) => {
            let t = Instant::now();
            let clients = ctx.aws.clients(principal, desired.scope.region()).await;
            if obj.spec.run.is_some() || !new.runs.is_empty() {
                ctx.events.ensure(&clients, &desired.scope).await;
            }
            let runs = executions::step(&obj, &ctx, &clients, desired, &mut new).await;
            ctx.metrics.stage("runs", t.elapsed().as_secs_f64());
            runs
        }
        Err(_) => Ok(None),
    };
    let run_problem = runs.as_ref().err();
    executions::set_run_condition(&obj, &old, &mut new, run_problem);
    if let Some(message) = executions::newly_stuck(&old, &new) {
        ctx.publish(
            &obj,
            EventType::Warning,
            executions::JOB_RUNNABLE,
            "Run",
            message,
        )
        .await;
    }
    if let Some(p) = run_problem
        && executions::problem_is_new(&old, p)
    {
        ctx.publish(&obj, EventType::Warning, p.reason, "Run", p.message.clone())
            .await;
    }

    let t = Instant::now();
    status::write(&ctx, &obj, &old, &new).await?;
    ctx.metrics.stage("status", t.elapsed().as_secs_f64());
    for run in executions::newly_finished(&old, &new) {
        executions::announce(&obj, &ctx, run).await;
    }
    if let Some(ns) = obj.namespace() {
        let last_run = new
            .runs
            .iter()
            .find(|r| r.is_finished())
            .and_then(|r| r.outcome)
            .map(|o| o == RunOutcome::Succeeded);
        ctx.metrics
            .object(&ns, &obj.name_any(), problem.is_none(), last_run);
    }
    Ok(next(&obj, &ctx, problem.as_ref(), runs))
}

/// A new trigger's run is named after the run's sequence number in status,
/// so that number must be the latest one written. The object a reconcile is
/// handed can predate our own last status write (a spec change watched before
/// that write): when a trigger run is due, read the object again from the API
/// server (a quorum read) — one list by name per trigger change.
async fn latest_before_a_trigger_run(
    obj: Arc<BatchNotification>,
    ctx: &Context,
) -> Result<Arc<BatchNotification>, Error> {
    let trigger = obj.spec.run.as_ref().and_then(|r| r.trigger.as_deref());
    let recorded = obj.status.as_ref().and_then(|s| s.last_trigger.as_deref());
    if trigger.is_none() || trigger == recorded {
        return Ok(obj);
    }
    let ns = obj
        .namespace()
        .ok_or_else(|| Error::NoNamespace(obj.name_any()))?;
    // A list (the RBAC has no `get`: the watch serves every other read)
    // without a resourceVersion is read from etcd, as a GET would be.
    let api: kube::Api<BatchNotification> = kube::Api::namespaced(ctx.client.clone(), &ns);
    let by_name =
        kube::api::ListParams::default().fields(&format!("metadata.name={}", obj.name_any()));
    let latest = api.list(&by_name).await?.items.into_iter().next();
    match latest {
        Some(latest) if latest.uid() == obj.uid() => Ok(Arc::new(latest)),
        _ => Ok(obj),
    }
}

/// Conditions, Events and the log line for the infrastructure's outcome.
async fn report_infrastructure(
    obj: &BatchNotification,
    ctx: &Context,
    old: &BatchNotificationStatus,
    new: &mut BatchNotificationStatus,
    report: &Report,
    problem: Option<&Problem>,
) {
    // AWS throttled a re-check of resources already Ready for this
    // generation: nothing is known to be wrong, so Ready stays and no Warning
    // goes out; the SDK backs off and the pass comes again.
    let throttled_recheck = problem.is_some_and(|p| p.reason == THROTTLED)
        && old.observed_generation == obj.metadata.generation
        && crate::api::conditions::is_true(&old.conditions, "Ready");
    if !throttled_recheck {
        status::set_conditions(obj, new, problem);
    }
    for (type_, reason, action, note) in report.events() {
        ctx.publish(obj, type_, reason, &action, note).await;
    }
    if let Some(p) = problem {
        // One Warning per new problem, not one per retry.
        if !throttled_recheck && status::problem_is_new(old, p) {
            ctx.publish(
                obj,
                EventType::Warning,
                p.reason,
                "Reconcile",
                p.message.clone(),
            )
            .await;
        }
        tracing::warn!(reason = p.reason, message = %p.message, "not ready");
    }
}

/// When to look again: the infrastructure's retry first, else the runs' own
/// (a poll, or their retry), else the resync.
fn next(
    obj: &BatchNotification,
    ctx: &Context,
    problem: Option<&Problem>,
    runs: Result<Option<Duration>, Problem>,
) -> Action {
    if let Some(p) = problem {
        ctx.metrics.reconciled(p.reason);
        return match p.retry {
            Some(base) => Action::requeue(ctx.backoff(obj, p.reason, base)),
            None => Action::await_change(),
        };
    }
    ctx.metrics.reconciled("Ready");
    let resync = ctx.resync_due_in(obj).max(Duration::from_secs(1));
    match runs {
        Ok(poll) => {
            ctx.succeeded(obj);
            Action::requeue(poll.map_or(resync, |p| p.min(resync)))
        }
        Err(p) => {
            let after = p.retry.unwrap_or(resync);
            Action::requeue(ctx.backoff(obj, p.reason, after).min(resync))
        }
    }
}

/// validate → resolve → desired → (on a full pass) apply in dependency order,
/// skipping the `trusted` steps status records (see [`super::progress`]).
async fn converge(
    obj: &BatchNotification,
    ctx: &Context,
    old: &BatchNotificationStatus,
    record: &mut BatchNotificationStatus,
    report: &mut Report,
    full: bool,
    trusted: Vec<Step>,
) -> Result<(Desired, Principal), Problem> {
    validate(obj)?;
    // Nothing reaches AWS before the grant is known and covers the spec.
    let access = access::resolve(
        &ctx.grants,
        obj,
        &ctx.config.cluster_name,
        ctx.config.require_grant,
    )
    .await?;
    let identity = resolve(obj, ctx, old, &access).await?;
    access.check_spec(&obj.spec, &identity.region)?;
    let desired = Desired::new(&obj.spec, &identity).map_err(desired_problem)?;
    super::validate::references(&obj.spec, &desired)?;
    record.region = Some(identity.region.clone());
    record.account_id = Some(identity.account.clone());
    record.access = access.status();
    if !full {
        // Nothing changed since the last full pass and the resync is not due:
        // trust status, spend no AWS call on the infrastructure.
        return Ok((desired, access.principal));
    }
    let clients = ctx.aws.clients(&access.principal, &identity.region).await;
    let mut pass = Pass {
        ctx,
        clients: &clients,
        access: &access,
        desired: &desired,
        old,
        judge: Judge {
            owner: &desired.owner,
            adopt: super::adopt(obj),
            spec_changed: old.observed_generation != obj.metadata.generation,
        },
        record,
        report,
        trusted,
        done: Vec::new(),
        role_created: false,
    };
    if let Err(problem) = pass.all().await {
        ctx.pass_stopped(obj, pass.done);
        return Err(problem);
    }
    tracing::debug!(name = %obj.name_any(), "infrastructure converged");
    Ok((desired, access.principal))
}

/// What the schema could not check.
fn validate(obj: &BatchNotification) -> Result<(), Problem> {
    obj.spec
        .validate()
        .map_err(|e| Problem::stalled("InvalidSpec", e.to_string()))?;
    super::validate::schedule(&obj.spec)
}

/// Who and where the object is: its region (which never moves) and the
/// operator's account.
async fn resolve(
    obj: &BatchNotification,
    ctx: &Context,
    old: &BatchNotificationStatus,
    access: &Access,
) -> Result<Identity, Problem> {
    let region = obj
        .spec
        .region
        .clone()
        .or_else(|| ctx.config.default_region.clone())
        .ok_or_else(|| {
            Problem::stalled(
                "NoRegion",
                "spec.region is not set and the operator has no default region (--default-region or AWS_REGION)",
            )
        })?;
    // CEL forbids changing spec.region, but adding it (or changing the
    // operator's default) must not move the resources either.
    if let Some(current) = old.region.as_deref()
        && current != region
    {
        return Err(Problem::stalled(
            "RegionChanged",
            format!(
                "spec.region: this object's AWS resources are in {current}, not {region}; a region cannot change — delete the object and create a new one"
            ),
        ));
    }
    // An assumed role's account is in its ARN; the operator's own, STS says.
    let account = match access.principal.account() {
        Some(account) => account.to_string(),
        None => ctx.account_id().await?,
    };
    // Resources never move between accounts: a grant that now names another
    // account leaves this object's resources where they are.
    if let Some(current) = old.account_id.as_deref()
        && current != account
    {
        return Err(Problem::stalled(
            "AccountChanged",
            format!(
                "this object's AWS resources are in account {current}, but namespace {}'s access ({}) is now account {account}: resources do not move between accounts — restore the AccessGrant, or delete the object and create a new one",
                obj.namespace().unwrap_or_default(),
                access
                    .grant
                    .as_ref()
                    .map_or("the operator's own identity".to_string(), |(n, _)| format!(
                        "AccessGrant {n}"
                    )),
            ),
        ));
    }
    Ok(Identity {
        cluster: ctx.config.cluster_name.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
        region,
        account,
    })
}

pub(super) fn desired_problem(e: DesiredError) -> Problem {
    match e {
        DesiredError::Name(_) => Problem::stalled("InvalidName", e.to_string()),
        DesiredError::Account(_) => Problem::stalled("InvalidAccount", e.to_string()),
        DesiredError::Region(_) | DesiredError::Spec(_) | DesiredError::Message(_) => {
            Problem::stalled("InvalidSpec", e.to_string())
        }
    }
}

/// One full pass over the infrastructure: each step applies one resource
/// (or checks one reference) and records its ARN.
struct Pass<'a> {
    ctx: &'a Context,
    clients: &'a RegionClients,
    /// What the namespace's AccessGrant lets references be.
    access: &'a Access,
    desired: &'a Desired,
    /// The status this pass started from: what it already knew.
    old: &'a BatchNotificationStatus,
    judge: Judge<'a>,
    record: &'a mut BatchNotificationStatus,
    report: &'a mut Report,
    /// Steps the failed pass just before this one completed: not observed again.
    trusted: Vec<Step>,
    /// Steps this pass completed.
    done: Vec<Step>,
    /// The state machine's role was created by this pass.
    role_created: bool,
}

impl Pass<'_> {
    async fn reference(&self, reference: Reference, arn: &str) -> Result<(), Problem> {
        references::check(
            self.ctx,
            self.clients,
            reference,
            arn,
            self.access,
            &self.desired.owner,
        )
        .await
    }

    async fn all(&mut self) -> Result<(), Problem> {
        self.compute_environment().await?;
        self.job_queue().await?;
        self.execution_role().await?;
        self.job_definition().await?;
        self.topic().await?;
        self.role().await?;
        self.state_machine().await
    }

    /// Applies one managed resource; `known` when status records it. `None`
    /// when status records it and the failed pass just before this one
    /// applied it: trusted, not observed again.
    async fn apply<M: Manager>(
        &mut self,
        step: Step,
        desired: &M::Desired,
        known: bool,
    ) -> Result<Option<Applied<M::Observed>>, Problem> {
        let applied = if known && self.trusted.contains(&step) {
            None
        } else {
            let judge = &self.judge;
            Some(managers::apply::<M>(self.clients, desired, known, judge, self.report).await?)
        };
        self.done.push(step);
        Ok(applied)
    }

    async fn compute_environment(&mut self) -> Result<(), Problem> {
        let arn = match &self.desired.compute_environment {
            None => None,
            Some(Wanted::Referenced(arn)) => {
                self.reference(Reference::ComputeEnvironment, arn).await?;
                Some(arn.clone())
            }
            Some(Wanted::Managed(ce)) => {
                let known = self.old.compute_environment_arn == Some(ce.meta.arn.clone());
                let applied = self
                    .apply::<ComputeEnvironmentManager>(Step::ComputeEnvironment, ce, known)
                    .await?;
                Some(applied.map_or_else(|| ce.meta.arn.clone(), |a| a.arn))
            }
        };
        self.record.compute_environment_arn = arn;
        Ok(())
    }

    async fn job_queue(&mut self) -> Result<(), Problem> {
        let arn = match &self.desired.job_queue {
            Wanted::Referenced(arn) => {
                self.reference(Reference::JobQueue, arn).await?;
                arn.clone()
            }
            Wanted::Managed(queue) => {
                let known = self.old.job_queue_arn == Some(queue.meta.arn.clone());
                self.apply::<JobQueueManager>(Step::JobQueue, queue, known)
                    .await?
                    .map_or_else(|| queue.meta.arn.clone(), |a| a.arn)
            }
        };
        self.record.job_queue_arn = Some(arn);
        Ok(())
    }

    /// Created when `managedExecutionRole` is on; deleted when it is turned off.
    async fn execution_role(&mut self) -> Result<(), Problem> {
        match &self.desired.execution_role {
            Some(role) => {
                let known = self.old.execution_role_arn == Some(role.meta.arn.clone());
                let applied = self
                    .apply::<ExecutionRoleManager>(Step::ExecutionRole, role, known)
                    .await?;
                self.record.execution_role_arn =
                    Some(applied.map_or_else(|| role.meta.arn.clone(), |a| a.arn));
            }
            None if self.old.execution_role_arn.is_some() => {
                let role = self.desired.execution_role_at_its_name();
                managers::remove::<ExecutionRoleManager>(
                    self.clients,
                    &role,
                    &self.judge,
                    self.report,
                )
                .await?;
                self.record.execution_role_arn = None;
            }
            None => {}
        }
        Ok(())
    }

    async fn job_definition(&mut self) -> Result<(), Problem> {
        let arn = match &self.desired.job_definition {
            Wanted::Referenced(arn) => {
                self.reference(Reference::JobDefinition, arn).await?;
                arn.clone()
            }
            Wanted::Managed(def) => {
                // Status records a revision of this name.
                let known = self.old.job_definition_arn.as_deref().is_some_and(|a| {
                    a.strip_prefix(def.meta.arn.as_str())
                        .is_some_and(|rest| rest.starts_with(':'))
                });
                let applied = self
                    .apply::<JobDefinitionManager>(Step::JobDefinition, def, known)
                    .await?;
                match (applied, &self.old.job_definition_arn) {
                    (Some(a), _) => a.arn,
                    // Trusted: the revision status records.
                    (None, Some(revision)) => revision.clone(),
                    (None, None) => def.meta.arn.clone(),
                }
            }
        };
        self.record.job_definition_arn = Some(arn);
        Ok(())
    }

    async fn topic(&mut self) -> Result<(), Problem> {
        let arn = match &self.desired.topic {
            Wanted::Referenced(arn) => {
                self.reference(Reference::Topic, arn).await?;
                self.record.subscriptions.clear();
                arn.clone()
            }
            Wanted::Managed(topic) => {
                let known = self.old.topic_arn == Some(topic.meta.arn.clone());
                match self
                    .apply::<TopicManager>(Step::Topic, topic, known)
                    .await?
                {
                    Some(applied) => {
                        self.record.subscriptions =
                            subscription_status(topic, applied.observed.as_ref());
                        applied.arn
                    }
                    // Trusted: the subscriptions status records stand.
                    None => topic.meta.arn.clone(),
                }
            }
        };
        self.record.topic_arn = Some(arn);
        Ok(())
    }

    async fn role(&mut self) -> Result<(), Problem> {
        let role = &self.desired.role;
        let known = self.old.role_arn == Some(role.meta.arn.clone());
        let applied = self
            .apply::<StateMachineRoleManager>(Step::Role, role, known)
            .await?;
        self.role_created = applied.as_ref().is_some_and(|a| a.observed.is_none());
        self.record.role_arn = Some(applied.map_or_else(|| role.meta.arn.clone(), |a| a.arn));
        Ok(())
    }

    async fn state_machine(&mut self) -> Result<(), Problem> {
        let machine = &self.desired.state_machine;
        if self.role_created {
            // The retry starts here: what this pass made is trusted then.
            return Err(Problem::transient(
                "RolePropagating",
                format!(
                    "IAM role {} was just created: Step Functions can assume it only once IAM has propagated it (IAM is eventually consistent); creating state machine {} in {} s",
                    self.desired.role.meta.name,
                    machine.meta.name,
                    ROLE_PROPAGATION.as_secs()
                ),
                ROLE_PROPAGATION,
            ));
        }
        let known = self.old.state_machine_arn == Some(machine.meta.arn.clone());
        let applied = self
            .apply::<StateMachineManager>(Step::StateMachine, machine, known)
            .await?;
        self.record.state_machine_arn =
            Some(applied.map_or_else(|| machine.meta.arn.clone(), |a| a.arn));
        Ok(())
    }
}
