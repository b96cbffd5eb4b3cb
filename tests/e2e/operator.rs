//! Issue #7: the operator as a product — leader election between two
//! processes, /metrics, /healthz, /readyz.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::{Value, json};

use crate::support::{Ctx, Operator, emulator_requests, eventually, example, http, try_http};
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
            r#"batchnotify_aws_requests_total{service="sns",operation="CreateTopic",outcome="Success",attempt="first"}"#
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

    // Per object: readiness and the last run, labelled with namespace and name.
    let object = format!(r#"{{namespace="{}",name="{name}"}}"#, ctx.ns);
    assert_eq!(
        metric(&text, &format!("batchnotify_object_ready{object}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("batchnotify_object_last_run_succeeded{object}")
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric(&text, "batchnotify_reconcile_duration_seconds_count").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    // Kubernetes requests, counted by the client layer: the watch, the status patch.
    assert!(
        metric(
            &text,
            r#"batchnotify_kube_requests_total{verb="WATCH",code="200"}"#
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"batchnotify_kube_requests_total{verb="PATCH",code="200"}"#
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric(&text, "batchnotify_leader").is_some_and(|v| v == 1.0),
        "{text}"
    );
    // Every metric the example alert rules use is one the operator serves.
    for m in crate::gitops::alert_metrics() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{m}{{")) || l.starts_with(&format!("{m} "))),
            "deploy/prometheus/alerts.yaml uses {m}, which /metrics does not serve:\n{text}"
        );
    }

    // The operator's own count of AWS calls agrees with the emulator's.
    let own: f64 = text
        .lines()
        .filter(|l| l.starts_with("batchnotify_aws_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let counted: u64 = emulator_requests(&op.access_key).values().sum();
    assert_eq!(own as u64, counted, "{text}");

    // Deleted: its series go with it (cardinality stays bounded by the objects).
    ctx.api()
        .delete(&name, &Default::default())
        .await
        .expect("delete");
    ctx.wait_gone(&name).await;
    let text = eventually(
        "the object's series removed",
        Duration::from_secs(10),
        || async {
            let t = http("GET", &format!("{}/metrics", op.admin));
            (!t.contains(&object)).then_some(t)
        },
    )
    .await;
    assert!(
        metric(&text, r#"batchnotify_reconciles_total{result="Error"}"#).is_none(),
        "a routine deletion counted as an error:\n{text}"
    );
    assert!(
        !op.logs().contains("reconcile failed"),
        "a routine deletion logged as a failure"
    );
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
    // The follower has since asked for the lease again (a Kubernetes request
    // of its own, counted at its /metrics) and still follows: had it
    // reconciled, it would have called AWS by now.
    let asked = crate::support::counter_sum(&b.metrics(), "batchnotify_kube_requests_total");
    eventually(
        "the follower to ask for the lease again",
        Duration::from_secs(30),
        || async {
            let metrics = b.metrics();
            (crate::support::counter_sum(&metrics, "batchnotify_kube_requests_total") > asked + 1
                && metrics.lines().any(|l| l.trim() == "batchnotify_leader 0"))
            .then_some(())
        },
    )
    .await;
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

/// A leader stopped gracefully (SIGTERM, as in a rollout) exits cleanly and
/// releases its lease; the standby serves its probes meanwhile.
#[tokio::test]
async fn a_graceful_stop_releases_the_lease() {
    let ctx = Ctx::new("operator-release").await;
    let args = |id: &'static str| {
        [
            "--leader-election",
            "--lease-namespace",
            ctx.ns.as_str(),
            "--lease-name",
            "batchnotify-release",
            "--lease-duration",
            "90s",
            "--identity",
            id,
        ]
    };
    let mut a = Operator::start(&ctx.ns, &format!("{}-a", ctx.ns), &args("replica-a"));
    eventually("replica-a to lead", Duration::from_secs(20), || async {
        holder(&ctx, "batchnotify-release")
            .await
            .filter(|h| h == "replica-a")
    })
    .await;
    let b = Operator::start(&ctx.ns, &format!("{}-b", ctx.ns), &args("replica-b"));
    // The standby serves its probes: ready, though not leading.
    eventually("the standby's /readyz", Duration::from_secs(20), || async {
        (try_http("GET", &format!("{}/readyz", b.admin)).as_deref() == Some("ok")).then_some(())
    })
    .await;
    let metrics = http("GET", &format!("{}/metrics", b.admin));
    assert_eq!(
        metric(&metrics, "batchnotify_leader"),
        Some(0.0),
        "{metrics}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exited = a.child.wait().expect("wait for replica-a");
    assert!(exited.success(), "graceful exit: {exited:?}\n{}", a.logs());
    // Released, not left to expire: the Lease has no holder well inside its
    // 90 s duration. (The standby's lease manager takes it at the latest at
    // expiry; releasing matters for the next one that asks.)
    eventually(
        "the lease to be released",
        Duration::from_secs(20),
        || async {
            (holder(&ctx, "batchnotify-release").await.as_deref() != Some("replica-a"))
                .then_some(())
        },
    )
    .await;
    drop(b);
}
