//! Runs: start each execution exactly once, follow it, write its result back.
//!
//! Exactly once: an execution's name is derived from (UID, trigger) or (UID,
//! scheduled time), so a crash between StartExecution and the status write
//! cannot start a second one — Step Functions answers ExecutionAlreadyExists
//! (or the same ARN) and we describe the one we started. The execution ARN is
//! recorded in status, never only in memory.

use std::time::Duration;

use kube::runtime::events::EventType;

use super::Context;
use super::error::Problem;
use crate::api::conditions::{self, RUN_SUCCEEDED, new_condition};
use crate::api::{
    BatchNotification, BatchNotificationStatus, ConcurrencyPolicy, Run, RunOutcome, RunStatus,
    execution_status,
};
use crate::aws::batch::JobDetails;
use crate::aws::sfn::ObservedExecution;
use crate::aws::{ErrorKind, RegionClients};
use crate::desired::{Desired, execution_name_for_schedule, execution_name_for_trigger, schedule};
use serde_json::json;

/// Follows the running execution, starts what is due; returns when to look again.
pub async fn step(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    desired: &Desired,
    status: &mut BatchNotificationStatus,
) -> Result<Option<Duration>, Problem> {
    let Some(machine) = status.state_machine_arn.clone() else {
        return Ok(None);
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut poll = None;
    // The events route's place (account and region): where this object's
    // execution ends arrive.
    let region = super::events::place(&desired.scope);
    let region = region.as_str();
    ctx.events.follow_machine(&machine, obj);

    // A run without an outcome is followed until it has one.
    if let Some(run) = status.runs.first().cloned()
        && run.outcome.is_none()
    {
        poll = follow(obj, ctx, clients, region, run, status).await?;
    }

    let Some(run_spec) = obj.spec.run.as_ref() else {
        status.next_scheduled_run = None;
        return Ok(poll);
    };
    let running = status.runs.first().is_some_and(|r| !r.is_finished());

    // A new trigger value always starts its run, also back to an earlier
    // value and also while suspended (suspend stops the schedule only, like a
    // CronJob's: a manual run still runs). The run's sequence number is in
    // its execution name and written with its record: a crash before that
    // write starts the same execution again, which Step Functions refuses.
    if let Some(trigger) = run_spec.trigger.as_deref()
        && status.last_trigger.as_deref() != Some(trigger)
    {
        let sequence = status.run_sequence.unwrap_or(0) + 1;
        let name = execution_name_for_trigger(&desired.owner.uid, sequence, trigger);
        let input = run_input(run_spec, Some(trigger), None);
        let mut run = start(obj, ctx, clients, desired, &machine, &name, &input).await?;
        run.trigger = Some(trigger.to_string());
        run.sequence = Some(sequence);
        run.parameters = run_spec.parameters.clone().filter(|p| !p.is_empty());
        status.last_trigger = Some(trigger.to_string());
        status.run_sequence = Some(sequence);
        poll = settle(
            obj,
            ctx,
            clients,
            region,
            run,
            run_spec.history_limit(),
            status,
        )
        .await?;
    }

    // The schedule, like a CronJob's.
    if let Some(cron) = run_spec.schedule.as_deref() {
        let decision = schedule::decide(
            cron,
            run_spec.time_zone(),
            status.last_schedule_time.as_deref(),
            obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            run_spec.starting_deadline_seconds,
            now,
        )
        .map_err(|e| Problem::stalled("InvalidSchedule", format!("spec.run.schedule: {e}")))?;
        // Suspended: no next scheduled run (status says none will come).
        status.next_scheduled_run = decision
            .next
            .filter(|_| !run_spec.suspend())
            .map(|t| t.to_string());
        if let Some(due) = decision.due
            && !run_spec.suspend()
        {
            let running = running || status.runs.first().is_some_and(|r| !r.is_finished());
            let start_it = match run_spec.concurrency_policy() {
                ConcurrencyPolicy::Allow => true,
                ConcurrencyPolicy::Forbid => !running,
                ConcurrencyPolicy::Replace => {
                    if running {
                        // Every running execution, not only the newest run:
                        // earlier ones (Allow before, trigger runs) run too.
                        let all = clients
                            .state_machines
                            .running_executions(&machine)
                            .await
                            .map_err(|e| Problem::aws("ListExecutions", &e))?;
                        for arn in all {
                            clients
                                .state_machines
                                .stop_execution(
                                    &arn,
                                    "replaced by a scheduled run (concurrencyPolicy: Replace)",
                                )
                                .await
                                .map_err(|e| Problem::aws("StopExecution", &e))?;
                        }
                    }
                    true
                }
            };
            status.last_schedule_time = Some(due.to_string());
            if start_it {
                let sequence = status.run_sequence.unwrap_or(0) + 1;
                let name = execution_name_for_schedule(&desired.owner.uid, due);
                let input = run_input(run_spec, None, Some(&due.to_string()));
                let mut run = start(obj, ctx, clients, desired, &machine, &name, &input).await?;
                run.scheduled_time = Some(due.to_string());
                run.sequence = Some(sequence);
                run.parameters = run_spec.parameters.clone().filter(|p| !p.is_empty());
                status.run_sequence = Some(sequence);
                poll = settle(
                    obj,
                    ctx,
                    clients,
                    region,
                    run,
                    run_spec.history_limit(),
                    status,
                )
                .await?;
            }
        }
        if let Some(next) = decision.next
            && !run_spec.suspend()
        {
            let until = next.duration_since(now).as_secs_f64().max(0.0);
            let until = Duration::from_secs_f64(until) + Duration::from_millis(500);
            poll = Some(poll.map_or(until, |p: Duration| p.min(until)));
        }
    } else {
        status.next_scheduled_run = None;
    }
    Ok(poll)
}

/// The execution's input: what the run's context messages name, and the
/// Batch job's parameters (`Parameters.$` in the definition). The same for a
/// run started again after a crash, as StartExecution's idempotency wants.
fn run_input(run: &Run, trigger: Option<&str>, scheduled_time: Option<&str>) -> String {
    let mut input = json!({"trigger": trigger, "scheduledTime": scheduled_time});
    let parameters = run.parameters();
    if !parameters.is_empty() {
        input["parameters"] = json!(parameters);
    }
    input.to_string()
}

/// Records a just-started run; one found already finished (started before a
/// crash) is read to its outcome at once.
async fn settle(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    region: &str,
    run: RunStatus,
    limit: u32,
    status: &mut BatchNotificationStatus,
) -> Result<Option<Duration>, Problem> {
    let finished = run.is_finished();
    record(status, run.clone(), limit);
    if finished {
        follow(obj, ctx, clients, region, run, status).await
    } else if ctx.events.ready(region) {
        // Its end comes as an event; the first fallback poll much later.
        let _ = ctx.events.poll_due(region, &run.execution_arn);
        Ok(Some(ctx.events.fallback))
    } else {
        Ok(Some(ctx.config.poll_min))
    }
}

/// StartExecution with our deterministic name; "already exists" means we
/// started it before a crash: describe that one.
async fn start(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    desired: &Desired,
    machine: &str,
    name: &str,
    input: &str,
) -> Result<RunStatus, Problem> {
    let sfn = &clients.state_machines;
    let arn = match sfn.start_execution(machine, name, input).await {
        Ok((arn, started)) => {
            ctx.publish(
                obj,
                EventType::Normal,
                "RunStarted",
                "StartExecution",
                format!("started execution {name}"),
            )
            .await;
            // StartExecution answers the start date: nothing to describe.
            return Ok(RunStatus {
                name: name.to_string(),
                execution_arn: arn,
                status: execution_status::RUNNING.to_string(),
                start_time: started,
                ..RunStatus::default()
            });
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => desired.execution_arn(name),
        Err(e) => return Err(Problem::aws(&format!("execution {name}"), &e)),
    };
    // Started before a crash: it may have ended since.
    let observed = sfn
        .describe_execution(&arn)
        .await
        .map_err(|e| Problem::aws(&format!("execution {name}"), &e))?;
    Ok(RunStatus {
        name: name.to_string(),
        execution_arn: arn,
        status: observed
            .as_ref()
            .map(|o| o.status.clone())
            .unwrap_or_else(|| execution_status::RUNNING.to_string()),
        start_time: observed.as_ref().and_then(|o| o.start_time.clone()),
        ..RunStatus::default()
    })
}

/// Describes the running execution (or takes its end from its event);
/// fills the result in when it ended.
async fn follow(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    region: &str,
    mut run: RunStatus,
    status: &mut BatchNotificationStatus,
) -> Result<Option<Duration>, Problem> {
    let sfn = &clients.state_machines;
    let what = format!("execution {}", run.name);
    let observed = match ctx.events.finished(&run.execution_arn) {
        Some(end) => Some(ObservedExecution {
            arn: end.execution_arn,
            status: end.status,
            start_time: end.start_time,
            stop_time: end.stop_time,
            error: end.error,
            cause: end.cause,
        }),
        None => {
            if let Err(wait) = ctx.events.poll_due(region, &run.execution_arn) {
                return Ok(Some(wait));
            }
            sfn.describe_execution(&run.execution_arn)
                .await
                .map_err(|e| Problem::aws(&what, &e))?
        }
    };
    let Some(observed) = observed else {
        run.status = execution_status::ABORTED.to_string();
        run.outcome = Some(RunOutcome::Failed);
        run.error = Some("ExecutionDoesNotExist".to_string());
        run.cause = Some("the execution no longer exists in Step Functions".to_string());
        finish(run, status);
        return Ok(None);
    };
    if observed.is_running() {
        let elapsed = observed
            .start_time
            .as_deref()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map(|t| {
                k8s_openapi::jiff::Timestamp::now()
                    .duration_since(t)
                    .as_secs_f64()
                    .max(0.0)
            })
            .unwrap_or(0.0);
        // Poll soon after the start, then back off up to poll_max; with
        // events flowing, only the fallback poll.
        let delay = if ctx.events.ready(region) {
            ctx.events.fallback
        } else {
            Duration::from_secs_f64(elapsed / 2.0).clamp(ctx.config.poll_min, ctx.config.poll_max)
        };
        let queue = status.job_queue_arn.clone();
        watch_job(clients, queue.as_deref(), obj.spec.job_name(), &mut run).await?;
        update(status, run);
        return Ok(Some(delay));
    }
    let outcome = sfn
        .outcome(&run.execution_arn)
        .await
        .map_err(|e| Problem::aws(&what, &e))?;
    run.status = observed.status.clone();
    run.stop_time = observed.stop_time.clone();
    run.start_time = observed.start_time.clone().or(run.start_time);
    run.batch_job_id = outcome.batch_job_id.clone().or(run.batch_job_id);
    if let Some(job) = &outcome.job {
        set_job(&mut run, job);
    }
    let succeeded = observed.status == execution_status::SUCCEEDED
        && outcome.notify_state.as_deref() != Some("Notify Failure");
    run.outcome = Some(if succeeded {
        RunOutcome::Succeeded
    } else {
        RunOutcome::Failed
    });
    run.error = observed.error.clone().or(outcome.error.clone());
    run.cause = observed
        .cause
        .clone()
        .or(outcome.cause.clone())
        .map(truncate_cause);
    finish(run, status);
    Ok(None)
}

/// The running job's status, for a run that waits (RUNNABLE for long means
/// no capacity can place it): the job's ID once from the execution's history,
/// then one DescribeJobs per poll.
async fn watch_job(
    clients: &RegionClients,
    queue: Option<&str>,
    job_name: &str,
    run: &mut RunStatus,
) -> Result<(), Problem> {
    let what = format!("execution {}", run.name);
    if run.batch_job_id.is_none() {
        run.batch_job_id = clients
            .state_machines
            .submitted_job(&run.execution_arn)
            .await
            .map_err(|e| Problem::aws(&what, &e))?;
    }
    // The history names the job (TaskSubmitted) on AWS; where it does not
    // yet, the first job of the run's name in the queue since it started.
    if run.batch_job_id.is_none()
        && let (Some(queue), Some(started)) = (queue, run.start_time.as_deref())
        && let Ok(started) = started.parse::<k8s_openapi::jiff::Timestamp>()
    {
        run.batch_job_id = clients
            .batch
            .first_job_after(queue, job_name, started.as_millisecond() - 1000)
            .await
            .map_err(|e| Problem::aws(&what, &e))?;
    }
    let Some(job_id) = run.batch_job_id.clone() else {
        return Ok(());
    };
    let job = clients
        .batch
        .job(&job_id)
        .await
        .map_err(|e| Problem::aws(&format!("{what}: Batch job {job_id}"), &e))?;
    if let Some(job) = job {
        set_job(run, &job);
    }
    Ok(())
}

/// The job's details into the run; `jobStatusSince` moves only when the
/// status does.
fn set_job(run: &mut RunStatus, job: &JobDetails) {
    if job.status.is_some() && job.status != run.job_status {
        run.job_status = job.status.clone();
        run.job_status_since = Some(k8s_openapi::jiff::Timestamp::now().to_string());
    }
    run.job_status_reason = job.status_reason.clone().or(run.job_status_reason.take());
    run.exit_code = job.exit_code.or(run.exit_code);
    run.attempts = job.attempts.or(run.attempts);
    run.log_stream_name = job.log_stream_name.clone().or(run.log_stream_name.take());
}

/// Puts a still-running run's new details back into status.
fn update(status: &mut BatchNotificationStatus, run: RunStatus) {
    if let Some(first) = status.runs.first_mut()
        && first.execution_arn == run.execution_arn
    {
        *first = run.clone();
    }
    if status
        .last_run
        .as_ref()
        .is_some_and(|r| r.execution_arn == run.execution_arn)
    {
        status.last_run = Some(run);
    }
}

/// Step Functions causes can be the whole Batch job description: keep status small.
fn truncate_cause(mut cause: String) -> String {
    const MAX: usize = 2048;
    if cause.len() > MAX {
        cause.truncate(cause.floor_char_boundary(MAX));
        cause.push('…');
    }
    cause
}

fn finish(run: RunStatus, status: &mut BatchNotificationStatus) {
    if let Some(first) = status.runs.first_mut()
        && first.execution_arn == run.execution_arn
    {
        *first = run.clone();
    }
    status.last_run = Some(run);
}

/// Runs `new` records as ended that `old` did not: each is announced (an
/// Event, the runs metric) once its result is in status, so a status write
/// that fails and is retried never announces a run twice.
pub fn newly_finished<'a>(
    old: &BatchNotificationStatus,
    new: &'a BatchNotificationStatus,
) -> Vec<&'a RunStatus> {
    let ended_before = |arn: &str| {
        old.runs
            .iter()
            .chain(old.last_run.as_ref())
            .any(|r| r.execution_arn == arn && r.outcome.is_some())
    };
    let mut out: Vec<&RunStatus> = Vec::new();
    for run in new.runs.iter().chain(new.last_run.as_ref()) {
        if run.outcome.is_some()
            && !ended_before(&run.execution_arn)
            && !out.iter().any(|r| r.execution_arn == run.execution_arn)
        {
            out.push(run);
        }
    }
    out
}

