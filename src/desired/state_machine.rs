//! The state machine definition: the AWS sample "Manage a Batch Job", with the job, the
//! queue, the job definition, the topic, the messages and the timeout filled in.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::arns::Partition;
use super::messages::{self, Segment, TemplateError};
use crate::api::{BatchNotificationSpec, MessageFormat};

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
    /// Published when the job succeeded, as SNS receives it (used when the
    /// messages name no field of the run).
    pub success_message: Cow<'a, str>,
    /// Published when the job failed, as SNS receives it.
    pub failure_message: Cow<'a, str>,
    /// The whole execution's `TimeoutSeconds`.
    pub timeout_seconds: u32,
    /// What the runs add: per-run parameters, messages with context.
    pub run: RunInputs,
}

/// What runs add to the sample's definition. The default adds nothing: the
/// definition is then the seed's, byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunInputs {
    /// Pass the execution input's `parameters` to SubmitJob (`spec.run.parameters`).
    pub parameters: bool,
    /// Render the messages from the run's context.
    pub context: Option<ContextInputs>,
    /// The message fields published as written, braces and all: stored
    /// before placeholders existed, refused by the parser (see
    /// [`messages::compile`]).
    pub literal: Vec<MessageError>,
}

/// What the messages with context are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextInputs {
    pub region: String,
    pub namespace: String,
    pub name: String,
    pub format: MessageFormat,
    pub success: Vec<Segment>,
    pub failure: Vec<Segment>,
}

/// Why the messages cannot be compiled, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct MessageError {
    pub field: &'static str,
    pub error: TemplateError,
}

impl RunInputs {
    /// From the spec: context only when a message names a field of the run
    /// or the format is Json; parameters only when the spec has some.
    pub fn from_spec(
        spec: &BatchNotificationSpec,
        region: &str,
        namespace: &str,
        name: &str,
    ) -> Result<RunInputs, MessageError> {
        let mut literal = Vec::new();
        let mut compile = |field, text| match messages::compile(text) {
            Ok(compiled) => {
                if let Some(error) = compiled.literal {
                    literal.push(MessageError { field, error });
                }
                Ok(compiled.segments)
            }
            Err(error) => Err(MessageError { field, error }),
        };
        let success = compile("spec.messages.success", spec.success_message())?;
        let failure = compile("spec.messages.failure", spec.failure_message())?;
        let format = spec.message_format();
        let context = (format == MessageFormat::Json
            || messages::has_placeholders(&success)
            || messages::has_placeholders(&failure))
        .then(|| ContextInputs {
            region: region.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            format,
            success,
            failure,
        });
        Ok(RunInputs {
            parameters: spec
                .run
                .as_ref()
                .is_some_and(|r| r.parameters.as_ref().is_some_and(|p| !p.is_empty())),
            context,
            literal,
        })
    }
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
            success_message: messages::plain_text(spec.success_message()),
            failure_message: messages::plain_text(spec.failure_message()),
            timeout_seconds: spec.timeout_seconds(),
            run: RunInputs::default(),
        }
    }
}

/// The Amazon States Language definition, as a JSON value (serialise it for
/// `CreateStateMachine`; compare it with [`super::documents_equal`]).
pub fn state_machine_definition(inputs: &DefinitionInputs<'_>) -> Value {
    let p = inputs.partition.as_str();
    let mut submit_parameters = json!({
        "JobName": inputs.job_name,
        "JobQueue": inputs.job_queue_arn,
        "JobDefinition": inputs.job_definition_arn,
    });
    if inputs.run.parameters {
        submit_parameters["Parameters.$"] = json!("$.parameters");
    }
    if let Some(context) = &inputs.run.context {
        return with_context(inputs, context, submit_parameters);
    }
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
                "Parameters": submit_parameters,
                "Next": NOTIFY_SUCCESS_STATE,
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Next": NOTIFY_FAILURE_STATE,
                    }
                ],
            },
            NOTIFY_SUCCESS_STATE: notify(&inputs.success_message),
            NOTIFY_FAILURE_STATE: notify(&inputs.failure_message),
        },
    })
}

/// The AWS console's address in a partition.
fn console(partition: Partition, region: &str) -> String {
    match partition {
        Partition::Aws => format!("https://{region}.console.aws.amazon.com"),
        Partition::AwsCn => format!("https://{region}.console.amazonaws.cn"),
        Partition::AwsUsGov => format!("https://{region}.console.amazonaws-us-gov.com"),
    }
}

