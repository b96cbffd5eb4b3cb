//! The run planner: from `spec.run`, what status records and the time, which
//! runs to start (with their deterministic names and inputs), whether to stop
//! the running ones first (`Replace`), which records to follow, when to look
//! again. Pure: the controller (`controller/executions.rs`) follows the runs,
//! asks for a plan and carries it out; nothing else decides whether a run is
//! due.
//!
//! Every run without an outcome is followed, wherever it is in
//! `status.runs`. A run past `historyLimit` stays in `status.runs` while it
//! is going (so `status.runs` holds more than the limit only while older runs
//! still run); when it ends, its end is announced (Event, metric) and its
//! record dropped in the same write.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::executions::{execution_name_for_schedule, execution_name_for_trigger};
use super::schedule::{self, ScheduleError};
use crate::api::{BatchNotificationStatus, ConcurrencyPolicy, Run, RunStatus};

/// What a plan is made from.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// `spec.run`; `None` starts nothing.
    pub run: Option<&'a Run>,
    /// Status as it stands after following the unfinished runs.
    pub status: &'a BatchNotificationStatus,
    /// The object's UID: execution names derive from it.
    pub uid: &'a str,
    /// The object's creation: a schedule's first times count from it.
    pub created: Option<Timestamp>,
    pub now: Timestamp,
}

/// A run to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// The execution name: (UID, sequence, trigger) or (UID, scheduled time),
    /// so starting it again after a crash is refused by Step Functions.
    pub name: String,
    /// The execution's input (the same on a retry, as idempotency wants).
    pub input: String,
    pub sequence: u64,
    /// The trigger value it starts for, or the scheduled time it is for.
    pub trigger: Option<String>,
    pub scheduled_time: Option<String>,
    pub parameters: Option<BTreeMap<String, String>>,
}

/// One thing to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Stop every running execution of the state machine (`Replace`).
    StopRunning,
    Start(Start),
}

/// What the controller does with the runs this reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// A scheduled time handled without a start (`Forbid` while running):
    /// recorded as handled at once.
    pub skipped: Option<String>,
    /// `status.nextScheduledRun`: `None` without a schedule or while suspended.
    pub next_scheduled_run: Option<String>,
    /// When the schedule wants the next look (just after its next time).
    pub wake: Option<Duration>,
}

/// The records to follow: every run without an outcome, newest first.
pub fn to_follow(status: &BatchNotificationStatus) -> Vec<RunStatus> {
    // Oldest first: an older run claims its Batch job before a newer one
    // looks for its own among the queue's jobs of the same name.
    status
        .runs
        .iter()
        .rev()
        .filter(|r| r.outcome.is_none())
        .cloned()
        .collect()
}

/// The Batch jobs runs other than `name` already hold: never another run's.
pub fn claimed_jobs(status: &BatchNotificationStatus, name: &str) -> Vec<String> {
    status
        .runs
        .iter()
        .filter(|r| r.name != name)
        .filter_map(|r| r.batch_job_id.clone())
        .collect()
}

/// The trigger value whose run has not been started yet, if any.
pub fn new_trigger<'a>(run: Option<&'a Run>, status: &BatchNotificationStatus) -> Option<&'a str> {
    run?.trigger
        .as_deref()
        .filter(|t| status.last_trigger.as_deref() != Some(*t))
}

/// Whether a reconcile has run work that must not wait behind a resync
/// pass: a trigger whose run is not started, or a followed run whose end is
/// already known (`ended`: its event came).
pub fn runs_waiting(
    run: Option<&Run>,
    status: &BatchNotificationStatus,
    ended: impl Fn(&str) -> bool,
) -> bool {
    new_trigger(run, status).is_some()
        || status
            .runs
            .iter()
            .filter(|r| r.outcome.is_none())
            .any(|r| ended(&r.execution_arn))
}

/// Whether a run is going: a record without an end.
fn running(status: &BatchNotificationStatus) -> bool {
    status.runs.iter().any(|r| !r.is_finished())
}

