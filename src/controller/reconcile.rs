//! The reconcile, as named stages: validate → resolve → desired → apply each
//! AWS resource in dependency order → runs → status. Status is written in one
//! place ([`super::status::write`]), and only when it changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::error::{Error, Problem};
use super::plan::Plan;
use super::report::Report;
use super::resources::{self, Known};
use super::{Context, executions, status};
use crate::api::{BatchNotification, BatchNotificationStatus, RunOutcome, Source};
use crate::aws::RegionClients;
use crate::aws::batch::{ComputeEnvironmentInput, JobDefinitionInput};

/// The reason of a Problem AWS's throttling caused (see `Problem::aws`).
const THROTTLED: &str = "AwsThrottled";

/// What a successful pass leaves for the runs stage and the requeue.
struct Converged {
    plan: Plan,
    clients: RegionClients,
}

/// The Apply half of the finalizer: make AWS match the spec, follow runs,
/// write status.
pub async fn apply(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let old = obj.status.clone().unwrap_or_default();
    let mut new = old.clone();
    let mut report = Report::default();

    let full = ctx.needs_full_pass(&obj);
    let converged = converge(&obj, &ctx, &mut new, &mut report, full).await;
    ctx.metrics
        .stage("converge", started.elapsed().as_secs_f64());

    let mut next_poll = None;
    let result = match converged {
        Ok(c) => {
            if full {
                ctx.full_pass_done(&obj);
            }
            let t = Instant::now();
            let runs = executions::step(&obj, &ctx, &c.clients, &c.plan, &mut new).await;
            ctx.metrics.stage("runs", t.elapsed().as_secs_f64());
            match runs {
                Ok(poll) => {
                    next_poll = poll;
                    Ok(())
                }
                Err(p) => Err(p),
            }
        }
        Err(p) => Err(p),
    };

    let problem = result.as_ref().err().cloned();
    // AWS throttled a re-check of resources already Ready for this
    // generation: nothing is known to be wrong, so Ready stays and no Warning
    // goes out; the SDK backs off and the pass comes again.
    let throttled_recheck = problem.as_ref().is_some_and(|p| p.reason == THROTTLED)
        && old.observed_generation == obj.metadata.generation
        && crate::api::conditions::is_true(&old.conditions, "Ready");
    if !throttled_recheck {
        status::set_conditions(&obj, &mut new, problem.as_ref());
    }
    executions::set_run_condition(&obj, &mut new);
    for (type_, reason, action, note) in report.events() {
        ctx.publish(&obj, type_, reason, &action, note).await;
    }
    if let Some(p) = &problem {
        // One Warning per new problem, not one per retry.
        if !throttled_recheck && status::problem_is_new(&old, p) {
            ctx.publish(
                &obj,
                EventType::Warning,
                p.reason,
                "Reconcile",
                p.message.clone(),
            )
            .await;
        }
        tracing::warn!(reason = p.reason, message = %p.message, "not ready");
    }
    let t = Instant::now();
    status::write(&ctx, &obj, &old, &new).await?;
    ctx.metrics.stage("status", t.elapsed().as_secs_f64());
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

    let action = match &problem {
        None => {
            ctx.succeeded(&obj);
            ctx.metrics.reconciled("Ready");
            let resync = ctx.config.resync;
            Action::requeue(next_poll.map_or(resync, |p| p.min(resync)))
        }
        Some(p) => {
            ctx.metrics.reconciled(p.reason);
            match p.retry {
                Some(base) => Action::requeue(ctx.backoff(&obj, p.reason, base)),
                None => Action::await_change(),
            }
        }
    };
    Ok(action)
}

