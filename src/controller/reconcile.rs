//! The reconcile, as named stages: validate → resolve → desired → apply each
//! AWS resource in dependency order → status; then the runs, reported apart
//! (`RunSucceeded`), whose errors never touch Ready. Status is written in
//! one place ([`super::status::write`]), and only when it changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;

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
use crate::api::reason::Reason;
use crate::api::{BatchNotification, BatchNotificationStatus, RunOutcome, RunStatus};
use crate::aws::{Principal, RegionClients, budget};
use crate::desired::{Desired, DesiredError, Identity, Wanted};

/// How long a role this pass created is given before the state machine is
/// created with it. IAM is eventually consistent: Step Functions refuses a
/// role it cannot assume yet, and every refused CreateStateMachine spends a
/// token of the account's scarcest bucket (100, then 1 a second). A later
/// refusal is still answered as `RolePropagating`, with backoff.
const ROLE_PROPAGATION: Duration = Duration::from_secs(5);

/// The Apply half of the finalizer, as a list of stages: make AWS match the
/// spec, follow and start runs, write status, announce what ended.
pub async fn apply(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    let obj = latest_before_a_trigger_run(obj, &ctx).await?;
    let mut round = Round::new(&obj, &ctx);
    // Boxed: the stage futures are large; kept on the heap so a debug
    // build's worker stack does not overflow.
    let converged = Box::pin(round.infrastructure()).await;
    let problem = converged.as_ref().err().cloned();
    let (runs, ended) = Box::pin(round.runs(&converged)).await;
    round.write(problem.is_none()).await?;
    // Announced once status holds their end: a failed write is retried,
    // the run followed again, and announced then.
    for run in &ended {
        executions::announce(&obj, &ctx, run).await;
    }
    Ok(next(&obj, &ctx, problem.as_ref(), runs))
}

/// One reconcile of one object: the status it started from, the status it
/// writes, and what it did to AWS (for Events).
struct Round<'a> {
    obj: &'a BatchNotification,
    ctx: &'a Context,
    old: BatchNotificationStatus,
    new: BatchNotificationStatus,
    report: Report,
}

/// What the runs stage leaves: when to look again (or its trouble), and the
/// runs whose end it recorded.
type RunsOutcome = (Result<Option<Duration>, Problem>, Vec<RunStatus>);

impl<'a> Round<'a> {
    fn new(obj: &'a BatchNotification, ctx: &'a Context) -> Self {
        let old = obj.status.clone().unwrap_or_default();
        Round {
            obj,
            ctx,
            new: old.clone(),
            old,
            report: Report::default(),
        }
    }

    /// The infrastructure: a full pass, a retry from where the last one
    /// stopped, or (nothing changed, no resync due) status trusted; then
    /// its conditions and Events.
    async fn infrastructure(&mut self) -> Result<(Desired, Principal), Problem> {
        let (obj, ctx) = (self.obj, self.ctx);
        let started = Instant::now();
        let mut pass = ctx.pass_for(obj);
        // A resync pass waits its turn among at most half the reconciles, at
        // background priority: creation and runs always find room. It never
        // holds up this object's own run work (an end its event brought, a
        // new trigger), nor reads while the foreground waits for the budget:
        // it takes a later slot instead.
        let resync_permit = if pass == Observe::Resync {
            let permit = match ctx.resync_deferred(obj) {
                Some(cause) => Err(cause),
                None => ctx.resync_slots.try_acquire().map_err(|_| "slots"),
            };
            match permit {
                Ok(permit) => Some(permit),
                Err(cause) => {
                    ctx.metrics.resync_deferred(cause);
                    ctx.postpone_resync(obj);
                    pass = Observe::Trust;
                    None
                }
            }
        } else {
            None
        };
        let full = pass != Observe::Trust;
        // A pass retrying a failed one starts where it stopped; a resync
        // re-observes everything.
        let trusted = match pass {
            Observe::Change => ctx.trusted_steps(obj),
            _ => Vec::new(),
        };
        let converging = Box::pin(self.converge(full, trusted));
        let converged = if pass == Observe::Resync {
            budget::background(converging).await
        } else {
            converging.await
        };
        drop(resync_permit);
        ctx.metrics
            .stage("converge", started.elapsed().as_secs_f64());
        let problem = converged.as_ref().err();
        // A resync AWS throttled is deferred to a later slot, not repeated
        // at the next backoff: the retry trusts status until then.
        if pass == Observe::Resync && problem.is_some_and(|p| p.reason == Reason::AwsThrottled) {
            ctx.metrics.resync_deferred("throttled");
            ctx.postpone_resync(obj);
        }
        if full && problem.is_none_or(|p| !p.reason.routine()) {
            self.report.created_earlier(ctx.unannounced(obj));
        }
        if full && problem.is_none() {
            ctx.full_pass_done(obj, pass);
        }
        self.report_infrastructure(problem).await;
        converged
    }