/// The plan for `input`. Only an invalid schedule is an error.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, ScheduleError> {
    let mut plan = Plan::default();
    let Some(run) = input.run else {
        return Ok(plan);
    };
    let status = input.status;
    let mut sequence = status.run_sequence.unwrap_or(0);
    let mut running = running(status);
    let parameters = run.parameters.clone().filter(|p| !p.is_empty());

    // A new trigger value always starts its run, also back to an earlier
    // value and while suspended (suspend stops the schedule only, as a
    // CronJob's does).
    if let Some(trigger) = new_trigger(Some(run), status) {
        sequence += 1;
        plan.steps.push(Step::Start(Start {
            name: execution_name_for_trigger(input.uid, sequence, trigger),
            input: run_input(run, Some(trigger), None),
            sequence,
            trigger: Some(trigger.to_string()),
            scheduled_time: None,
            parameters: parameters.clone(),
        }));
        running = true;
    }

    let Some(cron) = run.schedule.as_deref() else {
        return Ok(plan);
    };
    let decision = schedule::decide(
        cron,
        run.time_zone(),
        status.last_schedule_time.as_deref(),
        input.created,
        run.starting_deadline_seconds,
        input.now,
    )?;
    if run.suspend() {
        return Ok(plan);
    }
    plan.next_scheduled_run = decision.next.map(|t| t.to_string());
    plan.wake = decision.next.map(|next| {
        let until = next.duration_since(input.now).as_secs_f64().max(0.0);
        Duration::from_secs_f64(until) + Duration::from_millis(500)
    });
    let Some(due) = decision.due else {
        return Ok(plan);
    };
    let start = match run.concurrency_policy() {
        ConcurrencyPolicy::Allow => true,
        ConcurrencyPolicy::Forbid => !running,
        ConcurrencyPolicy::Replace => {
            // Every running execution, not only the newest run's.
            if running {
                plan.steps.push(Step::StopRunning);
            }
            true
        }
    };
    if !start {
        plan.skipped = Some(due.to_string());
        return Ok(plan);
    }
    plan.steps.push(Step::Start(Start {
        name: execution_name_for_schedule(input.uid, due),
        input: run_input(run, None, Some(&due.to_string())),
        sequence: sequence + 1,
        trigger: None,
        scheduled_time: Some(due.to_string()),
        parameters,
    }));
    Ok(plan)
}

/// The execution's input: what the run's context messages name, and the
/// Batch job's parameters (`Parameters.$` in the definition).
fn run_input(run: &Run, trigger: Option<&str>, scheduled_time: Option<&str>) -> String {
    let mut input = json!({"trigger": trigger, "scheduledTime": scheduled_time});
    let parameters = run.parameters();
    if !parameters.is_empty() {
        input["parameters"] = json!(parameters);
    }
    input.to_string()
}

/// Status once `start` is started as `run` (its execution's name, ARN and
/// state): the run recorded newest first, and what it was started for.
pub fn started(
    status: &mut BatchNotificationStatus,
    start: &Start,
    mut run: RunStatus,
    limit: u32,
) {
    run.trigger = start.trigger.clone();
    run.scheduled_time = start.scheduled_time.clone();
    run.sequence = Some(start.sequence);
    run.parameters = start.parameters.clone();
    if let Some(trigger) = &start.trigger {
        status.last_trigger = Some(trigger.clone());
    }
    if let Some(time) = &start.scheduled_time {
        status.last_schedule_time = Some(time.clone());
    }
    status.run_sequence = Some(start.sequence);
    status.runs.retain(|r| r.execution_arn != run.execution_arn);
    status.runs.insert(0, run);
    trim(status, limit);
}

/// Puts a followed run's new state into its record, wherever it is.
pub fn followed(status: &mut BatchNotificationStatus, run: RunStatus) {
    if let Some(record) = status
        .runs
        .iter_mut()
        .find(|r| r.execution_arn == run.execution_arn)
    {
        *record = run;
    }
    status.last_run = status.runs.first().cloned();
}

/// At most `limit` runs, newest first, and every older one still going;
/// `lastRun` is the newest.
pub fn trim(status: &mut BatchNotificationStatus, limit: u32) {
    let limit = limit.max(1) as usize;
    let mut kept = 0;
    status.runs.retain(|r| {
        kept += 1;
        kept <= limit || r.outcome.is_none()
    });
    status.last_run = status.runs.first().cloned();
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
