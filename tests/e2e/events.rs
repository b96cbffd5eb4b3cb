//! Issue #16: event mode. An execution's end reaches status from the
//! EventBridge event, through the operator's own SQS queue, without a
//! DescribeExecution; the route is put back when deleted out of band, runs
//! fall back to polling meanwhile, and the route goes with the last object.

use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use aws_sdk_sqs::Client as Sqs;

use crate::runs::{outcome, runnable, wait_outcome};
use crate::support::{Ctx, emulator_requests, eventually};

/// A cluster name of this test's own: its route is its own.
fn cluster(ctx: &Ctx) -> String {
    format!("ev{}", ctx.prefix)
}

/// Event mode with a fallback poll and a route check every few seconds.
fn fast_fallback_operator(ctx: &Ctx, cluster: &str) -> crate::support::Operator {
    ctx.operator(&[
        "--events",
        "--cluster-name",
        cluster,
        "--event-poll",
        "3s",
        "--resync",
        "4s",
    ])
}

async fn rule_exists(aws: &EventBridge, name: &str) -> bool {
    aws.describe_rule().name(name).send().await.is_ok()
}

async fn queue_exists(aws: &Sqs, name: &str) -> bool {
    aws.get_queue_url().queue_name(name).send().await.is_ok()
}

#[tokio::test]
async fn an_execution_end_reaches_status_from_its_event_without_describe_execution() {
    let ctx = Ctx::new("events-end").await;
    let cluster = cluster(&ctx);
    // The fallback poll far away: only the event can bring the end in time.
    let op = ctx.operator(&[
        "--events",
        "--cluster-name",
        &cluster,
        "--event-poll",
        "10m",
    ]);
    let (obj, _url) = runnable(&ctx, "report", "1").await;
    ctx.apply(&obj).await;
    let done = wait_outcome(&ctx, "nightly", "1").await;
    assert_eq!(outcome(&done).as_deref(), Some("Succeeded"));
    let run = done
        .status
        .clone()
        .and_then(|s| s.last_run)
        .expect("last run");
    assert_eq!(run.status, "SUCCEEDED");
    assert!(
        run.stop_time.is_some() && run.batch_job_id.is_some(),
        "{run:?}"
    );

    // The read message is deleted once the queue is idle again (a long poll
    // answered empty), within the visibility timeout.
    let calls = eventually(
        "the read event deleted",
        Duration::from_secs(45),
        || async {
            let calls = emulator_requests(&op.access_key);
            calls
                .contains_key("sqs:DeleteMessageBatch")
                .then_some(calls)
        },
    )
    .await;
    assert_eq!(calls.get("states:DescribeExecution"), None, "{calls:?}");
    assert!(calls.contains_key("sqs:ReceiveMessage"), "{calls:?}");
    assert_eq!(calls.get("sqs:DeleteMessageBatch"), Some(&1), "{calls:?}");
    println!("AWS calls of the operator after one run: {calls:?}");
    // Per run: StartExecution and the history of its end.
    assert_eq!(calls.get("states:StartExecution"), Some(&1), "{calls:?}");

    // The route: tagged for this cluster, the queue's policy scoped to the rule.
    let name = format!("bn-{cluster}-executions");
    let events = EventBridge::new(&ctx.aws);
    let sqs = Sqs::new(&ctx.aws);
    let rule = events
        .describe_rule()
        .name(&name)
        .send()
        .await
        .expect("rule");
    let tags = events
        .list_tags_for_resource()
        .resource_arn(rule.arn().unwrap_or_default())
        .send()
        .await
        .expect("rule tags");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "batchnotify.dev/cluster" && t.value() == cluster),
        "{tags:?}"
    );
    assert!(queue_exists(&sqs, &name).await);

    // A second run: its end too, still without describing it.
    let mut again = obj.clone();
    again["spec"]["run"]["trigger"] = serde_json::json!("2");
    ctx.apply(&again).await;
    wait_outcome(&ctx, "nightly", "2").await;
    let calls = emulator_requests(&op.access_key);
    assert_eq!(calls.get("states:DescribeExecution"), None, "{calls:?}");

    // The last object of the cluster in the region takes the route with it.
    ctx.api()
        .delete("nightly", &Default::default())
        .await
        .expect("delete");
    ctx.wait_gone("nightly").await;
    assert!(
        !rule_exists(&events, &name).await,
        "the rule is left behind"
    );
    assert!(!queue_exists(&sqs, &name).await, "the queue is left behind");
}

