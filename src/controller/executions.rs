//! Runs: follow every run without an outcome, then carry out the planner's
//! plan (`desired/runs.rs` decides what is due; nothing here does): start
//! each execution exactly once, stop for `Replace`, write results back.
//!
//! Exactly once: an execution's name is derived from (UID, trigger) or (UID,
//! scheduled time), so a crash between StartExecution and the status write
//! cannot start a second one — Step Functions answers ExecutionAlreadyExists
//! (or the same ARN) and we describe the one we started. The execution ARN is
//! recorded in status, never only in memory.

use std::time::Duration;

use super::Context;
use super::error::Problem;
use crate::api::conditions::{self, ConditionStatus, RUN_SUCCEEDED, new_condition};
use crate::api::reason::Reason;
use crate::api::{
    BatchNotification, BatchNotificationStatus, Run, RunOutcome, RunStatus, execution_status,
};
use crate::aws::batch::JobDetails;
use crate::aws::sfn::ObservedExecution;
use crate::aws::{ErrorKind, RegionClients};
use crate::desired::Desired;
use crate::desired::runs::{self, PlanInput, Start, Step};
use crate::desired::state_machine::NOTIFY_FAILURE_STATE;

/// What the runs stage did: when to look again (or its problem), and the
/// runs whose end it recorded, to announce once status is written (also when
/// a later step failed: their ends are in status all the same).
pub struct Stepped {
    pub next: Result<Option<Duration>, Problem>,
    pub ended: Vec<RunStatus>,
}

/// The runs of one object this reconcile, and what they need to reach AWS.
struct Stage<'a> {
    obj: &'a BatchNotification,
    ctx: &'a Context,
    clients: &'a RegionClients,
    desired: &'a Desired,
    machine: String,
    /// The events route's place (account and region): where this object's
    /// execution ends arrive.
    region: String,
    ended: Vec<RunStatus>,
}

/// Follows every run without an outcome, then carries out the planner's
/// plan ([`runs::plan`]): stops (`Replace`) and starts.
pub async fn step(
    obj: &BatchNotification,
    ctx: &Context,
    clients: &RegionClients,
    desired: &Desired,
    status: &mut BatchNotificationStatus,
) -> Stepped {
    let Some(machine) = status.state_machine_arn.clone() else {
        return Stepped {
            next: Ok(None),
            ended: Vec::new(),
        };
    };
    ctx.events.follow_machine(&machine, obj);
    let mut stage = Stage {
        obj,
        ctx,
        clients,
        desired,
        machine,
        region: super::events::place(&desired.scope),
        ended: Vec::new(),
    };
    let next = stage.run(status).await;
    Stepped {
        next,
        ended: stage.ended,
    }
}

