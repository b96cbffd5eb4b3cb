//! Issue #7: the operator as a product — leader election between two
//! processes, /metrics, /healthz, /readyz.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::{Value, json};

use crate::support::{Ctx, Operator, emulator_requests, eventually, example, http};
use crate::testbed_aws::existing_stack;

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_and_probes_report_what_happened() {
    let ctx = Ctx::new("operator-metrics").await;
    let existing = existing_stack(&ctx).await;
    let op = ctx.operator(&[]);
    let mut obj = example("existing-arns.yaml");
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["run"] = json!({"trigger": "1"});
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    ctx.apply(&obj).await;
    ctx.wait(&name, "the run's outcome", Duration::from_secs(60), |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_run.as_ref())
            .is_some_and(|r| r.outcome.is_some())
    })
    .await;

    assert_eq!(http("GET", &format!("{}/healthz", op.admin)), "ok");
    assert_eq!(http("GET", &format!("{}/readyz", op.admin)), "ok");
    let text = eventually("the run in /metrics", Duration::from_secs(10), || async {
        let t = http("GET", &format!("{}/metrics", op.admin));
        metric(&t, r#"batchnotify_runs_total{outcome="Succeeded"}"#).map(|_| t)
    })
    .await;
    assert_eq!(
        metric(
            &text,
            r#"batchnotify_aws_requests_total{service="sns",operation="CreateTopic",outcome="Success"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric(&text, r#"batchnotify_reconciles_total{result="Ready"}"#).is_some_and(|v| v >= 1.0)
    );
    assert!(
        text.contains(r#"batchnotify_reconcile_stage_duration_seconds_bucket{le="#)
            || text.contains("batchnotify_reconcile_stage_duration_seconds_bucket{stage=")
    );
    assert_eq!(
        metric(&text, "batchnotify_managed_objects"),
        Some(1.0),
        "{text}"
    );

    // The operator's own count of AWS calls agrees with the emulator's.
    let own: f64 = text
        .lines()
        .filter(|l| l.starts_with("batchnotify_aws_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let counted: u64 = emulator_requests(&op.access_key).values().sum();
    assert_eq!(own as u64, counted, "{text}");
}

async fn holder(ctx: &Ctx, lease: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    leases
        .get_opt(lease)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// Two replicas: exactly one reconciles; kill it and the other takes over
/// within the lease duration.
#[tokio::test]
async fn with_two_replicas_one_leads_and_the_other_takes_over() {
    let ctx = Ctx::new("operator-leader").await;
    let existing = existing_stack(&ctx).await;
    let args = |id: &'static str| {
        [
            "--leader-election",
            "--lease-namespace",
            ctx.ns.as_str(),
            "--lease-name",
            "batchnotify-test",
            "--lease-duration",
            "4s",
            "--identity",
            id,
        ]
    };
    let a = Operator::start(&ctx.ns, &format!("{}-a", ctx.ns), &args("replica-a"));
    let leader = eventually("a leader", Duration::from_secs(20), || {
        holder(&ctx, "batchnotify-test")
    })
    .await;
    assert_eq!(leader, "replica-a");
    let b = Operator::start(&ctx.ns, &format!("{}-b", ctx.ns), &args("replica-b"));

    let mut obj = example("existing-arns.yaml");
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["run"] = Value::Null;
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    ctx.apply(&obj).await;
    ctx.wait_ready(&name).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !emulator_requests(&a.access_key).is_empty(),
        "the leader reconciled"
    );
    assert!(
        emulator_requests(&b.access_key).is_empty(),
        "the follower called AWS"
    );

    // The leader dies without releasing the lease; the follower takes over.
    let mut a = a;
    a.kill();
    let killed = Instant::now();
    let new = eventually("replica-b to lead", Duration::from_secs(30), || async {
        holder(&ctx, "batchnotify-test")
            .await
            .filter(|h| h == "replica-b")
    })
    .await;
    assert_eq!(new, "replica-b");
    let takeover = killed.elapsed();
    obj["spec"]["topic"] = json!({"managed": {"displayName": "after failover"}});
    ctx.apply(&obj).await;
    ctx.wait_ready(&name).await;
    assert!(emulator_requests(&b.access_key).contains_key("sns:SetTopicAttributes"));
    println!("leader takeover after {takeover:?} (lease duration 4s)");
    drop(b);
}
