//! What the operator observed: `BatchNotification.status`. Written only by
//! the operator (server-side apply on the status subresource).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::unwrap_descriptions)]
pub struct BatchNotificationStatus {
    /// The metadata.generation the status describes; older than metadata.generation while a
    /// change of the spec is being applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state: `Ready` (the AWS resources match the spec), `Reconciling` (a change is
    /// being applied), `Stalled` (it cannot proceed without a change from you; the message
    /// says why), `RunSucceeded` (whether the most recent finished run's job succeeded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The AWS region the resources live in (spec.region or the operator's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// The AWS account the resources live in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,

    /// The AccessGrant that applies to this object's namespace and the role assumed under
    /// it; absent when no grant does and the operator's own identity is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<super::AccessStatus>,

    /// Message fields published as written, braces and all: texts stored before placeholders
    /// existed (0.2) that today's rule refuses. Edit the field to opt into placeholders (write
    /// `{{` or `}}` for a literal brace); an edit must then satisfy the rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub literal_messages: Vec<String>,

    /// ARN of the Step Functions state machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine_arn: Option<String>,

    /// ARN of the IAM role the state machine runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,

    /// ARN of the task execution role the operator created (`managedExecutionRole: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,

    /// ARN of the SNS topic notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,

    /// ARN of the Batch job queue jobs are submitted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_queue_arn: Option<String>,

    /// ARN of the Batch job definition run, with its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_definition_arn: Option<String>,

    /// ARN of the compute environment of a managed job queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_environment_arn: Option<String>,

    /// The subscriptions of a managed topic and whether they are confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionStatus>,

    /// The most recent run (also the first entry of runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunStatus>,

    /// Recent runs, newest first, at most spec.run.historyLimit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunStatus>,

    /// When the schedule next starts a run (RFC 3339, UTC); absent without a schedule or
    /// while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub next_scheduled_run: Option<String>,

    /// How many runs this object has started (triggered and scheduled): the next run's
    /// sequence number is one more. Written with the run's record, so a crash before the
    /// write starts the same execution again (its name carries the number), never a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_sequence: Option<u64>,

    /// The last `spec.run.trigger` value a run was started for. A run starts when
    /// `spec.run.trigger` differs from it, so re-applying the same manifest starts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger: Option<String>,

    /// The last scheduled time (RFC 3339, UTC) the schedule was handled for, whether its
    /// run started or was skipped (concurrencyPolicy Forbid, missed deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_schedule_time: Option<String>,
}

/// One subscription of a managed topic, as SNS reports it.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    /// The subscription's protocol, for example `email`.
    pub protocol: String,
    /// The subscription's endpoint, for example an email address.
    pub endpoint: String,
    /// `Confirmed`, or `PendingConfirmation` until the endpoint's owner confirms it.
    pub state: String,
}

/// One run: a Step Functions execution of the state machine.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    /// The execution's name, derived from the object's UID, the run's sequence number and
    /// the trigger, or from the scheduled time.
    pub name: String,

    /// The run's sequence number among this object's runs (1 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,

    /// The execution's ARN.
    pub execution_arn: String,

    /// The spec.run.trigger value that started the run, for a triggered run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,

    /// The schedule time the run is for (RFC 3339, UTC), for a scheduled run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub scheduled_time: Option<String>,

    /// The execution's status in Step Functions: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or
    /// ABORTED. SUCCEEDED only means a notification was sent; see outcome.
    pub status: String,

    /// Whether the Batch job succeeded (the success notification was sent) or failed (the
    /// failure notification was sent, or the run ended without one). Absent while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,

    /// ID of the Batch job the run submitted, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_job_id: Option<String>,

    /// The Batch job's status: SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING while the run
    /// goes (RUNNABLE for long means no capacity can place it), SUCCEEDED or FAILED once it
    /// ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,

    /// Since when the job has had jobStatus, as first seen by the operator (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub job_status_since: Option<String>,

    /// The Batch job's status reason, e.g. "Essential container in task exited".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status_reason: Option<String>,

    /// The job's container exit code, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,

    /// How many times Batch tried the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,

    /// The job's CloudWatch Logs stream (in the log group /aws/batch/job by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,

    /// The spec.run.parameters the run was started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<std::collections::BTreeMap<String, String>>,

    /// When the execution started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub start_time: Option<String>,

    /// When the execution ended (RFC 3339); absent while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub stop_time: Option<String>,

    /// The error the execution or the Batch job failed with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,

    /// The cause given with error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

// Whether a finished run's Batch job succeeded. (A plain comment: a doc comment here would
// replace the `outcome` field's description in the CRD.)
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq)]
pub enum RunOutcome {
    /// The job succeeded and the success notification was published.
    Succeeded,
    /// The job failed or the run ended otherwise.
    Failed,
}

/// The Step Functions execution statuses, as [`RunStatus::status`] holds them.
pub mod execution_status {
    /// Still going.
    pub const RUNNING: &str = "RUNNING";
    /// Ended in a notification (of success or of failure: see `outcome`).
    pub const SUCCEEDED: &str = "SUCCEEDED";
    /// Ended without a notification.
    pub const FAILED: &str = "FAILED";
    /// Exceeded spec.timeoutSeconds.
    pub const TIMED_OUT: &str = "TIMED_OUT";
    /// Stopped (by the Replace policy, or by hand).
    pub const ABORTED: &str = "ABORTED";
}

impl RunStatus {
    /// Whether the execution has ended.
    pub fn is_finished(&self) -> bool {
        self.status != execution_status::RUNNING
    }
}
