//! Outages: the emulator unreachable for 30 s, the API server restarted (etcd
//! kept), and the API server unreachable for 30 s. Conditions say so while they
//! can, the operator recovers by itself, and nothing is duplicated.

use std::time::{Duration, Instant};

use kube::ResourceExt;
use serde_json::json;

use crate::common::{
    self, CONVERGE, assert_no_panic, check_executions, condition, executions, operator_behind,
    owned_in, referenced_stack, runnable, wait_ran,
};
use crate::figures::Record;
use crate::support::faults::{ApiProxy, AwsProxy, FaultPlan, seed_for};
use crate::support::{Ctx, Operator, bed};

const OUTAGE: Duration = Duration::from_secs(30);

/// Exactly one execution for each trigger given, and one of each owned resource.
async fn nothing_duplicated(ctx: &Ctx, name: &str, triggers: &[&str]) -> u64 {
    let obj = ctx.api().get(name).await.expect("get");
    let uid = obj.uid().expect("uid");
    let machine = obj
        .status
        .and_then(|s| s.state_machine_arn)
        .expect("stateMachineArn");
    let found = executions(ctx, &machine).await;
    let triggers: Vec<String> = triggers.iter().map(|t| t.to_string()).collect();
    let (unexpected, missing) = check_executions(&uid, &triggers, &found);
    assert!(missing.is_empty(), "triggers without a run: {missing:?}");
    let owned = owned_in(ctx, &ctx.ns).await;
    let mut kinds: Vec<&str> = owned.iter().map(|o| o.kind).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["IAM role", "SNS topic", "state machine"],
        "one of each: {owned:#?}"
    );
    assert!(
        unexpected.is_empty(),
        "duplicate executions: {unexpected:?}"
    );
    unexpected.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_outage_is_reported_and_the_operator_recovers() {
    let seed = seed_for("aws-outage");
    let mut rec = Record::new("aws-outage", seed);
    let ctx = Ctx::new("rel-aws-outage").await;
    let stack = referenced_stack(&ctx).await;
    let proxy = AwsProxy::start(&bed().aws_endpoint, FaultPlan::none(), seed);
    let op = operator_behind(&ctx, &proxy);
    let mut obj = runnable("outage", &stack, "1");
    ctx.apply(&obj).await;
    rec.objects = 1;
    wait_ran(&ctx, "outage", "1").await;

    // AWS goes away; then the user asks for work that needs it.
    proxy.set_outage(true);
    let began = Instant::now();
    obj["spec"]["run"]["trigger"] = json!("2");
    obj["spec"]["messages"] = json!({"success": "succeeded after the outage"});
    ctx.apply(&obj).await;
    // The outage lasts until the condition has said so, and at least 30 s.
    let during = ctx
        .wait(
            "outage",
            "Ready=False, reason AwsUnavailable, while AWS is unreachable",
            CONVERGE,
            |o| {
                o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
                    && condition(o, "Ready")
                        .is_some_and(|(s, r, _)| s == "False" && r == "AwsUnavailable")
            },
        )
        .await;
    let (_, _, message) = condition(&during, "Ready").expect("Ready");
    assert!(!message.is_empty(), "the condition says what failed");
    assert_eq!(
        condition(&during, "Reconciling").map(|c| c.0).as_deref(),
        Some("True"),
        "retrying by itself"
    );
    assert_eq!(
        condition(&during, "Stalled").map(|c| c.0).as_deref(),
        Some("False"),
        "an outage is not the user's to fix"
    );
    let events = ctx.events("outage").await;
    assert!(
        events.iter().any(|(r, _)| r == "AwsUnavailable"),
        "a Warning Event: {events:?}"
    );
    if let Some(rest) = OUTAGE.checked_sub(began.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let outage = began.elapsed();
    proxy.set_outage(false);

    let after = wait_ran(&ctx, "outage", "2").await;
    assert_eq!(
        after
            .status
            .as_ref()
            .and_then(|s| s.last_run.as_ref())
            .and_then(|r| r.outcome)
            .map(|o| format!("{o:?}"))
            .as_deref(),
        Some("Succeeded")
    );
    rec.duplicates = nothing_duplicated(&ctx, "outage", &["1", "2"]).await;
    rec.aws_faults(&proxy);
    rec.note(format!(
        "AWS unreachable for {:.0} s; condition during it: Ready=False AwsUnavailable: {message}",
        outage.as_secs_f64()
    ));
    assert_no_panic(&op);
}

/// The bed's API server is shared by every test of this binary, so it is not
/// restarted: the operator reaches it through a TCP proxy, which is cut for
/// 30 s (every open connection reset, new ones refused) — what the operator
/// sees of an API server restart — and then made flaky.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_is_survived() {
    let seed = seed_for("api-outage");
    let mut rec = Record::new("api-outage", seed);
    let ctx = Ctx::new("rel-api-outage").await;
    let stack = referenced_stack(&ctx).await;
    let api = ApiProxy::start(&bed().api_server, seed);
    let kubeconfig = api.kubeconfig(bed(), &ctx.ns);
    let mut op = Operator::start_with_env(
        &ctx.ns,
        &format!("op-{}", ctx.ns),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().expect("utf-8 path"))],
    );
    let mut obj = runnable("apiserver", &stack, "1");
    ctx.apply(&obj).await;
    rec.objects = 1;
    wait_ran(&ctx, "apiserver", "1").await;

    // The API server goes away; meanwhile the user changes the spec (the test
    // reaches the API server directly).
    api.set_outage(true);
    obj["spec"]["run"]["trigger"] = json!("2");
    ctx.apply(&obj).await;
    tokio::time::sleep(OUTAGE).await;
    assert!(
        matches!(op.child.try_wait(), Ok(None)),
        "the operator exited during the outage:\n{}",
        op.logs()
    );
    api.set_outage(false);
    wait_ran(&ctx, "apiserver", "2").await;

    // Then a flaky network: 30 % of connections cut within 3 s.
    api.set_resets(0.3, Duration::from_secs(3));
    obj["spec"]["run"]["trigger"] = json!("3");
    ctx.apply(&obj).await;
    wait_ran(&ctx, "apiserver", "3").await;
    api.set_resets(0.0, Duration::ZERO);

    rec.duplicates = nothing_duplicated(&ctx, "apiserver", &["1", "2", "3"]).await;
    let t = api.tally();
    rec.fault("api-refused", t.refused);
    rec.fault("api-cut-by-outage", t.cut_by_outage);
    rec.fault("api-reset", t.resets);
    rec.note(format!(
        "API server unreachable for {} s (a proxy cut; the shared API server is not restarted), then 30% of connections reset: {} connections, {} refused, {} cut",
        OUTAGE.as_secs(),
        t.connections,
        t.refused,
        t.cut_by_outage + t.resets
    ));
    assert_no_panic(&op);
    let _ = common::kills;
}

