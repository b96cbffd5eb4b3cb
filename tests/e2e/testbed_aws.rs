//! The emulator is real enough: the seed's stack, built by hand with the Rust
//! SDKs, runs both paths and delivers both notifications.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use crate::support::{Ctx, FAIL_MARKER, batch_stack, eventually};

const SUCCESS: &str = "Batch job submitted through Step Functions succeeded";
const FAILURE: &str = "Batch job submitted through Step Functions failed";

pub struct SeedStack {
    pub state_machine: String,
    pub queue_url: String,
    pub queue: String,
    pub job_definition: String,
    pub topic: String,
}

/// A queue, job definition and topic that exist before any BatchNotification.
pub async fn existing_stack(ctx: &Ctx) -> SeedStack {
    seed_stack(ctx, "existing").await
}

/// The seed's stack: UNMANAGED compute environment, queue, job definition,
/// topic with an SQS subscriber, role, and the seed's state machine.
pub async fn seed_stack(ctx: &Ctx, job_definition: &str) -> SeedStack {
    let p = &ctx.prefix;
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);

    let (queue, job_definition) = batch_stack(&ctx.aws, p, job_definition).await;

    let topic = sns
        .create_topic()
        .name(format!("{p}-topic"))
        .send()
        .await
        .expect("create topic");
    let topic_arn = topic.topic_arn().unwrap_or_default().to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{p}-subscriber"))
        .send()
        .await
        .expect("create sqs queue")
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("sqs attributes");
    let queue_arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");

    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]});
    let sfn_role = iam
        .create_role()
        .role_name(format!("{p}-states"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create states role");
    let definition = json!({
        "Comment": "An example of the Amazon States Language for notification on an AWS Batch job completion",
        "StartAt": "Submit Batch Job",
        "TimeoutSeconds": 3600,
        "States": {
            "Submit Batch Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobName": "BatchJobNotification",
                    "JobQueue": queue,
                    "JobDefinition": job_definition
                },
                "Next": "Notify Success",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify Failure"}]
            },
            "Notify Success": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": SUCCESS, "TopicArn": topic_arn},
                "End": true
            },
            "Notify Failure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": FAILURE, "TopicArn": topic_arn},
                "End": true
            }
        }
    });
    let role_arn = sfn_role.role().map(|r| r.arn()).unwrap_or_default();
    let machine = crate::support::while_role_propagates("create state machine", || {
        sfn.create_state_machine()
            .name(format!("{p}-machine"))
            .definition(definition.to_string())
            .role_arn(role_arn)
            .send()
    })
    .await;
    SeedStack {
        state_machine: machine.state_machine_arn().to_string(),
        queue_url,
        queue,
        job_definition,
        topic: topic_arn,
    }
}

/// Starts a named execution and waits for it to end; returns the entered states.
async fn run(ctx: &Ctx, stack: &SeedStack, name: &str) -> Vec<String> {
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let started = sfn
        .start_execution()
        .state_machine_arn(&stack.state_machine)
        .name(name)
        .send()
        .await
        .expect("start execution");
    let arn = started.execution_arn().to_string();
    assert!(arn.ends_with(&format!(":{name}")), "{arn}");
    let status = eventually("the execution to end", Duration::from_secs(30), || async {
        let d = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .ok()?;
        (d.status() != &ExecutionStatus::Running).then(|| d.status().clone())
    })
    .await;
    // The Catch handles a failed job, so the execution succeeds either way.
    assert_eq!(status, ExecutionStatus::Succeeded);
    // Every page: AWS (and the strict emulator) pages the history.
    let mut entered = Vec::new();
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(&arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("history");
        entered.extend(
            page.events()
                .iter()
                .filter_map(HistoryEvent::state_entered_event_details)
                .map(|d| d.name().to_string()),
        );
    }
    entered
}

async fn received(ctx: &Ctx, stack: &SeedStack) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let out = sqs
        .receive_message()
        .queue_url(&stack.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    out.messages()
        .iter()
        .filter_map(|m| m.body().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn seed_stack_success_path_notifies_success() {
    let ctx = Ctx::new("testbed-aws-success").await;
    let stack = seed_stack(&ctx, "report").await;
    let states = run(&ctx, &stack, "success-1").await;
    assert_eq!(states, ["Submit Batch Job", "Notify Success"]);
    assert_eq!(received(&ctx, &stack).await, [SUCCESS]);
}

#[tokio::test]
async fn seed_stack_failure_path_notifies_failure() {
    let ctx = Ctx::new("testbed-aws-failure").await;
    let stack = seed_stack(&ctx, FAIL_MARKER).await;
    let states = run(&ctx, &stack, "failure-1").await;
    assert_eq!(states, ["Submit Batch Job", "Notify Failure"]);
    assert_eq!(received(&ctx, &stack).await, [FAILURE]);
}
