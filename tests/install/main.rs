//! Issue #15: the chart as a platform team uses it, against a real API server
//! whose CRD nobody installed beforehand: a typo in values fails the install,
//! the chart installs the CRD and the operator, users of the built-in
//! namespace roles use BatchNotifications, `helm upgrade` updates the CRD, and
//! `helm uninstall` leaves the CRD and the objects. One test: the steps build
//! on each other, and the bed is this binary's own.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::Value;

use support::cli::{find, helm_with, objects, ok, repo, run, with};
use support::{eventually, rbac};

const CHART: &str = "deploy/helm/batchnotify";
const CRD: &str = "batchnotifications.batchnotify.dev";
const RELEASE: &str = "bn";
const NAMESPACE: &str = "platform";

fn helm(args: &[&str]) -> std::process::Command {
    with(helm_with(&support::bed_with(false).kubeconfig), args)
}

/// A copy of the chart whose CRD gained an optional spec field, as the next
/// release of a v1alpha1 API might.
fn chart_with_new_field(field: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-next");
    let _ = std::fs::remove_dir_all(&dir);
    let src = repo().join(CHART);
    for entry in walk(&src) {
        let to = dir.join(entry.strip_prefix(&src).expect("inside the chart"));
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &to).expect("copy chart file");
    }
    let crd_file = dir.join("files/batchnotify.dev_batchnotifications.yaml");
    let mut crd: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&crd_file).expect("crd")).expect("crd yaml");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        [field] = serde_json::json!({"type": "string", "description": "added by the next release"});
    std::fs::write(&crd_file, serde_yaml::to_string(&crd).expect("yaml")).expect("write crd");
    let chart_yaml = dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).expect("Chart.yaml");
    let next: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("version:") {
                "version: 99.0.0".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&chart_yaml, next.join("\n")).expect("Chart.yaml");
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn crd(client: &kube::Client) -> Option<CustomResourceDefinition> {
    Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(CRD)
        .await
        .expect("read CRDs")
}