/// The Event and metric of a run whose result status now records.
pub async fn announce(obj: &BatchNotification, ctx: &Context, run: &RunStatus) {
    let succeeded = run.outcome == Some(RunOutcome::Succeeded);
    let (type_, reason, note) = if succeeded {
        (
            EventType::Normal,
            "RunSucceeded",
            format!("execution {} succeeded", run.name),
        )
    } else {
        (EventType::Warning, "RunFailed", failure_note(run))
    };
    ctx.metrics
        .run_finished(if succeeded { "Succeeded" } else { "Failed" });
    ctx.publish(obj, type_, reason, "Run", note).await;
}

/// What went wrong, for the Event and the condition: "the Batch job failed
/// (States.TaskFailed); execution X sent the failure notification" when the
/// sample's Catch ran, "execution X ended TIMED_OUT: …" when the execution did.
fn failure_note(run: &RunStatus) -> String {
    if run.status == execution_status::SUCCEEDED {
        let error = run
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return format!(
            "the Batch job failed{error}; execution {} sent the failure notification",
            run.name
        );
    }
    let error = run
        .error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    format!("execution {} ended {}{error}", run.name, run.status)
}

/// Newest first, at most `limit`; `lastRun` is the newest.
fn record(status: &mut BatchNotificationStatus, run: RunStatus, limit: u32) {
    status.runs.retain(|r| r.execution_arn != run.execution_arn);
    status.runs.insert(0, run.clone());
    status.runs.truncate(limit.max(1) as usize);
    status.last_run = Some(run);
}