    /// Runs, once the state machine is there; their trouble is theirs
    /// (RunSucceeded and its Events, never Ready).
    async fn runs(&mut self, converged: &Result<(Desired, Principal), Problem>) -> RunsOutcome {
        let (obj, ctx) = (self.obj, self.ctx);
        let (runs, ended) = match converged {
            Ok((desired, principal)) => {
                let t = Instant::now();
                let clients = ctx.aws.clients(principal, desired.scope.region()).await;
                if obj.spec.run.is_some() || !self.new.runs.is_empty() {
                    ctx.events.ensure(&clients, &desired.scope).await;
                }
                let stepped =
                    Box::pin(executions::step(obj, ctx, &clients, desired, &mut self.new)).await;
                ctx.metrics.stage("runs", t.elapsed().as_secs_f64());
                (stepped.next, stepped.ended)
            }
            Err(_) => (Ok(None), Vec::new()),
        };
        let run_problem = runs.as_ref().err();
        executions::set_run_condition(obj, &self.old, &mut self.new, run_problem);
        if let Some(message) = executions::newly_stuck(&self.old, &self.new) {
            ctx.publish(obj, Reason::JobRunnable, "Run", message).await;
        }
        if let Some(p) = run_problem
            && executions::problem_is_new(&self.old, p)
        {
            ctx.publish(obj, p.reason, "Run", p.message.clone()).await;
        }
        (runs, ended)
    }

    /// Status (one server-side apply, none when nothing changed), then the
    /// object's gauges: a scrape that sees a run counted sees the object's
    /// last run too.
    async fn write(&self, ready: bool) -> Result<(), Error> {
        let (obj, ctx) = (self.obj, self.ctx);
        let t = Instant::now();
        status::write(ctx, obj, &self.old, &self.new).await?;
        ctx.metrics.stage("status", t.elapsed().as_secs_f64());
        if let Some(ns) = obj.namespace() {
            let last_run = self
                .new
                .runs
                .iter()
                .find(|r| r.is_finished())
                .and_then(|r| r.outcome)
                .map(|o| o == RunOutcome::Succeeded);
            ctx.metrics.object(&ns, &obj.name_any(), ready, last_run);
        }
        Ok(())
    }

    /// Conditions, Events and the log line for the infrastructure's outcome.
    async fn report_infrastructure(&mut self, problem: Option<&Problem>) {
        let (obj, ctx, old) = (self.obj, self.ctx, &self.old);
        // AWS throttled a re-check of resources already Ready for this
        // generation: nothing is known to be wrong, so Ready stays and no Warning
        // goes out; the SDK backs off and the pass comes again.
        let throttled_recheck = problem.is_some_and(|p| p.reason == Reason::AwsThrottled)
            && old.observed_generation == obj.metadata.generation
            && crate::api::conditions::is_true(&old.conditions, "Ready");
        if !throttled_recheck {
            status::set_conditions(obj, &mut self.new, problem);
        }
        for (reason, action, note) in self.report.events() {
            ctx.publish(obj, reason, &action, note).await;
        }
        if let Some(p) = problem {
            // One Warning per new problem, not one per retry. A routine wait
            // (IAM propagating, Batch settling) is no Event: the Reconciling
            // condition and the log say it, and a clean creation stays one
            // Event.
            if !throttled_recheck && !p.reason.routine() && status::problem_is_new(old, p) {
                ctx.publish(obj, p.reason, "Reconcile", p.message.clone())
                    .await;
            }
            if p.reason.routine() {
                tracing::info!(reason = %p.reason, message = %p.message, "waiting");
            } else {
                tracing::warn!(reason = %p.reason, message = %p.message, "not ready");
            }
        }
    }

