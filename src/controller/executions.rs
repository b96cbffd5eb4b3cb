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
    BatchNotification, BatchNotificationStatus, ConcurrencyPolicy, RunOutcome, RunStatus,
    execution_status,
};
use crate::aws::{ErrorKind, RegionClients};
use crate::desired::{Desired, execution_name_for_schedule, execution_name_for_trigger, schedule};

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

    // A run without an outcome is followed until it has one.
    if let Some(run) = status.runs.first().cloned()
        && run.outcome.is_none()
    {
        poll = follow(obj, ctx, clients, run, status).await?;
    }

    let Some(run_spec) = obj.spec.run.as_ref() else {
        status.next_scheduled_run = None;
        return Ok(poll);
    };
    let running = status.runs.first().is_some_and(|r| !r.is_finished());

    // A new trigger value always starts its run (the user asked for it), unless suspended.
    if let Some(trigger) = run_spec.trigger.as_deref()
        && !run_spec.suspend()
        && status.last_trigger.as_deref() != Some(trigger)
    {
        let name = execution_name_for_trigger(&desired.owner.uid, trigger);
        let mut run = start(obj, ctx, clients, desired, &machine, &name).await?;
        run.trigger = Some(trigger.to_string());
        status.last_trigger = Some(trigger.to_string());
        poll = settle(obj, ctx, clients, run, run_spec.history_limit(), status).await?;
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
        status.next_scheduled_run = decision.next.map(|t| t.to_string());
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
                let name = execution_name_for_schedule(&desired.owner.uid, due);
                let mut run = start(obj, ctx, clients, desired, &machine, &name).await?;
                run.scheduled_time = Some(due.to_string());
                poll = settle(obj, ctx, clients, run, run_spec.history_limit(), status).await?;
            }
        }
        if let Some(next) = decision.next {
            let until = next.duration_since(now).as_secs_f64().max(0.0);
            let until = Duration::from_secs_f64(until) + Duration::from_millis(500);
            poll = Some(poll.map_or(until, |p: Duration| p.min(until)));
        }
    } else {
        status.next_scheduled_run = None;
    }
    Ok(poll)
}

/// Records a just-started run; one found already finished (started before a
/// crash) is read to its outcome at once.
async fn settle(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    run: RunStatus,
    limit: u32,
    status: &mut BatchNotificationStatus,
) -> Result<Option<Duration>, Problem> {
    let finished = run.is_finished();
    record(status, run.clone(), limit);
    if finished {
        follow(obj, ctx, clients, run, status).await
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
) -> Result<RunStatus, Problem> {
    let sfn = &clients.state_machines;
    let arn = match sfn.start_execution(machine, name).await {
        Ok(arn) => {
            ctx.publish(
                obj,
                EventType::Normal,
                "RunStarted",
                "StartExecution",
                format!("started execution {name}"),
            )
            .await;
            arn
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => desired.execution_arn(name),
        Err(e) => return Err(Problem::aws(&format!("execution {name}"), &e)),
    };
    let observed = sfn
        .describe_execution(&arn)
        .await
        .map_err(|e| Problem::aws(&format!("execution {name}"), &e))?;
    Ok(RunStatus {
        name: name.to_string(),
        execution_arn: arn,
        trigger: None,
        scheduled_time: None,
        status: observed
            .as_ref()
            .map(|o| o.status.clone())
            .unwrap_or_else(|| execution_status::RUNNING.to_string()),
        outcome: None,
        batch_job_id: None,
        start_time: observed.as_ref().and_then(|o| o.start_time.clone()),
        stop_time: None,
        error: None,
        cause: None,
    })
}

/// Describes the running execution; fills the result in when it ended.
async fn follow(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    mut run: RunStatus,
    status: &mut BatchNotificationStatus,
) -> Result<Option<Duration>, Problem> {
    let sfn = &clients.state_machines;
    let what = format!("execution {}", run.name);
    let observed = sfn
        .describe_execution(&run.execution_arn)
        .await
        .map_err(|e| Problem::aws(&what, &e))?;
    let Some(observed) = observed else {
        run.status = execution_status::ABORTED.to_string();
        run.outcome = Some(RunOutcome::Failed);
        run.error = Some("ExecutionDoesNotExist".to_string());
        run.cause = Some("the execution no longer exists in Step Functions".to_string());
        finish(obj, ctx, run, status).await;
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
        // Poll soon after the start, then back off up to poll_max.
        let delay =
            Duration::from_secs_f64(elapsed / 2.0).clamp(ctx.config.poll_min, ctx.config.poll_max);
        return Ok(Some(delay));
    }
    let outcome = sfn
        .outcome(&run.execution_arn)
        .await
        .map_err(|e| Problem::aws(&what, &e))?;
    run.status = observed.status.clone();
    run.stop_time = observed.stop_time.clone();
    run.start_time = observed.start_time.clone().or(run.start_time);
    run.batch_job_id = outcome.batch_job_id.clone();
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
    finish(obj, ctx, run, status).await;
    Ok(None)
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

async fn finish(
    obj: &BatchNotification,
    ctx: &Context,
    run: RunStatus,
    status: &mut BatchNotificationStatus,
) {
    let succeeded = run.outcome == Some(RunOutcome::Succeeded);
    let (reason, note) = if succeeded {
        ("RunSucceeded", format!("execution {} succeeded", run.name))
    } else {
        ("RunFailed", failure_note(&run))
    };
    ctx.metrics
        .run_finished(if succeeded { "Succeeded" } else { "Failed" });
    ctx.publish(
        obj,
        if succeeded {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason,
        "Run",
        note,
    )
    .await;
    if let Some(first) = status.runs.first_mut()
        && first.execution_arn == run.execution_arn
    {
        *first = run.clone();
    }
    status.last_run = Some(run);
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
    let Some(run) = status.last_run.as_ref() else {
        return;
    };
    let condition = match run.outcome {
        None => new_condition(
            RUN_SUCCEEDED,
            crate::api::conditions::ConditionStatus::Unknown,
            "Running",
            format!("execution {} is running", run.name),
            generation,
            now,
        ),
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
