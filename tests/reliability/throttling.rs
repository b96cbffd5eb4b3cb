//! Throttling: with 20 % of the operator's AWS calls throttled (as each
//! service spells it), the same scenario converges as without faults, the
//! SDK's own retry (standard mode, 3 attempts) absorbs most of it, and the
//! emulator receives at most twice the calls of the fault-free run.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::DeleteParams;
use serde_json::json;

use crate::common::{
    assert_no_panic, check_executions, executions, managed, operator_behind, owned_in,
    referenced_stack, runnable, wait_gone, wait_ran,
};
use crate::figures::Record;
use crate::support::faults::{AwsProxy, FaultPlan, seed_for};
use crate::support::{Ctx, bed, emulator_requests};

struct Run {
    /// Calls the emulator received from this operator.
    emulator: u64,
    /// Requests the proxy received (emulator + throttled).
    proxied: u64,
    throttled: BTreeMap<String, u64>,
    sdk_retries: (u64, u64),
    duplicates: u64,
    leaks: u64,
    objects: u64,
    faults: Vec<(String, u64)>,
}

/// Create four objects (one everything-managed), run them, give each a new
/// trigger, update them, delete them.
async fn scenario(test: &str, plan: FaultPlan, seed: u64) -> Run {
    let ctx = Ctx::new(test).await;
    let stack = referenced_stack(&ctx).await;
    let proxy = AwsProxy::start(&bed().aws_endpoint, plan, seed);
    let op = operator_behind(&ctx, &proxy);
    let mut objects = vec![
        runnable("referenced-0", &stack, "1"),
        runnable("referenced-1", &stack, "1"),
        runnable("referenced-2", &stack, "1"),
        managed("managed-0", "1"),
    ];
    for o in &objects {
        ctx.apply(o).await;
    }
    let mut duplicates = 0;
    for o in objects.iter_mut() {
        let name = o["metadata"]["name"].as_str().expect("name").to_string();
        wait_ran(&ctx, &name, "1").await;
        o["spec"]["run"]["trigger"] = json!("2");
        o["spec"]["messages"] = json!({"success": "succeeded, second run"});
        ctx.apply(o).await;
    }
    for o in &objects {
        let name = o["metadata"]["name"].as_str().expect("name");
        let done = wait_ran(&ctx, name, "2").await;
        let machine = done
            .status
            .as_ref()
            .and_then(|s| s.state_machine_arn.clone())
            .expect("stateMachineArn");
        let found = executions(&ctx, &machine).await;
        let (unexpected, missing) =
            check_executions(&done.uid().expect("uid"), &["1".into(), "2".into()], &found);
        assert!(missing.is_empty(), "{name}: no run for {missing:?}");
        duplicates += unexpected.len() as u64;
    }
    for o in &objects {
        let name = o["metadata"]["name"].as_str().expect("name");
        ctx.api()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for o in &objects {
        wait_gone(&ctx, o["metadata"]["name"].as_str().expect("name")).await;
    }
    let leaks = owned_in(&ctx, &ctx.ns).await.len() as u64;
    assert_no_panic(&op);
    drop(op);
    Run {
        emulator: emulator_requests(&format!("op-{}", ctx.ns)).values().sum(),
        proxied: proxy.requests().values().sum(),
        throttled: proxy.throttled(),
        sdk_retries: proxy.sdk_retries(),
        duplicates,
        leaks,
        objects: objects.len() as u64,
        faults: proxy
            .faults()
            .into_iter()
            .map(|(k, v)| (format!("aws-{}", k.as_str()), v))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fifth_of_calls_throttled_everything_converges_within_twice_the_calls() {
    let seed = seed_for("throttling");
    let mut rec = Record::new("throttling", seed);
    let throttled_plan = FaultPlan {
        throttle: 0.2,
        ..FaultPlan::default()
    };
    let (clean, throttled) = tokio::join!(
        scenario("rel-throttle-none", FaultPlan::none(), seed),
        scenario("rel-throttle-20", throttled_plan, seed ^ 1),
    );
    rec.objects = clean.objects + throttled.objects;
    rec.duplicates = clean.duplicates + throttled.duplicates;
    rec.leaks = clean.leaks + throttled.leaks;
    for (k, v) in &throttled.faults {
        rec.fault(k, *v);
    }
    let ratio = throttled.emulator as f64 / clean.emulator.max(1) as f64;
    let by_service = throttled
        .throttled
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    rec.note(format!(
        "AWS calls at the emulator: fault-free {}, 20% throttled {} ({ratio:.2}x; bound 2x)",
        clean.emulator, throttled.emulator
    ));
    rec.note(format!(
        "throttled run: {} requests at the proxy, throttled by service: {by_service}; SDK retries seen {} (highest attempt {})",
        throttled.proxied, throttled.sdk_retries.0, throttled.sdk_retries.1
    ));
    println!(
        "throttling: emulator calls fault-free={} throttled={} ratio={ratio:.2}",
        clean.emulator, throttled.emulator
    );
    assert_eq!(rec.duplicates, 0, "duplicate executions");
    assert_eq!(rec.leaks, 0, "resources left after deletion");
    assert!(
        throttled.emulator <= 2 * clean.emulator,
        "throttled run made {} calls, fault-free {}",
        throttled.emulator,
        clean.emulator
    );
    // The SDK retried (its `amz-sdk-request` attempt header says so), never
    // beyond the attempts the operator configures: no retry loop of our own on top.
    let max_attempts = u64::from(batchnotify::aws::retry_config().max_attempts());
    assert!(throttled.sdk_retries.0 > 0, "the SDK never retried");
    assert!(
        throttled.sdk_retries.1 <= max_attempts,
        "attempt {} > {max_attempts}",
        throttled.sdk_retries.1
    );
    // Each service's spelling of throttling was exercised.
    for service in ["states", "sns", "iam", "batch"] {
        assert!(
            throttled.throttled.get(service).is_some_and(|n| *n > 0),
            "no {service} call was throttled: {by_service}"
        );
    }
}
