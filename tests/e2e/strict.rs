//! Issue #12: the operator against AWS as AWS behaves — the strict emulator
//! enforces the operator's own IAM policy, makes new roles wait before Step
//! Functions may assume them, pages every list, and keeps Batch jobs RUNNABLE
//! when asked. Each test is a case a real account meets on a first apply.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use aws_sdk_sfn::types::ExecutionStatus;

use crate::support::{
    Ctx, HOLD_MARKER, Operator, Principal, batch_stack, emulator_requests, example,
    execution_names, operator_policy, policy_without,
};

/// An object over a queue and job definition made by hand (cheap: the
/// operator creates only the topic, the role and the state machine).
async fn over_existing(ctx: &Ctx, job_definition: &str) -> Value {
    let (queue, def) = batch_stack(&ctx.aws, &ctx.prefix, job_definition).await;
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!("strict");
    obj["spec"]["jobQueue"] = json!({"arn": queue});
    obj["spec"]["jobDefinition"] = json!({"arn": def});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["deletionPolicy"] = json!("Delete");
    obj["spec"]["run"] = Value::Null;
    obj
}

fn reason(o: &batchnotify::api::BatchNotification, type_: &str) -> Option<(String, String)> {
    Ctx::condition(o, type_).map(|(_, reason, message)| (reason, message))
}

/// The operator without `states:CreateStateMachine` reports AwsAccessDenied
/// naming the action (not "propagating"), and becomes Ready by itself once
/// the permission is granted.
#[tokio::test]
async fn a_missing_permission_is_access_denied_naming_it_then_ready_once_granted() {
    let ctx = Ctx::new("strict-denied").await;
    let narrowed = policy_without(&operator_policy(), "states:CreateStateMachine");
    let principal = Principal::create(&format!("op-{}", ctx.ns), &narrowed);
    let op = Operator::start_as(&ctx.ns, principal, &[], &[]);
    let obj = over_existing(&ctx, "denied").await;
    ctx.apply(&obj).await;
    let seen = ctx
        .wait(
            "strict",
            "Ready=False AwsAccessDenied",
            Duration::from_secs(60),
            |o| reason(o, "Ready").is_some_and(|(r, _)| r == "AwsAccessDenied"),
        )
        .await;
    let (_, message) = reason(&seen, "Ready").expect("Ready");
    assert!(
        message.contains("states:CreateStateMachine"),
        "the message names the action: {message}"
    );
    assert_eq!(
        Ctx::condition(&seen, "Stalled").map(|c| c.0).as_deref(),
        Some("True"),
        "a human must grant it"
    );
    // The denial is never taken for IAM propagation (the new role's own
    // wait before the first CreateStateMachine is not about the denial).
    let logs = op.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("RolePropagating") && l.contains("not authorized")),
        "{logs}"
    );

    op.set_policy(&operator_policy()).await;
    ctx.wait(
        "strict",
        "Ready=True once granted",
        Duration::from_secs(90),
        |o| Ctx::condition(o, "Ready").is_some_and(|c| c.0 == "True"),
    )
    .await;
}

/// A role Step Functions cannot assume yet (IAM is eventually consistent)
/// is reported as RolePropagating, and the object is Ready once it can.
/// The state machine is created only after the new role had time to
/// propagate: no CreateStateMachine (the account's scarcest bucket) is spent
/// on a refusal the emulator, like AWS, would give at once.
#[tokio::test]
async fn a_role_still_propagating_is_role_propagating_then_ready() {
    let ctx = Ctx::new("strict-propagating").await;
    let op = ctx.operator(&[]);
    let obj = over_existing(&ctx, "propagating").await;
    ctx.apply(&obj).await;
    ctx.wait_ready("strict").await;
    let logs = op.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("RolePropagating") && l.contains("was just created")),
        "the new role was given time to propagate: {logs}"
    );
    // A routine wait is no Event: the clean creation is one Normal Event,
    // naming everything it created over its two passes.
    let events = ctx.events_about("strict").await;
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("Normal".to_string(), "Created".to_string())],
        "{events:?}"
    );
    let note = events[0].note.clone().unwrap_or_default();
    for kind in ["SNS topic", "IAM role", "state machine"] {
        assert!(note.contains(kind), "{note}");
    }
    // The retry starts where the first pass stopped: the topic and role it
    // had just made are not read back, and one CreateStateMachine does.
    let calls = emulator_requests(&op.access_key);
    assert_eq!(
        calls.get("states:CreateStateMachine"),
        Some(&1),
        "{calls:?}"
    );
    for read in ["iam:GetRole", "iam:GetRolePolicy", "sns:GetTopicAttributes"] {
        assert_eq!(calls.get(read), None, "{read} on a retry: {calls:?}");
    }
}