/// The sooner of two wake-ups.
fn sooner(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Stage<'_> {
    async fn run(
        &mut self,
        status: &mut BatchNotificationStatus,
    ) -> Result<Option<Duration>, Problem> {
        let spec = self.obj.spec.run.as_ref();
        let limit = spec.map_or_else(|| Run::default().history_limit(), Run::history_limit);
        let mut poll = None;
        for run in runs::to_follow(status) {
            poll = sooner(poll, self.follow(run, status).await?);
        }
        runs::trim(status, limit);
        let plan = runs::plan(&PlanInput {
            run: spec,
            status,
            uid: &self.desired.owner.uid,
            created: self.obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            now: k8s_openapi::jiff::Timestamp::now(),
        })
        .map_err(|e| Problem::new(Reason::InvalidSchedule, format!("spec.run.schedule: {e}")))?;
        status.next_scheduled_run = plan.next_scheduled_run.clone();
        if let Some(handled) = &plan.skipped {
            status.last_schedule_time = Some(handled.clone());
        }
        for step in &plan.steps {
            match step {
                Step::StopRunning => self.stop_running().await?,
                Step::Start(start) => {
                    let run = self.start(start).await?;
                    runs::started(status, start, run, limit);
                    poll = sooner(poll, self.settle(status).await?);
                }
            }
        }
        Ok(sooner(poll, plan.wake))
    }

    /// Every running execution of the machine, not only the newest run's
    /// (Allow before, trigger runs): stopped for a `Replace`.
    async fn stop_running(&self) -> Result<(), Problem> {
        let sfn = &self.clients.state_machines;
        let all = sfn
            .running_executions(&self.machine)
            .await
            .map_err(|e| Problem::aws("ListExecutions", &e))?;
        for arn in all {
            sfn.stop_execution(
                &arn,
                "replaced by a scheduled run (concurrencyPolicy: Replace)",
            )
            .await
            .map_err(|e| Problem::aws("StopExecution", &e))?;
        }
        Ok(())
    }

    /// After a start: one found already finished (started before a crash)
    /// is read to its outcome at once; else when to look at it.
    async fn settle(
        &mut self,
        status: &mut BatchNotificationStatus,
    ) -> Result<Option<Duration>, Problem> {
        let Some(run) = status.runs.first().cloned() else {
            return Ok(None);
        };
        if run.is_finished() {
            self.follow(run, status).await
        } else if self.ctx.events.ready(&self.region) {
            // Its end comes as an event; the first fallback poll much later.
            let key = kube::runtime::reflector::ObjectRef::from_obj(self.obj);
            let _ = self
                .ctx
                .events
                .poll_due(&key, &self.region, &run.execution_arn);
            Ok(Some(self.ctx.events.fallback))
        } else {
            Ok(Some(self.ctx.config.poll_min))
        }
    }

    /// StartExecution with the plan's deterministic name; "already exists"
    /// means we started it before a crash: describe that one.
    async fn start(&self, start: &Start) -> Result<RunStatus, Problem> {
        let sfn = &self.clients.state_machines;
        let name = &start.name;
        let arn = match sfn.start_execution(&self.machine, name, &start.input).await {
            Ok((arn, started)) => {
                self.ctx
                    .publish(
                        self.obj,
                        Reason::RunStarted,
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
            Err(e) if e.is(ErrorKind::AlreadyExists) => self.desired.execution_arn(name),
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

    /// A run's end, into its record and the list to announce.
    fn record_end(&mut self, run: RunStatus, status: &mut BatchNotificationStatus) {
        runs::followed(status, run.clone());
        self.ended.push(run);
    }

    /// Describes the running execution (or takes its end from its event);
    /// fills the result in when it ended.
    async fn follow(
        &mut self,
        mut run: RunStatus,
        status: &mut BatchNotificationStatus,
    ) -> Result<Option<Duration>, Problem> {
        let observed = match self.observe(&run).await? {
            Ok(observed) => observed,
            Err(wait) => return Ok(Some(wait)),
        };
        let Some(observed) = observed else {
            run.status = execution_status::ABORTED.to_string();
            run.outcome = Some(RunOutcome::Failed);
            run.error = Some("ExecutionDoesNotExist".to_string());
            run.cause = Some("the execution no longer exists in Step Functions".to_string());
            self.record_end(run, status);
            return Ok(None);
        };
        if observed.is_running() {
            return self.going(run, &observed, status).await.map(Some);
        }
        self.ended(run, &observed, status).await?;
        Ok(None)
    }

    /// The execution as its end event says, or as DescribeExecution does;
    /// `Err(wait)` when neither is due yet (event mode's fallback poll).
    async fn observe(
        &self,
        run: &RunStatus,
    ) -> Result<Result<Option<ObservedExecution>, Duration>, Problem> {
        if let Some(end) = self.ctx.events.finished(&run.execution_arn) {
            return Ok(Ok(Some(ObservedExecution {
                arn: end.execution_arn,
                status: end.status,
                start_time: end.start_time,
                stop_time: end.stop_time,
                error: end.error,
                cause: end.cause,
            })));
        }
        let key = kube::runtime::reflector::ObjectRef::from_obj(self.obj);
        if let Err(wait) = self
            .ctx
            .events
            .poll_due(&key, &self.region, &run.execution_arn)
        {
            return Ok(Err(wait));
        }
        self.clients
            .state_machines
            .describe_execution(&run.execution_arn)
            .await
            .map(Ok)
            .map_err(|e| Problem::aws(&format!("execution {}", run.name), &e))
    }

    /// A run still going: its job's details into its record; when to look
    /// again (soon after the start, backing off to poll_max; with events
    /// flowing, only the fallback poll).
    async fn going(
        &self,
        mut run: RunStatus,
        observed: &ObservedExecution,
        status: &mut BatchNotificationStatus,
    ) -> Result<Duration, Problem> {
        let ctx = self.ctx;
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
        let delay = if ctx.events.ready(&self.region) {
            ctx.events.fallback
        } else {
            Duration::from_secs_f64(elapsed / 2.0).clamp(ctx.config.poll_min, ctx.config.poll_max)
        };
        let queue = status.job_queue_arn.clone();
        let claimed = runs::claimed_jobs(status, &run.name);
        let job = JobQuery {
            queue: queue.as_deref(),
            name: self.obj.spec.job_name(),
            claimed: &claimed,
        };
        watch_job(self.clients, &job, &mut run).await?;
        runs::followed(status, run);
        Ok(delay)
    }

    /// A run that ended: its result (the job's details, whether the failure
    /// notification was sent) into its record, to announce.
    async fn ended(
        &mut self,
        mut run: RunStatus,
        observed: &ObservedExecution,
        status: &mut BatchNotificationStatus,
    ) -> Result<(), Problem> {
        let outcome = self
            .clients
            .state_machines
            .outcome(&run.execution_arn)
            .await
            .map_err(|e| Problem::aws(&format!("execution {}", run.name), &e))?;
        run.status = observed.status.clone();
        run.stop_time = observed.stop_time.clone();
        run.start_time = observed.start_time.clone().or(run.start_time);
        run.batch_job_id = outcome.batch_job_id.clone().or(run.batch_job_id);
        if let Some(job) = &outcome.job {
            set_job(&mut run, job);
        }
        let succeeded = observed.status == execution_status::SUCCEEDED
            && outcome.notify_state.as_deref() != Some(NOTIFY_FAILURE_STATE);
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
        self.record_end(run, status);
        Ok(())
    }
}

/// Where a run's Batch job is looked for when the history does not name it.
struct JobQuery<'a> {
    queue: Option<&'a str>,
    name: &'a str,
    claimed: &'a [String],
}

/// The running job's status, for a run that waits (RUNNABLE for long means
/// no capacity can place it): the job's ID once from the execution's history,
/// then one DescribeJobs per poll.
async fn watch_job(
    clients: &RegionClients,
    job: &JobQuery<'_>,
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
    // yet, the first job of the run's name in the queue since it started
    // that no other run holds.
    if run.batch_job_id.is_none()
        && let (Some(queue), Some(started)) = (job.queue, run.start_time.as_deref())
        && let Ok(started) = started.parse::<k8s_openapi::jiff::Timestamp>()
    {
        run.batch_job_id = clients
            .batch
            .first_job_after(
                queue,
                job.name,
                started.as_millisecond() - 1000,
                job.claimed,
            )
            .await
            .map_err(|e| Problem::aws(&what, &e))?;
    }
    let Some(job_id) = run.batch_job_id.clone() else {
        return Ok(());
    };
    let details = clients
        .batch
        .job(&job_id)
        .await
        .map_err(|e| Problem::aws(&format!("{what}: Batch job {job_id}"), &e))?;
    if let Some(details) = details {
        set_job(run, &details);
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

/// Step Functions causes can be the whole Batch job description: keep status small.
fn truncate_cause(mut cause: String) -> String {
    const MAX: usize = 2048;
    if cause.len() > MAX {
        cause.truncate(cause.floor_char_boundary(MAX));
        cause.push('…');
    }
    cause
}

/// The Event and metric of a run whose result status now records.
pub async fn announce(obj: &BatchNotification, ctx: &Context, run: &RunStatus) {
    let succeeded = run.outcome == Some(RunOutcome::Succeeded);
    let (reason, note) = if succeeded {
        (
            Reason::RunSucceeded,
            format!("execution {} succeeded", run.name),
        )
    } else {
        (Reason::RunFailed, failure_note(run))
    };
    ctx.metrics
        .run_finished(if succeeded { "Succeeded" } else { "Failed" });
    ctx.publish(obj, reason, "Run", note).await;
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
    (now.reason == Reason::JobRunnable && before.is_none_or(|b| b.reason != Reason::JobRunnable))
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
    let said = match problem {
        // The same problem again keeps its condition (and its time).
        Some(p) if !problem_is_new(old, p) => None,
        Some(p) => Some((ConditionStatus::Unknown, p.reason, p.message.clone())),
        None => run_condition(obj, status),
    };
    if let Some((value, reason, message)) = said {
        let condition = new_condition(
            RUN_SUCCEEDED,
            value,
            reason,
            message,
            obj.metadata.generation,
            super::status::now(),
        );
        conditions::set_condition(&mut status.conditions, condition);
    }
}

/// What RunSucceeded says of the runs when the runs stage had no trouble.
fn run_condition(
    obj: &BatchNotification,
    status: &BatchNotificationStatus,
) -> Option<(ConditionStatus, Reason, String)> {
    // A new trigger whose run has not started yet (the infrastructure is
    // not Ready, say): the previous run's result must not answer for it, or
    // `kubectl wait --for=condition=RunSucceeded` would return on it.
    if let Some(trigger) = obj.spec.run.as_ref().and_then(|r| r.trigger.as_deref())
        && status.last_trigger.as_deref() != Some(trigger)
    {
        return Some((
            ConditionStatus::Unknown,
            Reason::Pending,
            format!("the run for trigger {trigger:?} starts once the infrastructure is Ready"),
        ));
    }
    let run = status.last_run.as_ref()?;
    Some(match run.outcome {
        None => match stuck_runnable(obj, run) {
            Some(message) => (ConditionStatus::Unknown, Reason::JobRunnable, message),
            None => (
                ConditionStatus::Unknown,
                Reason::Running,
                format!(
                    "execution {} is running{}",
                    run.name,
                    run.job_status
                        .as_deref()
                        .map(|s| format!("; its Batch job is {s}"))
                        .unwrap_or_default()
                ),
            ),
        },
        Some(RunOutcome::Succeeded) => (
            ConditionStatus::True,
            Reason::Succeeded,
            format!("execution {} succeeded", run.name),
        ),
        Some(RunOutcome::Failed) => {
            let reason = match run.status.as_str() {
                execution_status::TIMED_OUT => Reason::TimedOut,
                execution_status::ABORTED => Reason::Aborted,
                execution_status::FAILED => Reason::ExecutionFailed,
                _ => Reason::JobFailed,
            };
            (ConditionStatus::False, reason, failure_note(run))
        }
    })
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
    fn obj(run: serde_json::Value) -> BatchNotification {
        crate::controller::fixtures::object(run)
    }

    fn status_with(last: Option<RunStatus>, trigger: Option<&str>) -> BatchNotificationStatus {
        BatchNotificationStatus {
            last_run: last,
            last_trigger: trigger.map(str::to_string),
            ..Default::default()
        }
    }

    fn said(o: &BatchNotification, s: &BatchNotificationStatus) -> (ConditionStatus, Reason) {
        let (value, reason, _) = run_condition(o, s).expect("said");
        (value, reason)
    }

    #[test]
    fn a_new_trigger_is_pending_until_its_run_starts_whatever_the_last_run_said() {
        let o = obj(serde_json::json!({"trigger": "2"}));
        let mut done = run("SUCCEEDED", None);
        done.outcome = Some(RunOutcome::Succeeded);
        let s = status_with(Some(done.clone()), Some("1"));
        assert_eq!(said(&o, &s), (ConditionStatus::Unknown, Reason::Pending));
        let s = status_with(Some(done), Some("2"));
        assert_eq!(said(&o, &s), (ConditionStatus::True, Reason::Succeeded));
    }

    #[test]
    fn an_ended_run_says_how_it_ended() {
        let o = obj(serde_json::json!({"trigger": "1"}));
        for (status, error, reason) in [
            ("SUCCEEDED", Some("States.TaskFailed"), Reason::JobFailed),
            ("TIMED_OUT", None, Reason::TimedOut),
            ("ABORTED", None, Reason::Aborted),
            ("FAILED", Some("States.Runtime"), Reason::ExecutionFailed),
        ] {
            let mut r = run(status, error);
            r.outcome = Some(RunOutcome::Failed);
            let s = status_with(Some(r), Some("1"));
            assert_eq!(said(&o, &s), (ConditionStatus::False, reason), "{status}");
        }
    }

    #[test]
    fn a_job_runnable_past_the_warning_is_stuck_and_said_once() {
        let o = obj(serde_json::json!({"trigger": "1", "runnableWarningSeconds": 60}));
        let mut r = run("RUNNING", None);
        r.job_status = Some("RUNNABLE".into());
        r.batch_job_id = Some("job-1".into());
        r.job_status_since = Some("2020-01-01T00:00:00Z".into());
        let message = stuck_runnable(&o, &r).expect("stuck");
        assert!(
            message.contains("job-1") && message.contains("over 60 s"),
            "{message}"
        );
        r.job_status_since = Some(k8s_openapi::jiff::Timestamp::now().to_string());
        assert_eq!(stuck_runnable(&o, &r), None, "not yet");
        r.job_status = Some("RUNNING".into());
        assert_eq!(stuck_runnable(&o, &r), None);

        let mut old = status_with(None, Some("1"));
        let mut new = old.clone();
        r.job_status = Some("RUNNABLE".into());
        r.job_status_since = Some("2020-01-01T00:00:00Z".into());
        new.last_run = Some(r);
        set_run_condition(&o, &old, &mut new, None);
        assert!(newly_stuck(&old, &new).is_some(), "just became stuck");
        old = new.clone();
        set_run_condition(&o, &old, &mut new, None);
        assert_eq!(
            newly_stuck(&old, &new),
            None,
            "still stuck: no second Warning"
        );
    }

    #[test]
    fn the_same_runs_problem_again_keeps_its_condition() {
        let o = obj(serde_json::json!({"trigger": "1"}));
        let p = Problem::new(Reason::AwsThrottled, "states StartExecution: slow down");
        let old = BatchNotificationStatus::default();
        let mut new = old.clone();
        set_run_condition(&o, &old, &mut new, Some(&p));
        let first = conditions::find_condition(&new.conditions, RUN_SUCCEEDED)
            .expect("said")
            .clone();
        assert_eq!(first.reason, "AwsThrottled");
        assert!(!problem_is_new(&new, &p));
        let old = new.clone();
        set_run_condition(&o, &old, &mut new, Some(&p));
        assert_eq!(
            conditions::find_condition(&new.conditions, RUN_SUCCEEDED),
            Some(&first)
        );
    }
}
