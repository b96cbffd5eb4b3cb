//! Step Functions: the state machine and its executions.

use std::collections::BTreeMap;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType, Tag};

use super::budget::RegionBudget;
use super::error::{AwsError, ErrorKind, Result, call, call_gone, found, pages, pages_until};

const S: &str = "sfn";

/// A state machine as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedStateMachine {
    pub definition: String,
    pub role_arn: String,
}

/// An execution as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedExecution {
    pub arn: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE.
    pub status: String,
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl ObservedExecution {
    pub fn is_running(&self) -> bool {
        self.status == ExecutionStatus::Running.as_str()
    }
}

/// What the sample's history says about a finished execution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecutionOutcome {
    /// The "Notify …" state that ran, if any.
    pub notify_state: Option<String>,
    pub batch_job_id: Option<String>,
    /// The Batch job as the `.sync` task last described it (its output, or the
    /// failed job in the error's cause).
    pub job: Option<super::batch::JobDetails>,
    /// The error and cause of the failed task, if a task failed.
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What Step Functions answers CreateStateMachine/UpdateStateMachine while the
/// role is not (yet) assumable by `states.amazonaws.com`: an
/// `AccessDeniedException` "Neither the global service principal
/// states.amazonaws.com, nor the regional one is authorized to assume the
/// provided role." A new role gets it for seconds after CreateRole, because
/// IAM changes propagate eventually:
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
/// Every other AccessDenied is a permission the operator lacks.
pub fn role_not_assumable(e: &AwsError) -> bool {
    e.is(ErrorKind::AccessDenied) && e.message.contains("authorized to assume the provided role")
}

#[derive(Clone)]
pub struct StateMachines {
    client: aws_sdk_sfn::Client,
    budget: RegionBudget,
}

fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// How much older than our request a "new" machine may look: clocks differ.
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(30);

fn created_before(
    created: &aws_sdk_sfn::primitives::DateTime,
    asked: std::time::SystemTime,
) -> bool {
    let Ok(created) = std::time::SystemTime::try_from(*created) else {
        return false;
    };
    created + CLOCK_SKEW < asked
}

fn time(t: &aws_sdk_sfn::primitives::DateTime) -> Option<String> {
    t.fmt(aws_sdk_sfn::primitives::DateTimeFormat::DateTime)
        .ok()
}

impl StateMachines {
    pub fn new(client: aws_sdk_sfn::Client, budget: RegionBudget) -> Self {
        StateMachines { client, budget }
    }

    pub async fn create(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let asked = std::time::SystemTime::now();
        let out = call(
            &self.budget,
            S,
            "CreateStateMachine",
            self.client
                .create_state_machine()
                .name(name)
                .definition(definition)
                .role_arn(role_arn)
                .set_tags(Some(tags(tag_map)))
                .send(),
        )
        .await?;
        // AWS treats a create with the same name and definition as idempotent
        // and ignores the tags: a machine that is older than this request was
        // not made by it, and its owner must be checked like any name taken.
        if created_before(out.creation_date(), asked) {
            return Err(AwsError {
                service: S,
                operation: "CreateStateMachine",
                kind: ErrorKind::AlreadyExists,
                code: Some("StateMachineAlreadyExists".into()),
                message: format!("{} existed before this request", out.state_machine_arn()),
            });
        }
        Ok(out.state_machine_arn().to_string())
    }