#[tokio::test]
async fn a_deleted_rule_is_put_back_and_runs_fall_back_to_polling_meanwhile() {
    let ctx = Ctx::new("events-fallback").await;
    let cluster = cluster(&ctx);
    let op = fast_fallback_operator(&ctx, &cluster);
    let (obj, _url) = runnable(&ctx, "report", "1").await;
    ctx.apply(&obj).await;
    wait_outcome(&ctx, "nightly", "1").await;
    let name = format!("bn-{cluster}-executions");
    let events = EventBridge::new(&ctx.aws);
    assert!(rule_exists(&events, &name).await);

    // Someone deletes the rule: the next run's end is never sent.
    events
        .remove_targets()
        .rule(&name)
        .ids("batchnotify-queue")
        .send()
        .await
        .expect("remove targets");
    events
        .delete_rule()
        .name(&name)
        .send()
        .await
        .expect("delete rule");
    let described = emulator_requests(&op.access_key)
        .get("states:DescribeExecution")
        .copied()
        .unwrap_or(0);
    let mut again = obj.clone();
    again["spec"]["run"]["trigger"] = serde_json::json!("2");
    ctx.apply(&again).await;
    let done = wait_outcome(&ctx, "nightly", "2").await;
    assert_eq!(outcome(&done).as_deref(), Some("Succeeded"));

    // The end came from the fallback poll or from an event once the rule was
    // back; either way the rule is back, targeting the queue.
    eventually("the rule put back", Duration::from_secs(30), || async {
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .ok()?;
        targets
            .targets()
            .iter()
            .any(|t| t.arn().ends_with(&format!(":{name}")))
            .then_some(())
    })
    .await;
    let logs = op.logs();
    assert!(logs.contains("created EventBridge rule"), "{logs}");
    println!(
        "DescribeExecution before the deletion {described}, after {:?}",
        emulator_requests(&op.access_key).get("states:DescribeExecution")
    );
}

/// What arrives in the queue besides one clean end per execution changes
/// nothing: a duplicate, a late RUNNING, an end of an execution no object
/// follows, a message that is no event at all. A deleted queue is made
/// again; runs meanwhile end through the fallback poll.
#[tokio::test]
async fn odd_events_change_nothing_and_a_deleted_queue_is_made_again() {
    let ctx = Ctx::new("events-odd").await;
    let cluster = cluster(&ctx);
    let op = fast_fallback_operator(&ctx, &cluster);
    let (obj, _url) = runnable(&ctx, "report", "1").await;
    ctx.apply(&obj).await;
    let done = wait_outcome(&ctx, "nightly", "1").await;
    let status = done.status.clone().expect("status");
    let run = status.last_run.clone().expect("last run");
    let machine = status.state_machine_arn.clone().expect("machine");

    let name = format!("bn-{cluster}-executions");
    let sqs = Sqs::new(&ctx.aws);
    let url = sqs
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .expect("queue url")
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let event = |execution: &str, status: &str| {
        serde_json::json!({
            "version": "0", "id": "x", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": execution, "stateMachineArn": machine,
                "status": status, "startDate": 1, "stopDate": 2,
                "error": "Forged", "cause": "not from AWS"
            }
        })
        .to_string()
    };
    let unknown = format!("{}-unknown", run.execution_arn);
    let reconciled = op.reconciles();
    for body in [
        event(&run.execution_arn, "SUCCEEDED"),
        event(&run.execution_arn, "RUNNING"),
        event(&unknown, "FAILED"),
        "not an event".to_string(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let metrics = format!("{}/metrics", op.admin);
    eventually("the odd messages read", Duration::from_secs(30), || async {
        let text = crate::support::try_http("GET", &metrics)?;
        let read = |d: &str| {
            text.lines().any(|l| {
                l.starts_with("batchnotify_execution_events_total")
                    && l.contains(&format!("disposition=\"{d}\""))
            })
        };
        (read("ignored") && read("malformed") && read("used")).then_some(())
    })
    .await;
    // The used message woke the object: its reconcile has ended since.
    op.reconciled_beyond(reconciled).await;
    let after = ctx.api().get("nightly").await.expect("get");
    let again = after
        .status
        .clone()
        .and_then(|s| s.last_run)
        .expect("last run");
    assert_eq!(again.execution_arn, run.execution_arn);
    assert_eq!(again.error, run.error, "a forged end rewrote the result");
    assert_eq!(
        crate::support::execution_names(&ctx.aws, &machine, None)
            .await
            .len(),
        1,
        "an event started a run"
    );

    // The queue deleted: the next run still ends (fallback poll), and the
    // route is made again at the next check.
    sqs.delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("delete queue");
    let mut next = obj.clone();
    next["spec"]["run"]["trigger"] = serde_json::json!("2");
    ctx.apply(&next).await;
    let done = wait_outcome(&ctx, "nightly", "2").await;
    assert_eq!(outcome(&done).as_deref(), Some("Succeeded"));
    eventually("the queue made again", Duration::from_secs(150), || async {
        queue_exists(&sqs, &name).await.then_some(())
    })
    .await;
}