/// The API server the operator talks to (a second one on the bed's etcd, so
/// that the other tests keep theirs) is stopped with SIGTERM and started again
/// on the same port, etcd kept; meanwhile the user changes the spec through
/// the bed's own API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_is_survived() {
    let seed = seed_for("api-restart");
    let mut rec = Record::new("api-restart", seed);
    let ctx = Ctx::new("rel-api-restart").await;
    let stack = referenced_stack(&ctx).await;
    let mut server = tokio::task::block_in_place(|| bed().second_api_server(&ctx.ns))
        .expect("a second API server on the bed's etcd");
    let mut op = Operator::start_with_env(
        &ctx.ns,
        &format!("op-{}", ctx.ns),
        &[],
        &[(
            "KUBECONFIG",
            server.kubeconfig.to_str().expect("utf-8 path"),
        )],
    );
    let mut obj = runnable("restart", &stack, "1");
    ctx.apply(&obj).await;
    rec.objects = 1;
    wait_ran(&ctx, "restart", "1").await;

    let down = Instant::now();
    tokio::task::block_in_place(|| server.stop());
    obj["spec"]["run"]["trigger"] = json!("2");
    ctx.apply(&obj).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        matches!(op.child.try_wait(), Ok(None)),
        "the operator exited while its API server was down:\n{}",
        op.logs()
    );
    tokio::task::block_in_place(|| server.start()).expect("the API server starts again");
    let downtime = down.elapsed();
    let after = wait_ran(&ctx, "restart", "2").await;
    let recovered = down.elapsed();
    assert_eq!(
        after.status.as_ref().and_then(|s| s.observed_generation),
        after.metadata.generation,
        "status caught up with the spec changed during the restart"
    );
    rec.duplicates = nothing_duplicated(&ctx, "restart", &["1", "2"]).await;
    rec.fault("api-restart", u64::from(server.starts - 1));
    rec.note(format!(
        "API server stopped (SIGTERM) and started again on its port, etcd kept: down {:.1} s; the run the spec asked for meanwhile reached status {:.1} s after the stop",
        downtime.as_secs_f64(),
        recovered.as_secs_f64()
    ));
    assert_no_panic(&op);
}
