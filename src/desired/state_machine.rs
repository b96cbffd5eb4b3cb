//! The state machine definition: the AWS sample "Manage a Batch Job", with the job, the
//! queue, the job definition, the topic, the messages and the timeout filled in.

use serde_json::{Value, json};

use super::arns::Partition;
use crate::api::BatchNotificationSpec;

/// The task state that submits the Batch job and waits for it (`submitJob.sync`).
pub const SUBMIT_STATE: &str = "Submit Batch Job";
/// The state that publishes the success message; an execution that ran it had a job that
/// succeeded.
pub const NOTIFY_SUCCESS_STATE: &str = "Notify Success";
/// The state that publishes the failure message (reached through the `States.ALL` catch).
pub const NOTIFY_FAILURE_STATE: &str = "Notify Failure";
/// The sample's comment, kept so the definition is recognisably the sample's.
pub const COMMENT: &str =
    "An example of the Amazon States Language for notification on an AWS Batch job completion";

/// What the definition is built from. ARNs are used as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionInputs<'a> {
    /// The partition of the state machine's region (the service integrations' ARNs use it).
    pub partition: Partition,
    /// `SubmitJob`'s `JobName`.
    pub job_name: &'a str,
    /// The job queue ARN.
    pub job_queue_arn: &'a str,
    /// The job definition ARN, with its revision if it has one.
    pub job_definition_arn: &'a str,
    /// The topic ARN.
    pub topic_arn: &'a str,
    /// Published when the job succeeded.
    pub success_message: &'a str,
    /// Published when the job failed.
    pub failure_message: &'a str,
    /// The whole execution's `TimeoutSeconds`.
    pub timeout_seconds: u32,
}

impl<'a> DefinitionInputs<'a> {
    /// The inputs for `spec` once its ARNs are resolved; the spec's defaults apply.
    pub fn from_spec(
        spec: &'a BatchNotificationSpec,
        partition: Partition,
        job_queue_arn: &'a str,
        job_definition_arn: &'a str,
        topic_arn: &'a str,
    ) -> Self {
        DefinitionInputs {
            partition,
            job_name: spec.job_name(),
            job_queue_arn,
            job_definition_arn,
            topic_arn,
            success_message: spec.success_message(),
            failure_message: spec.failure_message(),
            timeout_seconds: spec.timeout_seconds(),
        }
    }
}