    pub async fn observe(&self, arn: &str) -> Result<Option<ObservedStateMachine>> {
        let r = call(
            &self.budget,
            S,
            "DescribeStateMachine",
            self.client
                .describe_state_machine()
                .state_machine_arn(arn)
                .send(),
        )
        .await;
        Ok(found(r)?.map(|out| ObservedStateMachine {
            definition: out.definition().to_string(),
            role_arn: out.role_arn().to_string(),
        }))
    }

    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = call(
            &self.budget,
            S,
            "ListTagsForResource",
            self.client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send(),
        )
        .await?;
        Ok(super::tag_map(out.tags().iter().map(|t| {
            (t.key().unwrap_or_default(), t.value().unwrap_or_default())
        })))
    }

    pub async fn tag(&self, arn: &str, tag_map: &BTreeMap<String, String>) -> Result<()> {
        call(
            &self.budget,
            S,
            "TagResource",
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags(tag_map)))
                .send(),
        )
        .await?;
        Ok(())
    }

    /// UpdateStateMachine in place: same ARN, new definition and role.
    pub async fn update(&self, arn: &str, definition: &str, role_arn: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "UpdateStateMachine",
            self.client
                .update_state_machine()
                .state_machine_arn(arn)
                .definition(definition)
                .role_arn(role_arn)
                .send(),
        )
        .await?;
        Ok(())
    }

    pub async fn delete(&self, arn: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DeleteStateMachine",
            self.client
                .delete_state_machine()
                .state_machine_arn(arn)
                .send(),
        )
        .await
    }

    /// StartExecution with our deterministic name. AlreadyExists means it was
    /// started before (by us, before a crash): the caller describes it.
    pub async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<(String, Option<String>)> {
        let out = call(
            &self.budget,
            S,
            "StartExecution",
            self.client
                .start_execution()
                .state_machine_arn(state_machine_arn)
                .name(name)
                .input(input)
                .send(),
        )
        .await?;
        Ok((out.execution_arn().to_string(), time(out.start_date())))
    }

    /// The Batch job a running execution submitted, from the first page of
    /// its history (the TaskSubmitted event comes within the first few).
    pub async fn submitted_job(&self, execution_arn: &str) -> Result<Option<String>> {
        let out = call(
            &self.budget,
            S,
            "GetExecutionHistory",
            self.client
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(20)
                .send(),
        )
        .await?;
        Ok(submitted_job_id(out.events()))
    }

    pub async fn describe_execution(&self, arn: &str) -> Result<Option<ObservedExecution>> {
        let r = call(
            &self.budget,
            S,
            "DescribeExecution",
            self.client.describe_execution().execution_arn(arn).send(),
        )
        .await;
        Ok(found(r)?.map(|out| ObservedExecution {
            arn: out.execution_arn().to_string(),
            status: out.status().as_str().to_string(),
            start_time: time(out.start_date()),
            stop_time: out.stop_date().and_then(time),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
        }))
    }

    /// Reads the newest history events (one page, newest first) for which
    /// "Notify" state ran, the Batch job ID, and a failed task's error.
    /// The outcome from the execution's whole history (every page; the
    /// sample's history is about fifteen events).
    /// Reads the history newest first and stops at the Batch task's end:
    /// what follows it (the notification) is all the outcome needs, and the
    /// older pages are never read.
    pub async fn outcome(&self, execution_arn: &str) -> Result<ExecutionOutcome> {
        let pages = pages_until(
            &self.budget,
            S,
            "GetExecutionHistory",
            self.client
                .get_execution_history()
                .execution_arn(execution_arn)
                .reverse_order(true)
                .max_results(100)
                .into_paginator()
                .send(),
            |page| page.events().iter().any(ends_the_job),
        )
        .await?;
        let events: Vec<HistoryEvent> = pages
            .into_iter()
            .flat_map(|p| p.events.into_iter())
            .collect();
        Ok(outcome_from_history(&events))
    }

    /// Every RUNNING execution of a state machine, across all pages.
    pub async fn running_executions(&self, state_machine_arn: &str) -> Result<Vec<String>> {
        let pages = pages(
            &self.budget,
            S,
            "ListExecutions",
            self.client
                .list_executions()
                .state_machine_arn(state_machine_arn)
                .status_filter(ExecutionStatus::Running)
                .into_paginator()
                .send(),
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.executions())
            .map(|e| e.execution_arn().to_string())
            .collect())
    }

    pub async fn stop_execution(&self, arn: &str, cause: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "StopExecution",
            self.client
                .stop_execution()
                .execution_arn(arn)
                .cause(cause)
                .send(),
        )
        .await
    }
}

/// Reads the outcome from history events (any order).
pub fn outcome_from_history(events: &[HistoryEvent]) -> ExecutionOutcome {
    let mut outcome = ExecutionOutcome::default();
    let mut events: Vec<&HistoryEvent> = events.iter().collect();
    events.sort_by_key(|e| e.id());
    for e in events {
        if let Some(d) = e.state_entered_event_details()
            && d.name().starts_with("Notify")
        {
            outcome.notify_state = Some(d.name().to_string());
        }
        if e.r#type() == &HistoryEventType::TaskSucceeded
            && let Some(d) = e.task_succeeded_event_details()
            && d.resource().starts_with("submitJob")
            && let Some(output) = d.output()
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(output)
        {
            outcome.batch_job_id = v
                .get("JobId")
                .or_else(|| v.get("jobId"))
                .and_then(|j| j.as_str())
                .map(str::to_string);
            outcome.job = Some(super::batch::JobDetails::from_sync_output(&v));
        }
        if let Some(d) = e.task_failed_event_details() {
            outcome.error = d.error().map(str::to_string);
            outcome.cause = d.cause().map(str::to_string);
            if d.resource().starts_with("submitJob")
                && let Some(cause) = d.cause()
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(cause)
            {
                outcome.batch_job_id = v
                    .get("JobId")
                    .or_else(|| v.get("jobId"))
                    .and_then(|j| j.as_str())
                    .map(str::to_string);
                outcome.job = Some(super::batch::JobDetails::from_sync_output(&v));
            }
        }
    }
    outcome
}