/// RunSucceeded's reason while the job has waited RUNNABLE too long.
pub const JOB_RUNNABLE: &str = "JobRunnable";

/// What to say when the run's Batch job has been RUNNABLE for longer than
/// `spec.run.runnableWarningSeconds`: no capacity can place it.
fn stuck_runnable(obj: &BatchNotification, run: &RunStatus) -> Option<String> {
    if run.job_status.as_deref() != Some("RUNNABLE") {
        return None;
    }
    let since: k8s_openapi::jiff::Timestamp = run.job_status_since.as_deref()?.parse().ok()?;
    let limit = obj
        .spec
        .run
        .as_ref()
        .map_or(1800, |r| r.runnable_warning_seconds());
    let waited = k8s_openapi::jiff::Timestamp::now()
        .duration_since(since)
        .as_secs();
    (waited > i64::from(limit)).then(|| {
        format!(
            "execution {}: Batch job {} has been RUNNABLE since {since} (over {limit} s): no compute capacity can place it; check the compute environment's maxvCpus, subnets and service quotas",
            run.name,
            run.batch_job_id.as_deref().unwrap_or("?")
        )
    })
}

/// A Warning to publish when the run just became stuck RUNNABLE.
pub fn newly_stuck(old: &BatchNotificationStatus, new: &BatchNotificationStatus) -> Option<String> {
    let now = conditions::find_condition(&new.conditions, RUN_SUCCEEDED)?;
    let before = conditions::find_condition(&old.conditions, RUN_SUCCEEDED);
    (now.reason == JOB_RUNNABLE && before.is_none_or(|b| b.reason != JOB_RUNNABLE))
        .then(|| now.message.clone())
}