/// The Amazon States Language definition, as a JSON value (serialise it for
/// `CreateStateMachine`; compare it with [`super::documents_equal`]).
pub fn state_machine_definition(inputs: &DefinitionInputs<'_>) -> Value {
    let p = inputs.partition.as_str();
    let notify = |message: &str| {
        json!({
            "Type": "Task",
            "Resource": format!("arn:{p}:states:::sns:publish"),
            "Parameters": {
                "Message": message,
                "TopicArn": inputs.topic_arn,
            },
            "End": true,
        })
    };
    json!({
        "Comment": COMMENT,
        "StartAt": SUBMIT_STATE,
        "TimeoutSeconds": inputs.timeout_seconds,
        "States": {
            SUBMIT_STATE: {
                "Type": "Task",
                "Resource": format!("arn:{p}:states:::batch:submitJob.sync"),
                "Parameters": {
                    "JobName": inputs.job_name,
                    "JobQueue": inputs.job_queue_arn,
                    "JobDefinition": inputs.job_definition_arn,
                },
                "Next": NOTIFY_SUCCESS_STATE,
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Next": NOTIFY_FAILURE_STATE,
                    }
                ],
            },
            NOTIFY_SUCCESS_STATE: notify(inputs.success_message),
            NOTIFY_FAILURE_STATE: notify(inputs.failure_message),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DEFAULT_FAILURE_MESSAGE, DEFAULT_JOB_NAME, DEFAULT_SUCCESS_MESSAGE};
    use crate::desired::documents::documents_equal;

    const SEED: &str = include_str!("../../tests/fixtures/seed/state_machine.json");
    const QUEUE: &str =
        "arn:aws:batch:us-east-1:123456789012:job-queue/BatchJobQueue-7049d367474b4dd";
    const JOB_DEFINITION: &str =
        "arn:aws:batch:us-east-1:123456789012:job-definition/BatchJobDefinition-74d55ec34c4643c:1";
    const TOPIC: &str =
        "arn:aws:sns:us-east-1:123456789012:batchjobnotificatiointemplate-SNSTopic-1J757CVBQ2KHM";

    fn sample_inputs() -> DefinitionInputs<'static> {
        DefinitionInputs {
            partition: Partition::Aws,
            job_name: DEFAULT_JOB_NAME,
            job_queue_arn: QUEUE,
            job_definition_arn: JOB_DEFINITION,
            topic_arn: TOPIC,
            success_message: DEFAULT_SUCCESS_MESSAGE,
            failure_message: DEFAULT_FAILURE_MESSAGE,
            timeout_seconds: 3600,
        }
    }

    #[test]
    fn golden_equals_the_seed_definition() {
        let seed: Value = serde_json::from_str(SEED).unwrap();
        let ours = state_machine_definition(&sample_inputs());
        assert_eq!(ours, seed);
        assert!(documents_equal(&ours, &seed));
    }

    #[test]
    fn spec_defaults_give_the_seed_definition() {
        let spec: BatchNotificationSpec = serde_json::from_value(json!({
            "jobQueue": {"arn": QUEUE},
            "jobDefinition": {"arn": JOB_DEFINITION},
            "topic": {"arn": TOPIC},
        }))
        .unwrap();
        let inputs =
            DefinitionInputs::from_spec(&spec, Partition::Aws, QUEUE, JOB_DEFINITION, TOPIC);
        assert_eq!(inputs, sample_inputs());
        let seed: Value = serde_json::from_str(SEED).unwrap();
        assert_eq!(state_machine_definition(&inputs), seed);
    }

    #[test]
    fn inputs_are_substituted() {
        let inputs = DefinitionInputs {
            partition: Partition::AwsCn,
            job_name: "nightly",
            job_queue_arn: "arn:aws-cn:batch:cn-north-1:123456789012:job-queue/q",
            job_definition_arn: "arn:aws-cn:batch:cn-north-1:123456789012:job-definition/d",
            topic_arn: "arn:aws-cn:sns:cn-north-1:123456789012:t",
            success_message: "ok \"quoted\" ✓",
            failure_message: "not ok",
            timeout_seconds: 60,
        };
        let d = state_machine_definition(&inputs);
        assert_eq!(d["TimeoutSeconds"], 60);
        let submit = &d["States"][SUBMIT_STATE];
        assert_eq!(
            submit["Resource"],
            "arn:aws-cn:states:::batch:submitJob.sync"
        );
        assert_eq!(submit["Parameters"]["JobName"], "nightly");
        assert_eq!(submit["Parameters"]["JobQueue"], inputs.job_queue_arn);
        assert_eq!(
            submit["Parameters"]["JobDefinition"],
            inputs.job_definition_arn
        );
        let success = &d["States"][NOTIFY_SUCCESS_STATE];
        assert_eq!(success["Resource"], "arn:aws-cn:states:::sns:publish");
        assert_eq!(success["Parameters"]["Message"], "ok \"quoted\" ✓");
        assert_eq!(
            d["States"][NOTIFY_FAILURE_STATE]["Parameters"]["Message"],
            "not ok"
        );
        assert_eq!(
            d["States"][NOTIFY_FAILURE_STATE]["Parameters"]["TopicArn"],
            inputs.topic_arn
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn definition_round_trips_through_a_string(
                job_name in ".{0,200}",
                arn in ".{0,300}",
                success in ".{0,2000}",
                failure in "\\PC{0,2000}",
                timeout in any::<u32>(),
            ) {
                let inputs = DefinitionInputs {
                    partition: Partition::Aws,
                    job_name: &job_name,
                    job_queue_arn: &arn,
                    job_definition_arn: &arn,
                    topic_arn: &arn,
                    success_message: &success,
                    failure_message: &failure,
                    timeout_seconds: timeout,
                };
                let definition = state_machine_definition(&inputs);
                let text = serde_json::to_string(&definition).unwrap();
                let back: Value = serde_json::from_str(&text).unwrap();
                prop_assert!(documents_equal(&definition, &back));
                prop_assert_eq!(&back["States"][NOTIFY_SUCCESS_STATE]["Parameters"]["Message"], &json!(success));
            }
        }
    }
}
