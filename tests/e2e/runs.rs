//! Issue #6: executions start exactly once, are followed, and their results
//! land in status — with the notifications delivered.

use std::time::Duration;

use batchnotify::api::BatchNotification;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::support::{Ctx, FAIL_MARKER, emulator_requests, example, subscriber};
use crate::testbed_aws::seed_stack;

const SUCCESS: &str = "Batch job submitted through Step Functions succeeded";
const FAILURE: &str = "Batch job submitted through Step Functions failed";

/// The notification texts delivered to the queue (SNS wraps them in an envelope).
async fn delivered(ctx: &Ctx, url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let mut out = Vec::new();
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in got.messages() {
            let body = m.body().unwrap_or_default();
            let text = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.to_string());
            out.push(text);
        }
    }
    out
}

/// A BatchNotification over an existing queue and job definition, with a
/// managed topic that an SQS queue subscribes to.
pub(crate) async fn runnable(ctx: &Ctx, job_definition: &str, trigger: &str) -> (Value, String) {
    let stack = seed_stack(ctx, job_definition).await;
    let (url, arn) = subscriber(ctx, "notified").await;
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!("nightly");
    obj["spec"]["jobQueue"] = json!({"arn": stack.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": stack.job_definition});
    obj["spec"]["topic"] =
        json!({"managed": {"subscriptions": [{"protocol": "sqs", "endpoint": arn}]}});
    obj["spec"]["run"] = json!({"trigger": trigger});
    (obj, url)
}

pub(crate) fn outcome(o: &BatchNotification) -> Option<String> {
    let run = o.status.as_ref()?.last_run.as_ref()?;
    run.outcome.map(|x| format!("{x:?}"))
}

async fn executions(ctx: &Ctx, machine: &str) -> Vec<String> {
    crate::support::execution_names(&ctx.aws, machine, None).await
}

pub(crate) async fn wait_outcome(ctx: &Ctx, name: &str, trigger: &str) -> BatchNotification {
    ctx.wait(
        name,
        "the run's outcome in status",
        Duration::from_secs(60),
        |o| {
            let s = o.status.clone().unwrap_or_default();
            s.last_trigger.as_deref() == Some(trigger) && outcome(o).is_some()
        },
    )
    .await
}

#[tokio::test]
async fn a_run_succeeds_and_the_success_notification_is_delivered() {
    let ctx = Ctx::new("runs-success").await;
    let _op = ctx.operator(&[]);
    let (obj, url) = runnable(&ctx, "report", "1").await;
    ctx.apply(&obj).await;
    let done = wait_outcome(&ctx, "nightly", "1").await;
    let status = done.status.clone().expect("status");
    let run = status.last_run.clone().expect("last run");
    assert_eq!(outcome(&done).as_deref(), Some("Succeeded"));
    assert_eq!(run.status, "SUCCEEDED");
    assert!(run.batch_job_id.is_some(), "{run:?}");
    assert_eq!(run.trigger.as_deref(), Some("1"));
    assert_eq!(status.runs.len(), 1);
    let machine = status.state_machine_arn.clone().expect("machine");
    assert_eq!(
        executions(&ctx, &machine).await,
        std::slice::from_ref(&run.name)
    );
    assert_eq!(
        Ctx::condition(&done, "RunSucceeded")
            .map(|c| c.0)
            .as_deref(),
        Some("True")
    );
    assert_eq!(delivered(&ctx, &url).await, [SUCCESS]);
    let events = ctx.events("nightly").await;
    assert!(events.iter().any(|(r, _)| r == "RunStarted"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "RunSucceeded" && n.contains(&run.name)),
        "{events:?}"
    );

    // The real kubectl waits on both, as users and CI scripts do.
    for condition in [
        "--for=condition=RunSucceeded",
        "--for=jsonpath={.status.lastRun.outcome}=Succeeded",
    ] {
        let out = ctx
            .kubectl()
            .args([
                "wait",
                condition,
                "--timeout=20s",
                "batchnotification/nightly",
            ])
            .output()
            .expect("kubectl wait");
        assert!(
            out.status.success(),
            "{condition}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ctx
        .kubectl()
        .args(["get", "bn"])
        .output()
        .expect("kubectl get");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Succeeded"), "{table}");
}

#[tokio::test]
async fn a_failed_job_reports_failure_but_the_infrastructure_stays_ready() {
    let ctx = Ctx::new("runs-failure").await;
    let _op = ctx.operator(&[]);
    let (obj, url) = runnable(&ctx, FAIL_MARKER, "1").await;
    ctx.apply(&obj).await;
    let done = wait_outcome(&ctx, "nightly", "1").await;
    let run = done
        .status
        .clone()
        .and_then(|s| s.last_run)
        .expect("last run");
    assert_eq!(outcome(&done).as_deref(), Some("Failed"));
    assert_eq!(run.error.as_deref(), Some("States.TaskFailed"), "{run:?}");
    assert!(
        run.cause.as_deref().is_some_and(|c| c.contains("FAILED")),
        "{run:?}"
    );
    let run_condition = Ctx::condition(&done, "RunSucceeded").expect("RunSucceeded");
    assert_eq!(run_condition.0, "False");
    assert_eq!(
        Ctx::condition(&done, "Ready").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert_eq!(delivered(&ctx, &url).await, [FAILURE]);
    let events = ctx.events("nightly").await;
    assert!(events.iter().any(|(r, _)| r == "RunFailed"), "{events:?}");
}

#[tokio::test]
async fn one_execution_per_trigger_value_and_history_is_bounded() {
    let ctx = Ctx::new("runs-once").await;
    let op = ctx.operator(&[]);
    let (mut obj, _url) = runnable(&ctx, "report", "a").await;
    obj["spec"]["run"]["historyLimit"] = json!(2);
    for _ in 0..3 {
        ctx.apply(&obj).await;
    }
    let done = wait_outcome(&ctx, "nightly", "a").await;
    let machine = done
        .status
        .clone()
        .and_then(|s| s.state_machine_arn)
        .expect("machine");
    // Re-applying the same manifest (GitOps does, all day) is no write at
    // all: nothing for the operator to react to, so nothing more starts.
    // (A status write of the operator's between the read and the apply
    // moves the version: read again.)
    crate::support::eventually(
        "a re-apply of the same manifest to change nothing",
        Duration::from_secs(30),
        || async {
            let before = ctx.api().get("nightly").await.ok()?.resource_version();
            let after = ctx.apply(&obj).await.resource_version();
            (before == after).then_some(())
        },
    )
    .await;
    assert_eq!(executions(&ctx, &machine).await.len(), 1);

    for (i, trigger) in ["b", "c"].iter().enumerate() {
        obj["spec"]["run"]["trigger"] = json!(trigger);
        ctx.apply(&obj).await;
        wait_outcome(&ctx, "nightly", trigger).await;
        assert_eq!(executions(&ctx, &machine).await.len(), i + 2);
    }
    let status = ctx
        .api()
        .get("nightly")
        .await
        .expect("get")
        .status
        .expect("status");
    let triggers: Vec<_> = status
        .runs
        .iter()
        .map(|r| r.trigger.clone().unwrap_or_default())
        .collect();
    assert_eq!(triggers, ["c", "b"], "newest first, at most historyLimit");
    let starts = emulator_requests(&op.access_key)
        .get("states:StartExecution")
        .copied();
    assert_eq!(starts, Some(3));
}

/// A crash between StartExecution and the status write leaves an execution
/// that status does not know. The restarted operator must find it (its name
/// is derived from UID and trigger), not start a second one.
#[tokio::test]
async fn a_crash_around_start_execution_never_duplicates_a_run() {
    let ctx = Ctx::new("runs-crash").await;
    let (mut obj, _url) = runnable(&ctx, "report", "1").await;
    let run = obj["spec"]["run"].take();
    let mut op = ctx.operator(&[]);
    ctx.apply(&obj).await;
    let ready = ctx.wait_ready("nightly").await;
    op.kill();

    // The state "StartExecution done, status not yet written", made exactly.
    let machine = ready
        .status
        .clone()
        .and_then(|s| s.state_machine_arn)
        .expect("machine");
    let uid = ready.uid().expect("uid");
    let name = batchnotify::desired::execution_name_for_trigger(&uid, 1, "1");
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    sfn.start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(r#"{"scheduledTime":null,"trigger":"1"}"#)
        .send()
        .await
        .expect("start the execution as the crashed operator did");

    obj["spec"]["run"] = run;
    ctx.apply(&obj).await;
    op.restart(1);
    let done = wait_outcome(&ctx, "nightly", "1").await;
    assert_eq!(
        executions(&ctx, &machine).await,
        std::slice::from_ref(&name)
    );
    assert_eq!(
        done.status.and_then(|s| s.last_run).map(|r| r.name),
        Some(name.clone())
    );

    // Killed after the status write: a restart starts nothing either, once
    // its first pass over the object has ended.
    op.restart(2);
    op.reconciled_beyond(0).await;
    assert_eq!(executions(&ctx, &machine).await, [name]);
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
}

/// An every-minute schedule fires (this test may wait up to ~70 s).
#[tokio::test]
async fn a_schedule_fires_a_run() {
    let ctx = Ctx::new("runs-schedule").await;
    let _op = ctx.operator(&[]);
    let (mut obj, _url) = runnable(&ctx, "report", "unused").await;
    obj["spec"]["run"] = json!({"schedule": "* * * * *", "timeZone": "Europe/Berlin", "concurrencyPolicy": "Forbid"});
    ctx.apply(&obj).await;
    let ready = ctx.wait_ready("nightly").await;
    let next = ready
        .status
        .clone()
        .and_then(|s| s.next_scheduled_run)
        .expect("nextScheduledRun");
    assert!(next.ends_with('Z'), "{next}");
    let done = ctx
        .wait(
            "nightly",
            "a scheduled run's outcome",
            // Up to a minute until the cron fires, then the run; a loaded
            // 2-core machine needs headroom.
            Duration::from_secs(150),
            |o| {
                o.status
                    .as_ref()
                    .and_then(|s| s.last_run.as_ref())
                    .is_some_and(|r| r.scheduled_time.is_some() && r.outcome.is_some())
            },
        )
        .await;
    let run = done.status.and_then(|s| s.last_run).expect("run");
    assert!(run.name.starts_with("schedule-"), "{}", run.name);
    assert_eq!(run.status, "SUCCEEDED");
}