/// The `submitJob` task's end: succeeded, or failed (the job, or its submission).
fn ends_the_job(e: &HistoryEvent) -> bool {
    let succeeded = e
        .task_succeeded_event_details()
        .is_some_and(|d| d.resource().starts_with("submitJob"));
    let failed = e
        .task_failed_event_details()
        .is_some_and(|d| d.resource().starts_with("submitJob"));
    succeeded || failed
}

/// The job ID in a `submitJob` task's TaskSubmitted event (SubmitJob's answer).
fn submitted_job_id(events: &[HistoryEvent]) -> Option<String> {
    events.iter().find_map(|e| {
        let d = e.task_submitted_event_details()?;
        if !d.resource().starts_with("submitJob") {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(d.output()?).ok()?;
        v.get("JobId")?.as_str().map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;
    use std::time::{Duration, SystemTime};

    fn denied(message: &str) -> AwsError {
        AwsError {
            service: "sfn",
            operation: "CreateStateMachine",
            kind: ErrorKind::AccessDenied,
            code: Some("AccessDeniedException".into()),
            message: message.into(),
        }
    }

    #[test]
    fn only_the_assume_role_answer_means_propagation() {
        assert!(role_not_assumable(&denied(
            "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role."
        )));
        // A permission the operator lacks is worded "not authorized" too.
        assert!(!role_not_assumable(&denied(
            "User: arn:aws:iam::123456789012:user/op is not authorized to perform: states:CreateStateMachine on resource: arn:aws:states:us-east-1:123456789012:stateMachine:bn-x"
        )));
        assert!(!role_not_assumable(&denied(
            "User: arn:aws:iam::123456789012:user/op is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/bn-x"
        )));
    }

    fn event(id: i64, t: HistoryEventType) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .r#type(t)
            .timestamp(DateTime::from_secs(0))
    }

    /// What AWS records for a `.sync` Batch task: TaskSubmitted carries
    /// SubmitJob's answer while the job runs; the end carries the job.
    #[test]
    fn the_job_is_found_in_the_history_while_running_and_at_the_end() {
        use aws_sdk_sfn::types::{TaskSubmittedEventDetails, TaskSucceededEventDetails};
        let submitted = event(5, HistoryEventType::TaskSubmitted)
            .task_submitted_event_details(
                TaskSubmittedEventDetails::builder()
                    .resource("submitJob.sync")
                    .resource_type("batch")
                    .output(r#"{"JobArn":"arn:aws:batch:us-east-1:123456789012:job/j-1","JobId":"j-1","JobName":"x"}"#)
                    .build()
                    .expect("details"),
            )
            .build()
            .expect("event");
        assert_eq!(
            submitted_job_id(std::slice::from_ref(&submitted)).as_deref(),
            Some("j-1")
        );
        let succeeded = event(9, HistoryEventType::TaskSucceeded)
            .task_succeeded_event_details(
                TaskSucceededEventDetails::builder()
                    .resource("submitJob.sync")
                    .resource_type("batch")
                    .output(r#"{"JobId":"j-1","Status":"SUCCEEDED","StatusReason":"Essential container in task exited","Attempts":[{}],"Container":{"ExitCode":0,"LogStreamName":"d/default/t"}}"#)
                    .build()
                    .expect("details"),
            )
            .build()
            .expect("event");
        let outcome = outcome_from_history(&[submitted, succeeded]);
        assert_eq!(outcome.batch_job_id.as_deref(), Some("j-1"));
        let job = outcome.job.expect("job");
        assert_eq!(job.status.as_deref(), Some("SUCCEEDED"));
        assert_eq!((job.exit_code, job.attempts), (Some(0), Some(1)));
        assert_eq!(job.log_stream_name.as_deref(), Some("d/default/t"));
    }

    #[test]
    fn a_machine_older_than_the_request_was_not_created_by_it() {
        let asked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |secs: u64| DateTime::from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert!(created_before(&at(1_000_000 - 3600), asked));
        // Within the clock skew either way: taken as made by this request.
        assert!(!created_before(&at(1_000_000 - 10), asked));
        assert!(!created_before(&at(1_000_000 + 10), asked));
    }
}