/// Whether a runs-stage problem differs from what RunSucceeded already says.
pub fn problem_is_new(old: &BatchNotificationStatus, problem: &Problem) -> bool {
    conditions::find_condition(&old.conditions, RUN_SUCCEEDED)
        .is_none_or(|c| c.reason != problem.reason || c.message != problem.message)
}

/// RunSucceeded: Unknown while running, True/False once done. The runs
/// stage's own trouble (a denied StartExecution, a throttled poll) is said
/// here as Unknown with its reason, never on Ready.
pub fn set_run_condition(
    obj: &BatchNotification,
    old: &BatchNotificationStatus,
    status: &mut BatchNotificationStatus,
    problem: Option<&Problem>,
) {
    let generation = obj.metadata.generation;
    let now = super::status::now();
    if let Some(p) = problem {
        // The same problem again keeps its condition (and its time).
        if problem_is_new(old, p) {
            conditions::set_condition(
                &mut status.conditions,
                new_condition(
                    RUN_SUCCEEDED,
                    crate::api::conditions::ConditionStatus::Unknown,
                    p.reason,
                    p.message.clone(),
                    generation,
                    now,
                ),
            );
        }
        return;
    }
    // A new trigger whose run has not started yet (the infrastructure is
    // not Ready, say): the previous run's result must not answer for it, or
    // `kubectl wait --for=condition=RunSucceeded` would return on it.
    if let Some(trigger) = obj.spec.run.as_ref().and_then(|r| r.trigger.as_deref())
        && status.last_trigger.as_deref() != Some(trigger)
    {
        conditions::set_condition(
            &mut status.conditions,
            new_condition(
                RUN_SUCCEEDED,
                crate::api::conditions::ConditionStatus::Unknown,
                "Pending",
                format!("the run for trigger {trigger:?} starts once the infrastructure is Ready"),
                generation,
                now,
            ),
        );
        return;
    }
    let Some(run) = status.last_run.as_ref() else {
        return;
    };
    let condition = match run.outcome {
        None => match stuck_runnable(obj, run) {
            Some(message) => new_condition(
                RUN_SUCCEEDED,
                crate::api::conditions::ConditionStatus::Unknown,
                JOB_RUNNABLE,
                message,
                generation,
                now,
            ),
            None => new_condition(
                RUN_SUCCEEDED,
                crate::api::conditions::ConditionStatus::Unknown,
                "Running",
                format!(
                    "execution {} is running{}",
                    run.name,
                    run.job_status
                        .as_deref()
                        .map(|s| format!("; its Batch job is {s}"))
                        .unwrap_or_default()
                ),
                generation,
                now,
            ),
        },
        Some(RunOutcome::Succeeded) => new_condition(
            RUN_SUCCEEDED,
            true,
            "Succeeded",
            format!("execution {} succeeded", run.name),
            generation,
            now,
        ),
        Some(RunOutcome::Failed) => {
            let reason = match run.status.as_str() {
                execution_status::TIMED_OUT => "TimedOut",
                execution_status::ABORTED => "Aborted",
                execution_status::FAILED => "ExecutionFailed",
                _ => "JobFailed",
            };
            new_condition(
                RUN_SUCCEEDED,
                false,
                reason,
                failure_note(run),
                generation,
                now,
            )
        }
    };
    conditions::set_condition(&mut status.conditions, condition);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: &str, error: Option<&str>) -> RunStatus {
        serde_json::from_value(serde_json::json!({
            "name": "trigger-1-abc",
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:trigger-1-abc",
            "status": status,
            "error": error,
        }))
        .expect("a run")
    }

    #[test]
    fn a_run_is_announced_once_when_status_first_records_its_end() {
        let running = run("RUNNING", None);
        let mut ended = run("SUCCEEDED", None);
        ended.outcome = Some(RunOutcome::Succeeded);
        let old = BatchNotificationStatus {
            runs: vec![running.clone()],
            last_run: Some(running),
            ..Default::default()
        };
        let mut new = old.clone();
        finish(ended, &mut new);
        let announced = newly_finished(&old, &new);
        assert_eq!(announced.len(), 1, "runs and lastRun name one run");
        assert_eq!(announced[0].status, "SUCCEEDED");
        // The next reconcile starts from the written status: nothing new.
        assert!(newly_finished(&new, &new).is_empty());
        // A status write that failed: the retry starts from `old` again and
        // announces it then, once.
        assert_eq!(newly_finished(&old, &new).len(), 1);
    }

    #[test]
    fn a_failed_job_caught_by_the_sample_is_said_plainly() {
        assert_eq!(
            failure_note(&run("SUCCEEDED", Some("States.TaskFailed"))),
            "the Batch job failed (States.TaskFailed); execution trigger-1-abc sent the failure notification"
        );
    }

    #[test]
    fn a_failed_execution_names_its_status_and_error() {
        assert_eq!(
            failure_note(&run("TIMED_OUT", Some("States.Timeout"))),
            "execution trigger-1-abc ended TIMED_OUT: States.Timeout"
        );
        assert_eq!(
            failure_note(&run("ABORTED", None)),
            "execution trigger-1-abc ended ABORTED"
        );
    }
}