    /// validate → resolve → desired → (on a full pass) apply in dependency
    /// order, skipping the `trusted` steps status records (see
    /// [`super::progress`]).
    async fn converge(
        &mut self,
        full: bool,
        trusted: Vec<Step>,
    ) -> Result<(Desired, Principal), Problem> {
        let (obj, ctx, old) = (self.obj, self.ctx, &self.old);
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
        let record = &mut self.new;
        record.region = Some(identity.region.clone());
        record.account_id = Some(identity.account.clone());
        record.access = access.status();
        record.literal_messages = desired
            .literal_messages
            .iter()
            .map(|m| m.field.to_string())
            .collect();
        announce_literal_messages(obj, ctx, old, &desired).await;
        if !full {
            // Nothing changed since the last full pass and the resync is not
            // due: trust status, spend no AWS call on the infrastructure.
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
            report: &mut self.report,
            trusted,
            done: Vec::new(),
            role_created: false,
        };
        if let Err(problem) = pass.all().await {
            let done = pass.done;
            // A routine wait (IAM propagating, Batch settling) is not the
            // end of the creation: what this pass created is announced by
            // the pass that ends it, in one Event.
            let created = match problem.reason.routine() {
                true => self.report.take_created(),
                false => Vec::new(),
            };
            ctx.pass_stopped(obj, done, created);
            return Err(problem);
        }
        tracing::debug!(name = %obj.name_any(), "infrastructure converged");
        Ok((desired, access.principal))
    }
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

/// One Normal Event when message fields are newly published as written
/// (stored before placeholders): what the parser refused in each and how to
/// opt in. One Event, not one per field: the Recorder keeps one series per
/// reason and action.
async fn announce_literal_messages(
    obj: &BatchNotification,
    ctx: &Context,
    old: &BatchNotificationStatus,
    desired: &Desired,
) {
    let new: Vec<String> = desired
        .literal_messages
        .iter()
        .filter(|m| !old.literal_messages.iter().any(|f| f == m.field))
        .map(|m| format!("{} ({})", m.field, m.error))
        .collect();
    if new.is_empty() {
        return;
    }
    let note = format!(
        "published as written, braces literal, because stored before placeholders existed and refused by today's rule: {}. To use placeholders, edit the text (write {{{{ or }}}} for a literal brace)",
        new.join("; ")
    );
    ctx.publish(obj, Reason::LiteralMessage, "Reconcile", note)
        .await;
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
        ctx.metrics.reconciled(p.reason.as_str());
        return match p.retry {
            Some(base) => Action::requeue(ctx.backoff(obj, p.reason.as_str(), base)),
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
            Action::requeue(ctx.backoff(obj, p.reason.as_str(), after).min(resync))
        }
    }
}

/// What the schema could not check.
fn validate(obj: &BatchNotification) -> Result<(), Problem> {
    obj.spec
        .validate()
        .map_err(|e| Problem::new(Reason::InvalidSpec, e.to_string()))?;
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
            Problem::new(Reason::NoRegion, "spec.region is not set and the operator has no default region (--default-region or AWS_REGION)")
        })?;
    // CEL forbids changing spec.region, but adding it (or changing the
    // operator's default) must not move the resources either.
    if let Some(current) = old.region.as_deref()
        && current != region
    {
        return Err(Problem::new(
            Reason::RegionChanged,
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
        return Err(Problem::new(
            Reason::AccountChanged,
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
        DesiredError::Name(_) => Problem::new(Reason::InvalidName, e.to_string()),
        DesiredError::Account(_) => Problem::new(Reason::InvalidAccount, e.to_string()),
        DesiredError::Region(_) | DesiredError::Spec(_) | DesiredError::Message(_) => {
            Problem::new(Reason::InvalidSpec, e.to_string())
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
        references::Referee {
            ctx: self.ctx,
            clients: self.clients,
            access: self.access,
            owner: &self.desired.owner,
        }
        .check(reference, arn)
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
            return Err(Problem::new(Reason::RolePropagating, format!(
                    "IAM role {} was just created: Step Functions can assume it only once IAM has propagated it (IAM is eventually consistent); creating state machine {} in {} s",
                    self.desired.role.meta.name,
                    machine.meta.name,
                    ROLE_PROPAGATION.as_secs()
                )).after(ROLE_PROPAGATION));
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