/// A job that never leaves RUNNABLE (no capacity): the run is shown running,
/// with its execution, and is not lost or marked finished.
#[tokio::test]
async fn a_job_held_runnable_is_shown_running_never_lost() {
    let ctx = Ctx::new("strict-held").await;
    let op = ctx.operator(&[]);
    let mut obj = over_existing(&ctx, &format!("job-{HOLD_MARKER}")).await;
    obj["spec"]["run"] = json!({"trigger": "1"});
    ctx.apply(&obj).await;
    let started = ctx
        .wait("strict", "the run started", Duration::from_secs(60), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_run.as_ref())
                .is_some_and(|r| !r.execution_arn.is_empty())
        })
        .await;
    let execution = started
        .status
        .and_then(|s| s.last_run)
        .map(|r| r.execution_arn)
        .expect("execution");
    // Past several polls of the execution (each a reconcile): still
    // running, in AWS and in status.
    let polled = op.reconciles();
    op.reconciled_beyond(polled + 4).await;
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let described = sfn
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect("describe execution");
    assert_eq!(described.status().as_str(), "RUNNING");
    let now = ctx.api().get("strict").await.expect("object");
    let run = now
        .status
        .as_ref()
        .and_then(|s| s.last_run.clone())
        .expect("last run");
    assert_eq!(run.execution_arn, execution);
    assert!(run.outcome.is_none(), "a held job is not finished: {run:?}");
    assert!(
        now.status.as_ref().is_some_and(|s| !s.runs.is_empty()),
        "the run is kept in status.runs"
    );
}

/// More running executions than one ListExecutions page (the strict
/// emulator pages by 2): `concurrencyPolicy: Replace` stops them all before
/// the scheduled run starts.
#[tokio::test]
async fn replace_stops_every_running_execution_across_pages() {
    let ctx = Ctx::new("strict-replace").await;
    let _op = ctx.operator(&[]);
    let mut obj = over_existing(&ctx, &format!("job-{HOLD_MARKER}")).await;
    obj["spec"]["run"] = json!({"trigger": "1", "concurrencyPolicy": "Allow"});
    ctx.apply(&obj).await;
    // One trigger value at a time: the operator starts the current value's run,
    // so the next value goes in only once the previous run has started.
    for (previous, trigger) in [("1", "2"), ("2", "3")] {
        ctx.wait(
            "strict",
            "the previous trigger's run started",
            Duration::from_secs(60),
            |o| {
                o.status.as_ref().is_some_and(|s| {
                    s.last_trigger.as_deref() == Some(previous)
                        && s.last_run
                            .as_ref()
                            .is_some_and(|r| !r.execution_arn.is_empty())
                })
            },
        )
        .await;
        let patch = json!({"spec": {"run": {"trigger": trigger}}});
        ctx.api()
            .patch("strict", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("new trigger");
    }
    let obj = ctx
        .wait(
            "strict",
            "three runs started",
            Duration::from_secs(60),
            |o| o.status.as_ref().is_some_and(|s| s.runs.len() == 3),
        )
        .await;
    let machine = obj
        .status
        .as_ref()
        .and_then(|s| s.state_machine_arn.clone())
        .expect("state machine");
    let running = || execution_names(&ctx.aws, &machine, Some(ExecutionStatus::Running));
    assert_eq!(running().await.len(), 3);

    let patch = json!({"spec": {"run": {"schedule": "* * * * *", "concurrencyPolicy": "Replace"}}});
    ctx.api()
        .patch("strict", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("schedule with Replace");
    let scheduled = ctx
        .wait(
            "strict",
            "the scheduled run started",
            Duration::from_secs(150),
            |o| {
                o.status.as_ref().is_some_and(|s| {
                    s.last_run
                        .as_ref()
                        .is_some_and(|r| r.scheduled_time.is_some() && !r.execution_arn.is_empty())
                })
            },
        )
        .await;
    let newest = scheduled
        .status
        .and_then(|s| s.last_run)
        .map(|r| r.execution_arn)
        .expect("scheduled run");
    let still = running().await;
    assert_eq!(
        still,
        [newest.rsplit(':').next().unwrap_or_default().to_string()],
        "only the scheduled run runs; the three earlier ones were stopped"
    );
    assert!(obj.name_any() == "strict");
}