fn spec_properties(crd: &CustomResourceDefinition) -> Vec<String> {
    let v = serde_json::to_value(crd).expect("crd json");
    v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn chart_installs_its_crd_upgrades_it_and_uninstall_keeps_it() {
    let bed = support::bed_with(false);
    let client = support::kube_client(bed).await;
    assert!(
        crd(&client).await.is_none(),
        "the bed must start without the CRD"
    );

    // A typo in values fails the install, before anything is created.
    let (success, _, stderr) = run(
        helm(&[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "--set",
            "replicas=3",
        ]),
        "",
    );
    assert!(
        !success && stderr.contains("additional properties") && stderr.contains("replicas"),
        "{stderr}"
    );
    assert!(
        crd(&client).await.is_none(),
        "a refused install created the CRD"
    );
    let releases = ok("helm list", helm(&["list", "--all-namespaces", "-q"]), "");
    assert!(releases.trim().is_empty(), "{releases}");

    // Without leader election there is no Lease to look at.
    let notes = ok(
        "helm install --dry-run",
        helm(&[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "replicaCount=1",
        ]),
        "",
    );
    assert!(!notes.contains("get lease"), "{notes}");

    // The install: CRD, operator, RBAC, Service, PDB.
    let out = ok(
        "helm install",
        helm(&[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "--set",
            "clusterName=install-test",
        ]),
        "",
    );
    assert!(out.contains("get lease batchnotify"), "NOTES: {out}");
    let installed = crd(&client).await.expect("the chart installed the CRD");
    let annotations = installed.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("helm.sh/resource-policy")
            .map(String::as_str),
        Some("keep")
    );
    assert_eq!(
        annotations
            .get("meta.helm.sh/release-name")
            .map(String::as_str),
        Some(RELEASE)
    );
    support::wait_established(bed, &format!("crd/{CRD}"));
    let manifest = objects(&ok(
        "helm get manifest",
        helm(&["get", "manifest", RELEASE, "--namespace", NAMESPACE]),
        "",
    ));
    for (kind, name) in [
        ("Deployment", "bn-batchnotify"),
        ("PodDisruptionBudget", "bn-batchnotify"),
        ("Service", "bn-batchnotify-metrics"),
        ("ClusterRole", "bn-batchnotify-view"),
        ("ClusterRole", "bn-batchnotify-edit"),
        ("ClusterRole", "bn-batchnotify"),
    ] {
        let o = find(&manifest, kind, name);
        let ns = o["metadata"]["namespace"].as_str();
        let mut get = bed.kubectl();
        get.args(["get", kind, name]);
        if let Some(ns) = ns {
            get.args(["--namespace", ns]);
        }
        ok(&format!("{kind} {name} exists"), get, "");
    }

    // Application teams: edit creates, view reads and cannot create.
    let team = "team-a";
    ok(
        "namespace",
        with(bed.kubectl(), &["create", "namespace", team]),
        "",
    );
    rbac::aggregate_cluster_roles(&client).await;
    rbac::bind(&client, team, "alice", "edit").await;
    rbac::bind(&client, team, "bob", "view").await;
    rbac::users_reach_batchnotifications(bed, team, "alice", "bob").await;
    // One that stays, through the upgrade and the uninstall.
    let mut obj = support::example("existing-arns.yaml");
    obj["metadata"]["name"] = serde_json::json!("survivor");
    let bn: batchnotify::api::BatchNotification = serde_json::from_value(obj).expect("example");
    let api: Api<batchnotify::api::BatchNotification> =
        Api::namespaced(rbac::client_as(bed, "alice").await, team);
    api.create(&PostParams::default(), &bn)
        .await
        .expect("alice creates");

    // helm upgrade to a chart whose CRD gained a field updates the CRD.
    let field = "fieldOfTheNextRelease";
    let next = chart_with_new_field(field);
    let next = next.to_str().expect("utf-8 path").to_string();
    ok(
        "helm upgrade",
        helm(&[
            "upgrade",
            RELEASE,
            &next,
            "--namespace",
            NAMESPACE,
            "--reuse-values",
        ]),
        "",
    );
    let upgraded = eventually("the CRD upgraded", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let c = crd(&client).await?;
            spec_properties(&c)
                .contains(&field.to_string())
                .then_some(c)
        }
    })
    .await;
    assert!(spec_properties(&upgraded).contains(&"jobQueue".to_string()));
    let mut patched = serde_json::json!({"metadata": {"name": "survivor"}, "spec": {field: "set"}});
    patched["apiVersion"] = "batchnotify.dev/v1alpha1".into();
    patched["kind"] = "BatchNotification".into();
    let admin: Api<batchnotify::api::BatchNotification> = Api::namespaced(client.clone(), team);
    let raw: Api<kube::core::DynamicObject> = Api::namespaced_with(
        client.clone(),
        team,
        &kube::discovery::ApiResource::erase::<batchnotify::api::BatchNotification>(&()),
    );
    let with_field = raw
        .patch(
            "survivor",
            &kube::api::PatchParams::apply("install-test"),
            &kube::api::Patch::Apply(&patched),
        )
        .await
        .expect("the new field is accepted");
    assert_eq!(
        with_field.data["spec"][field], "set",
        "pruned: the CRD was not upgraded"
    );

    // helm uninstall: the operator goes; the CRD and the objects stay.
    ok(
        "helm uninstall",
        helm(&["uninstall", RELEASE, "--namespace", NAMESPACE]),
        "",
    );
    let (gone, _, _) = run(
        with(
            bed.kubectl(),
            &[
                "get",
                "deployment",
                "bn-batchnotify",
                "--namespace",
                NAMESPACE,
            ],
        ),
        "",
    );
    assert!(!gone, "the Deployment outlived the release");
    assert!(crd(&client).await.is_some(), "crds.keep: the CRD must stay");
    assert!(admin.get_opt("survivor").await.expect("read").is_some());
}