async fn converge(
    obj: &BatchNotification,
    ctx: &Context,
    status: &mut BatchNotificationStatus,
    report: &mut Report,
    full: bool,
) -> Result<Converged, Problem> {
    // validate: what the schema could not check.
    let spec = &obj.spec;
    spec.validate()
        .map_err(|e| Problem::stalled("InvalidSpec", e.to_string()))?;
    super::validate::schedule(spec)?;

    // resolve: region, account, references.
    let region = spec
        .region
        .clone()
        .or_else(|| ctx.config.default_region.clone())
        .ok_or_else(|| {
            Problem::stalled(
                "NoRegion",
                "spec.region is not set and the operator has no default region (--default-region or AWS_REGION)",
            )
        })?;
    // Resources never move: CEL forbids changing spec.region, but adding it
    // (or changing the operator's default) must not move them either.
    if let Some(current) = status.region.as_deref()
        && current != region
    {
        return Err(Problem::stalled(
            "RegionChanged",
            format!(
                "spec.region: this object's AWS resources are in {current}, not {region}; a region cannot change — delete the object and create a new one"
            ),
        ));
    }
    let account = ctx.account_id().await?;
    let plan = Plan::new(obj, &ctx.config.cluster_name, &region, &account, status)?;
    super::validate::references(spec, &plan)?;
    status.region = Some(region.clone());
    status.account_id = Some(account.clone());
    let clients = ctx.aws.region(&region);

    if !full {
        // Nothing changed since the last full pass and the resync is not due:
        // trust status, spend no AWS call on the infrastructure.
        return Ok(Converged { plan, clients });
    }

    // apply, in dependency order.
    let queue_arn = match spec.job_queue.source().map_err(spec_error)? {
        Source::Arn(arn) => {
            reference(ctx, &clients, Reference::JobQueue, arn).await?;
            status.compute_environment_arn = None;
            arn.to_string()
        }
        Source::Managed(queue) => {
            let ce_arn = match queue.compute_environment.source().map_err(spec_error)? {
                Source::Arn(arn) => {
                    reference(ctx, &clients, Reference::ComputeEnvironment, arn).await?;
                    arn.to_string()
                }
                Source::Managed(ce) => {
                    let input = ComputeEnvironmentInput {
                        compute_type: ce.compute_type().as_str().to_string(),
                        max_vcpus: ce.max_vcpus() as i32,
                        subnets: ce.subnets.clone(),
                        security_group_ids: ce.security_group_ids.clone(),
                        service_role: ce
                            .service_role_arn
                            .clone()
                            .unwrap_or_else(|| plan.batch_service_linked_role()),
                    };
                    resources::ensure_compute_environment(&clients, &plan, &input, report).await?
                }
            };
            status.compute_environment_arn = Some(ce_arn.clone());
            resources::ensure_job_queue(&clients, &plan, queue.priority(), &ce_arn, report).await?
        }
    };
    status.job_queue_arn = Some(queue_arn.clone());

    let job_definition_arn = match spec.job_definition.source().map_err(spec_error)? {
        Source::Arn(arn) => {
            reference(ctx, &clients, Reference::JobDefinition, arn).await?;
            arn.to_string()
        }
        Source::Managed(def) => {
            let execution_role_arn = if def.managed_execution_role() {
                let arn = resources::ensure_execution_role(&clients, &plan, report).await?;
                status.execution_role_arn = Some(arn.clone());
                Some(arn)
            } else {
                if status.execution_role_arn.is_some() {
                    // managedExecutionRole was turned off: the role goes now.
                    resources::remove_execution_role(&clients, &plan, report).await?;
                    status.execution_role_arn = None;
                }
                def.execution_role_arn.clone()
            };
            let input = JobDefinitionInput {
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
            resources::ensure_job_definition(&clients, &plan, &input, report).await?
        }
    };
    status.job_definition_arn = Some(job_definition_arn.clone());

    let topic_arn = match spec.topic.source().map_err(spec_error)? {
        Source::Arn(arn) => {
            reference(ctx, &clients, Reference::Topic, arn).await?;
            status.subscriptions.clear();
            arn.to_string()
        }
        Source::Managed(topic) => {
            let known = status.topic_arn.clone();
            let created_before = report.created.len();
            let arn = resources::ensure_topic(
                &clients,
                &plan,
                Known {
                    arn: known.as_deref(),
                },
                topic.display_name.as_deref(),
                report,
            )
            .await?;
            let just_created = report.created.len() > created_before;
            let wanted: Vec<(String, String)> = topic
                .subscriptions
                .iter()
                .map(|s| (s.protocol.as_str().to_string(), s.endpoint.clone()))
                .collect();
            let subs =
                resources::ensure_subscriptions(&clients, &arn, &wanted, just_created, report)
                    .await?;
            status.subscriptions = subs
                .into_iter()
                .map(
                    |(protocol, endpoint, state)| crate::api::SubscriptionStatus {
                        protocol,
                        endpoint,
                        state,
                    },
                )
                .collect();
            arn
        }
    };
    status.topic_arn = Some(topic_arn.clone());

    let trust = plan.trust_policy();
    let policy = plan.inline_policy(&queue_arn, &job_definition_arn, &topic_arn);
    let known_role = status.role_arn.clone();
    let role_arn = resources::ensure_role(
        &clients,
        &plan,
        Known {
            arn: known_role.as_deref(),
        },
        &trust,
        &policy,
        report,
    )
    .await?;
    status.role_arn = Some(role_arn.clone());

    let definition = plan.definition(spec, &queue_arn, &job_definition_arn, &topic_arn);
    let known_machine = status.state_machine_arn.clone();
    let machine_arn = resources::ensure_state_machine(
        &clients,
        &plan,
        Known {
            arn: known_machine.as_deref(),
        },
        &role_arn,
        &definition,
        report,
    )
    .await?;
    status.state_machine_arn = Some(machine_arn);
    tracing::debug!(name = %obj.name_any(), "infrastructure converged");
    Ok(Converged { plan, clients })
}

fn spec_error(e: crate::api::SpecError) -> Problem {
    Problem::stalled("InvalidSpec", e.to_string())
}

/// A resource a spec names by ARN.
#[derive(Clone, Copy)]
enum Reference {
    JobQueue,
    ComputeEnvironment,
    JobDefinition,
    Topic,
}

/// A referenced resource must exist (a job definition: be ACTIVE). Many
/// objects often share one queue and job definition: a positive answer is
/// remembered for a minute, so N objects cost one lookup, not N.
async fn reference(
    ctx: &Context,
    clients: &RegionClients,
    kind: Reference,
    arn: &str,
) -> Result<(), Problem> {
    if ctx.reference_recently_seen(arn) {
        return Ok(());
    }
    let (field, what) = match kind {
        Reference::JobQueue => ("spec.jobQueue.arn", "job queue"),
        Reference::ComputeEnvironment => (
            "spec.jobQueue.managed.computeEnvironment.arn",
            "compute environment",
        ),
        Reference::JobDefinition => ("spec.jobDefinition.arn", "job definition"),
        Reference::Topic => ("spec.topic.arn", "SNS topic"),
    };
    let found = match kind {
        Reference::JobQueue => clients.batch.job_queue(arn).await.map(|o| o.map(|_| ())),
        Reference::ComputeEnvironment => clients
            .batch
            .compute_environment(arn)
            .await
            .map(|o| o.map(|_| ())),
        Reference::JobDefinition => match clients.batch.job_definition(arn).await {
            Ok(Some(def)) if def.status != "ACTIVE" => {
                return Err(Problem::transient(
                    "ReferenceNotFound",
                    format!("{field}: {what} {arn} is {}", def.status),
                    Duration::from_secs(10),
                ));
            }
            other => other.map(|o| o.map(|_| ())),
        },
        Reference::Topic => clients.topics.observe(arn).await.map(|o| o.map(|_| ())),
    };
    exists(found, field, what, arn)?;
    ctx.reference_seen(arn);
    Ok(())
}

/// A referenced resource must exist; missing is retried with backoff.
fn exists<T>(
    observed: Result<Option<T>, crate::aws::AwsError>,
    field: &str,
    what: &str,
    arn: &str,
) -> Result<T, Problem> {
    match observed {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Problem::transient(
            "ReferenceNotFound",
            format!("{field}: {what} {arn} does not exist"),
            Duration::from_secs(10),
        )),
        Err(e) => Err(Problem::aws(&format!("{field}: {what} {arn}"), &e)),
    }
}
