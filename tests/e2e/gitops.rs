//! Issue #15: what GitOps tools make of the objects the operator writes. The
//! objects come from the real operator in the bed — Ready, Reconciling,
//! Stalled, being deleted, and not yet seen (no status) — and are judged by
//! kstatus itself (sigs.k8s.io/cli-utils, what `kubectl wait`-style tools and
//! Flux read), by Flux's own evaluator of the healthCheckExprs that
//! deploy/flux/kustomization.yaml documents, and by deploy/argocd's Lua as
//! Argo CD runs it. The alert rules of deploy/prometheus pass Prometheus's
//! rule parser (tests/e2e/operator.rs checks their metrics exist).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::DeleteParams;
use serde_json::{Value, json};

use crate::support::cli::{checker, ok, with};
use crate::support::{Ctx, example};

/// (kstatus, Flux) of each object, by name, from `bn-checks status`.
fn judged(objects: &[Value]) -> BTreeMap<String, (String, String)> {
    let out = ok(
        "bn-checks status",
        with(
            checker("bn-checks"),
            &["status", "deploy/flux/kustomization.yaml"],
        ),
        &Value::Array(objects.to_vec()).to_string(),
    );
    let verdicts: Vec<Value> = serde_json::from_str(&out).expect("bn-checks json");
    verdicts
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                (
                    v["kstatus"].as_str().unwrap_or_default().to_string(),
                    v["flux"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// Argo CD's health of each object, by name, from deploy/argocd/health.lua in
/// Lua 5.1 (the emulator's virtualenv has lupa, as deploy/argocd's tests use).
fn argo_health(objects: &[Value]) -> BTreeMap<String, String> {
    let python = batchnotify_testbed::Paths::from_env().moto_python;
    let script = "import json, sys\n\
        sys.path.insert(0, 'deploy/argocd')\n\
        from test_health import health\n\
        print(json.dumps({o['metadata']['name']: health(o)[0] for o in json.load(sys.stdin)}))\n";
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", script])
        .current_dir(batchnotify_testbed::repo_root());
    let out = ok(
        "deploy/argocd/health.lua",
        cmd,
        &Value::Array(objects.to_vec()).to_string(),
    );
    serde_json::from_str(&out).expect("argo json")
}

#[tokio::test]
async fn kstatus_flux_and_argo_cd_read_the_objects_the_operator_writes() {
    let ctx = Ctx::new("gitops-status").await;
    let unwatched = Ctx::new("gitops-unwatched").await;
    let existing = crate::testbed_aws::existing_stack(&ctx).await;
    let op = ctx.operator(&[]);

    let base = || {
        let mut o = example("existing-arns.yaml");
        o["spec"]["jobQueue"] = json!({"arn": existing.queue});
        o["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
        o["spec"]["topic"] = json!({"arn": existing.topic});
        o["spec"]["run"] = Value::Null;
        o
    };
    let mut ready = base();
    ready["metadata"]["name"] = json!("ready");
    let mut reconciling = base();
    reconciling["metadata"]["name"] = json!("reconciling");
    reconciling["spec"]["topic"] = json!({"arn": format!(
        "arn:aws:sns:us-east-1:123456789012:{}-nothing", ctx.prefix
    )});
    let mut stalled = base();
    stalled["metadata"]["name"] = json!("stalled");
    stalled["spec"]["run"] = json!({"schedule": "0 2 * * *", "timeZone": "Mars/Olympus_Mons"});
    let mut unseen = base();
    unseen["metadata"]["name"] = json!("unseen");

    for o in [&ready, &reconciling, &stalled] {
        ctx.apply(o).await;
    }
    unwatched.apply(&unseen).await;
    ctx.wait_ready("ready").await;
    let reason_is = |reason: &'static str| {
        move |o: &batchnotify::api::BatchNotification| {
            Ctx::condition(o, "Ready").is_some_and(|c| c.1 == reason)
        }
    };
    ctx.wait(
        "reconciling",
        "ReferenceNotFound",
        Duration::from_secs(30),
        reason_is("ReferenceNotFound"),
    )
    .await;
    ctx.wait(
        "stalled",
        "InvalidSchedule",
        Duration::from_secs(30),
        reason_is("InvalidSchedule"),
    )
    .await;

    // `kubectl get bn` says why an object is not Ready; `-o wide` what to fix.
    let table = ok("kubectl get bn", with(ctx.kubectl(), &["get", "bn"]), "");
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "READY", "REASON", "LAST", "RUN", "LAST", "RUN", "AT", "AGE"
        ],
        "{table}"
    );
    let row = |t: &str, name: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row(&table, "reconciling").contains("False   ReferenceNotFound"),
        "{table}"
    );
    let wide = ok(
        "kubectl get bn -o wide",
        with(ctx.kubectl(), &["get", "bn", "-o", "wide"]),
        "",
    );
    assert!(
        wide.lines().next().unwrap_or_default().contains("MESSAGE"),
        "{wide}"
    );
    assert!(
        row(&wide, "stalled").contains("spec.run.schedule"),
        "the message names the field: {wide}"
    );

    // Deleting: the operator is stopped first, so the finalizer holds the object.
    drop(op);
    ctx.api()
        .delete("ready", &DeleteParams::default())
        .await
        .expect("delete");

    let mut objects = Vec::new();
    for name in ["ready", "reconciling", "stalled"] {
        let o = ctx.api().get(name).await.expect("get");
        objects.push(serde_json::to_value(&o).expect("json"));
    }
    let o = unwatched.api().get("unseen").await.expect("get");
    objects.push(serde_json::to_value(&o).expect("json"));
    assert!(objects[0]["metadata"]["deletionTimestamp"].is_string());
    assert!(
        objects[3].get("status").is_none_or(Value::is_null),
        "{}",
        objects[3]
    );

    let verdicts = judged(&objects);
    let expect = |name: &str, kstatus: &str, flux: &str| {
        assert_eq!(
            verdicts.get(name),
            Some(&(kstatus.to_string(), flux.to_string())),
            "{name}: {verdicts:?}"
        );
    };
    expect("ready", "Terminating", "InProgress");
    expect("reconciling", "InProgress", "InProgress");
    expect("stalled", "Failed", "Failed");
    // kstatus calls an object without status Current: the gap the Flux
    // expressions close (an object they cannot evaluate is Unknown: Flux waits).
    expect("unseen", "Current", "Unknown");

    let argo = argo_health(&objects);
    assert_eq!(argo["ready"], "Progressing", "{argo:?}");
    assert_eq!(argo["reconciling"], "Progressing");
    assert_eq!(argo["stalled"], "Degraded");
    assert_eq!(argo["unseen"], "Progressing");

    // And a Ready object that is not being deleted.
    let _op = ctx.operator(&[]);
    ctx.wait_gone("ready").await;
    let mut again = base();
    again["metadata"]["name"] = json!("ready-again");
    ctx.apply(&again).await;
    let o = ctx.wait_ready("ready-again").await;
    let o = serde_json::to_value(&o).expect("json");
    assert_eq!(
        judged(std::slice::from_ref(&o)).get("ready-again"),
        Some(&("Current".to_string(), "Current".to_string()))
    );
    assert_eq!(argo_health(&[o])["ready-again"], "Healthy");
}