/// The sample with messages rendered from the run's context. The job's
/// description (what `submitJob.sync` returns, or the failed job in the
/// Catch's `Cause`) is merged over defaults, so a field AWS leaves out (no
/// exit code for a job that never started) renders `null` instead of failing
/// the execution; a Cause that is not a job (a refused submission) becomes
/// the status reason. Pass states pick the fields, `States.Format` (or
/// `States.JsonToString`) renders, as the intrinsic functions page allows:
/// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
fn with_context(
    inputs: &DefinitionInputs<'_>,
    context: &ContextInputs,
    submit_parameters: Value,
) -> Value {
    let p = inputs.partition.as_str();
    let console = console(inputs.partition, &context.region);
    let region = &context.region;
    let message = |segments: &[Segment]| match context.format {
        MessageFormat::Json => "States.JsonToString($.context)".to_string(),
        MessageFormat::Text => messages::format_call(segments, "$.context"),
    };
    let notify = |segments: &[Segment]| {
        json!({
            "Type": "Task",
            "Resource": format!("arn:{p}:states:::sns:publish"),
            "Parameters": {
                "Message.$": message(segments),
                "TopicArn": inputs.topic_arn,
            },
            "End": true,
        })
    };
    // The chain from a job description at $.job to the publishing state.
    let chain = |prefix: &str, error: Value, next: &str| {
        let defaults = format!("{prefix} Defaults");
        let fill = format!("{prefix} Fill");
        let fill_container = format!("{prefix} Fill Container");
        let build = format!("{prefix} Context");
        let mut fields = json!({
            "jobId.$": "$.filled.Job.JobId",
            "jobName.$": "$.filled.Job.JobName",
            "status.$": "$.filled.Job.Status",
            "statusReason.$": "$.filled.Job.StatusReason",
            "exitCode.$": "$.filledContainer.Container.ExitCode",
            "logStreamName.$": "$.filledContainer.Container.LogStreamName",
            "attempts.$": "States.ArrayLength($.filled.Job.Attempts)",
            "jobUrl.$": format!(
                "States.Format('{console}/batch/home?region={region}#jobs/detail/{{}}', $.filled.Job.JobId)"
            ),
            "executionUrl.$": format!(
                "States.Format('{console}/states/home?region={region}#/v2/executions/details/{{}}', $$.Execution.Id)"
            ),
            "executionName.$": "$$.Execution.Name",
            "namespace": context.namespace,
            "name": context.name,
            "trigger.$": "$.trigger",
            "scheduledTime.$": "$.scheduledTime",
        });
        match error {
            Value::String(path) => fields["error.$"] = json!(path),
            other => fields["error"] = other,
        }
        vec![
            (
                defaults.clone(),
                json!({
                    "Type": "Pass",
                    "Parameters": {
                        "Job": {
                            "JobId": null, "JobName": inputs.job_name, "Status": null,
                            "StatusReason": null, "Attempts": [], "Container": {},
                        },
                        "Container": {"ExitCode": null, "LogStreamName": null},
                    },
                    "ResultPath": "$.defaults",
                    "Next": fill,
                }),
            ),
            (
                fill.clone(),
                json!({
                    "Type": "Pass",
                    "Parameters": {"Job.$": "States.JsonMerge($.defaults.Job, $.job, false)"},
                    "ResultPath": "$.filled",
                    "Next": fill_container,
                }),
            ),
            (
                fill_container,
                json!({
                    "Type": "Pass",
                    "Parameters": {
                        "Container.$": "States.JsonMerge($.defaults.Container, $.filled.Job.Container, false)"
                    },
                    "ResultPath": "$.filledContainer",
                    "Next": build,
                }),
            ),
            (
                build,
                json!({
                    "Type": "Pass",
                    "Parameters": fields,
                    "ResultPath": "$.context",
                    "Next": next,
                }),
            ),
        ]
    };
    let mut states = serde_json::Map::new();
    states.insert(
        SUBMIT_STATE.into(),
        json!({
            "Type": "Task",
            "Resource": format!("arn:{p}:states:::batch:submitJob.sync"),
            "Parameters": submit_parameters,
            "ResultPath": "$.job",
            "Next": "Success Defaults",
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": "Job Failed?",
                }
            ],
        }),
    );
    for (name, state) in chain("Success", Value::Null, NOTIFY_SUCCESS_STATE) {
        states.insert(name, state);
    }
    states.insert(NOTIFY_SUCCESS_STATE.into(), notify(&context.success));
    // A failed job's Cause is its description as JSON; any other error's
    // (a refused submission, a timeout) is text.
    states.insert(
        "Job Failed?".into(),
        json!({
            "Type": "Choice",
            "Choices": [{
                "And": [
                    {"Variable": "$.error.Error", "StringEquals": "States.TaskFailed"},
                    {"Variable": "$.error.Cause", "StringMatches": "{*"},
                ],
                "Next": "Parse Cause",
            }],
            "Default": "Cause As Reason",
        }),
    );
    states.insert(
        "Parse Cause".into(),
        json!({
            "Type": "Pass",
            "Parameters": {"Job.$": "States.StringToJson($.error.Cause)"},
            "ResultPath": "$.parsed",
            "Next": "Parsed Job",
        }),
    );
    states.insert(
        "Parsed Job".into(),
        json!({
            "Type": "Pass",
            "InputPath": "$.parsed.Job",
            "ResultPath": "$.job",
            "Next": "Failure Defaults",
        }),
    );
    states.insert(
        "Cause As Reason".into(),
        json!({
            "Type": "Pass",
            "Parameters": {"StatusReason.$": "$.error.Cause"},
            "ResultPath": "$.job",
            "Next": "Failure Defaults",
        }),
    );
    for (name, state) in chain("Failure", json!("$.error.Error"), NOTIFY_FAILURE_STATE) {
        states.insert(name, state);
    }
    states.insert(NOTIFY_FAILURE_STATE.into(), notify(&context.failure));
    json!({
        "Comment": COMMENT,
        "StartAt": SUBMIT_STATE,
        "TimeoutSeconds": inputs.timeout_seconds,
        "States": states,
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
            success_message: DEFAULT_SUCCESS_MESSAGE.into(),
            failure_message: DEFAULT_FAILURE_MESSAGE.into(),
            timeout_seconds: 3600,
            run: RunInputs::default(),
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
            success_message: "ok \"quoted\" ✓".into(),
            failure_message: "not ok".into(),
            timeout_seconds: 60,
            run: RunInputs::default(),
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
                    success_message: success.as_str().into(),
                    failure_message: failure.as_str().into(),
                    timeout_seconds: timeout,
                    run: RunInputs::default(),
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