/// `promtool check rules`' checks, by Prometheus's own rule parser.
#[test]
fn example_alert_rules_parse() {
    let out = ok(
        "bn-checks rules",
        with(
            checker("bn-checks"),
            &["rules", "deploy/prometheus/alerts.yaml"],
        ),
        "",
    );
    let reports: Vec<Value> = serde_json::from_str(&out).expect("json");
    let alerts: Vec<&str> = reports[0]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in ["BatchNotificationRunFailed", "BatchNotificationNotReady"] {
        assert!(alerts.contains(&want), "{alerts:?}");
    }

    // The parser does refuse a broken rule.
    let broken = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("broken-rules.yaml");
    std::fs::write(
        &broken,
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: batchnotify_object_ready ==\n",
    )
    .expect("write");
    let (success, _, stderr) = crate::support::cli::run(
        with(
            checker("bn-checks"),
            &["rules", broken.to_str().expect("path")],
        ),
        "",
    );
    assert!(!success && stderr.contains("parse error"), "{stderr}");
}

/// The metric names the alert rules select (for tests/e2e/operator.rs).
pub fn alert_metrics() -> Vec<String> {
    let out = ok(
        "bn-checks rules",
        with(
            checker("bn-checks"),
            &["rules", "deploy/prometheus/alerts.yaml"],
        ),
        "",
    );
    let reports: Vec<Value> = serde_json::from_str(&out).expect("json");
    reports[0]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}
