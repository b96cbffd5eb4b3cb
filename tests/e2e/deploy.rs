//! Issue #7, deploy/: the kustomize base and overlays and the Helm chart apply
//! to the real API server, render the same objects, carry the CRD unchanged,
//! and the pod meets the restricted Pod Security Standard; the operator runs
//! and reconciles with nothing but its ServiceAccount's RBAC.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

use crate::support::cli::{
    find, helm, kubectl_offline, numbers_as_f64, objects, ok, repo, run, with,
};
use crate::support::{self, Ctx, eventually, example, rbac};

/// Where deploy/base puts the operator.
const NAMESPACE: &str = "batchnotify-system";
const SERVICE_ACCOUNT: &str = "batchnotify";
const CRD: &str = "crds/batchnotify.dev_batchnotifications.yaml";
const CHART: &str = "deploy/helm/batchnotify";

fn kubectl(args: &[&str]) -> Command {
    let mut cmd = support::bed().kubectl();
    cmd.args(args).current_dir(repo());
    cmd
}

fn helm_template(release: &str, namespace: &str, values: &[&str]) -> String {
    let mut cmd = helm();
    cmd.args([
        "template",
        release,
        CHART,
        "--namespace",
        namespace,
        "--include-crds",
    ]);
    for v in values {
        cmd.args(["--set", v]);
    }
    ok("helm template", cmd, "")
}

/// deploy/base applied for real, once per bed: the namespace must exist for the
/// namespaced objects' dry runs, and the RBAC test needs the ServiceAccount.
/// There is no kubelet: the Deployment's pods are never scheduled.
fn install_base() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let (success, stdout, stderr) = run(kubectl(&["apply", "-k", "deploy/base"]), "");
        assert!(success, "kubectl apply -k deploy/base:\n{stderr}\n{stdout}");
        // The namespace's warn=restricted label makes the API server warn about
        // a Deployment whose pods would break the restricted profile.
        assert!(
            !stderr.contains("PodSecurity"),
            "deploy/base breaks the restricted profile:\n{stderr}"
        );
    });
}

fn ensure_namespace(name: &str) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    ok(
        "create namespace",
        kubectl(&["apply", "-f", "-"]),
        &ns.to_string(),
    );
}

#[test]
fn crd_copies_are_identical_to_crds_folder() {
    let want = std::fs::read(repo().join(CRD)).expect("read crds/");
    for copy in [
        "deploy/base/crd/batchnotify.dev_batchnotifications.yaml",
        "deploy/helm/batchnotify/files/batchnotify.dev_batchnotifications.yaml",
    ] {
        let got = std::fs::read(repo().join(copy)).unwrap_or_default();
        assert!(
            got == want,
            "{copy} differs from {CRD}: cp {CRD} {copy} (after `make crd`)"
        );
    }
}

#[tokio::test]
async fn kustomize_base_and_overlays_apply_and_the_pod_is_restricted() {
    install_base();
    ok(
        "kubectl apply --dry-run=server -k deploy/base",
        kubectl(&["apply", "--dry-run=server", "-k", "deploy/base"]),
        "",
    );
    ok(
        "kubectl apply --dry-run=server -k deploy/overlays/irsa",
        kubectl(&["apply", "--dry-run=server", "-k", "deploy/overlays/irsa"]),
        "",
    );
    ensure_namespace("team-a");
    ok(
        "kubectl apply --dry-run=server -k deploy/overlays/single-namespace",
        kubectl(&[
            "apply",
            "--dry-run=server",
            "-k",
            "deploy/overlays/single-namespace",
        ]),
        "",
    );

    let irsa = objects(&ok(
        "kustomize irsa",
        {
            let mut c = kubectl_offline();
            c.args(["kustomize", "deploy/overlays/irsa"]);
            c
        },
        "",
    ));
    let sa = find(&irsa, "ServiceAccount", SERVICE_ACCOUNT);
    assert!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::")),
        "{sa}"
    );
    let single = objects(&ok(
        "kustomize single-namespace",
        {
            let mut c = kubectl_offline();
            c.args(["kustomize", "deploy/overlays/single-namespace"]);
            c
        },
        "",
    ));
    // Bound cluster-wide: only the access stage's reads of the cluster-scoped
    // AccessGrants and Namespaces.
    assert_only_access_is_cluster_wide(&single);
    assert_eq!(
        find(&single, "RoleBinding", "batchnotify")["metadata"]["namespace"],
        "team-a"
    );

    // The Deployment's pod, created (dry run) where restricted is enforced.
    let base = objects(&ok(
        "kustomize base",
        {
            let mut c = kubectl_offline();
            c.args(["kustomize", "deploy/base"]);
            c
        },
        "",
    ));
    let template = &find(&base, "Deployment", "batchnotify")["spec"]["template"];
    let pod = |spec: &Value| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "restricted-probe", "namespace": NAMESPACE,
                         "labels": template["metadata"]["labels"]},
            "spec": spec,
        })
        .to_string()
    };
    ok(
        "a pod from deploy/base's template in a restricted namespace",
        kubectl(&["create", "--dry-run=server", "-f", "-"]),
        &pod(&template["spec"]),
    );
    // And the namespace does enforce it: the same pod, allowed to escalate, is refused.
    let mut loose = template["spec"].clone();
    loose["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let (success, _, stderr) = run(
        kubectl(&["create", "--dry-run=server", "-f", "-"]),
        &pod(&loose),
    );
    assert!(
        !success && stderr.contains("violates PodSecurity"),
        "{stderr}"
    );
}

#[tokio::test]
async fn helm_chart_renders_values_and_applies() {
    let ctx = Ctx::new("deploy-helm").await;
    ok(
        "helm lint --strict",
        {
            let mut c = helm();
            c.args(["lint", "--strict", CHART]);
            c
        },
        "",
    );

    let default = helm_template("batchnotify", &ctx.ns, &[]);
    ok(
        "helm template | kubectl apply --dry-run=server",
        kubectl(&["apply", "--dry-run=server", "-f", "-"]),
        &default,
    );

    let role = "arn:aws:iam::123456789012:role/batchnotify-operator";
    let sa_annotation = format!("serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}");
    let watch = format!("watchNamespace={}", ctx.ns);
    let rendered = helm_template(
        "bn",
        &ctx.ns,
        &[
            "replicaCount=3",
            "region=eu-west-1",
            "clusterName=prod",
            &sa_annotation,
            &watch,
        ],
    );
    ok(
        "helm template (values) | kubectl apply --dry-run=server",
        kubectl(&["apply", "--dry-run=server", "-f", "-"]),
        &rendered,
    );
    let objs = objects(&rendered);
    let deployment = find(&objs, "Deployment", "bn-batchnotify");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "--leader-election",
        "--default-region=eu-west-1",
        "--cluster-name=prod",
        &format!("--namespace={}", ctx.ns),
    ] {
        assert!(args.contains(&want), "{want} not in {args:?}");
    }
    assert!(
        container["env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|e| e["name"] == "AWS_REGION" && e["value"] == "eu-west-1"),
        "{container}"
    );
    assert_eq!(
        find(&objs, "ServiceAccount", "bn-batchnotify")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        role
    );
    // One watched namespace: bound there; cluster-wide only the access reads.
    assert_only_access_is_cluster_wide(&objs);
    assert_eq!(
        find(&objs, "RoleBinding", "bn-batchnotify")["metadata"]["namespace"],
        ctx.ns.as_str()
    );

    // Two replicas without leader election would both reconcile.
    let mut cmd = helm();
    cmd.args([
        "template",
        "bn",
        CHART,
        "--set",
        "leaderElection.enabled=false",
    ]);
    let (success, _, stderr) = run(cmd, "");
    assert!(
        !success && stderr.contains("needs leaderElection.enabled"),
        "{stderr}"
    );
}

#[test]
fn helm_chart_and_kustomize_base_render_the_same_objects() {
    let base = objects(&ok(
        "kustomize base",
        {
            let mut c = kubectl_offline();
            c.args(["kustomize", "deploy/base"]);
            c
        },
        "",
    ));
    let chart = objects(&helm_template("batchnotify", NAMESPACE, &[]));
    let ids = |objs: &[Value]| {
        let mut ids: Vec<String> = objs
            .iter()
            .filter(|o| o["kind"] != "Namespace")
            .map(|o| {
                format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["namespace"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&base), ids(&chart));

    // kustomize writes the CRD's `maximum: 100.0` as `100`: compare numbers by value.
    let crd = "batchnotifications.batchnotify.dev";
    assert!(
        numbers_as_f64(&find(&base, "CustomResourceDefinition", crd)["spec"])
            == numbers_as_f64(&find(&chart, "CustomResourceDefinition", crd)["spec"]),
        "the CRDs of the base and the chart differ"
    );
    for (kind, name) in [
        ("ClusterRole", "batchnotify"),
        ("ClusterRole", "batchnotify-access"),
        ("ClusterRole", "batchnotify-view"),
        ("ClusterRole", "batchnotify-edit"),
        ("Role", "batchnotify-leader-election"),
    ] {
        assert_eq!(
            find(&base, kind, name)["rules"],
            find(&chart, kind, name)["rules"],
            "{kind} {name}"
        );
    }
    for name in ["batchnotify-view", "batchnotify-edit"] {
        let aggregation = |objs: &[Value]| -> Vec<String> {
            let labels = find(objs, "ClusterRole", name)["metadata"]["labels"].clone();
            let mut found: Vec<String> = labels
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            found.sort();
            found
        };
        assert_eq!(aggregation(&base), aggregation(&chart), "{name}");
        assert!(!aggregation(&base).is_empty(), "{name} aggregates nowhere");
    }
    assert_eq!(
        find(&base, "PodDisruptionBudget", "batchnotify")["spec"]["maxUnavailable"],
        find(&chart, "PodDisruptionBudget", "batchnotify")["spec"]["maxUnavailable"]
    );
    assert_eq!(
        find(&base, "Service", "batchnotify-metrics")["spec"]["ports"],
        find(&chart, "Service", "batchnotify-metrics")["spec"]["ports"]
    );
    for (kind, name) in [
        ("ClusterRoleBinding", "batchnotify"),
        ("ClusterRoleBinding", "batchnotify-access"),
        ("RoleBinding", "batchnotify-leader-election"),
    ] {
        for field in ["roleRef", "subjects"] {
            assert_eq!(
                find(&base, kind, name)[field],
                find(&chart, kind, name)[field],
                "{kind} {name} {field}"
            );
        }
    }
    let pod = |objs: &[Value]| find(objs, "Deployment", "batchnotify")["spec"].clone();
    let (b, c) = (pod(&base), pod(&chart));
    assert_eq!(b["replicas"], c["replicas"]);
    for field in ["securityContext", "serviceAccountName"] {
        assert_eq!(
            b["template"]["spec"][field], c["template"]["spec"][field],
            "pod {field}"
        );
    }
    let (bc, cc) = (
        &b["template"]["spec"]["containers"][0],
        &c["template"]["spec"]["containers"][0],
    );
    for field in [
        "name",
        "image",
        "args",
        "env",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
    ] {
        assert_eq!(bc[field], cc[field], "container {field}");
    }
}

/// A process killed on drop.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kubectl auth can-i` for the operator's ServiceAccount: true for "yes".
/// `resource` is `type[/name][:subresource]`.
fn can_i(verb: &str, resource: &str, namespace: Option<&str>) -> bool {
    let user = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
    let (resource, subresource) = resource.split_once(':').unwrap_or((resource, ""));
    let mut cmd = kubectl(&["auth", "can-i", verb, resource, "--as", &user]);
    if !subresource.is_empty() {
        cmd.args(["--subresource", subresource]);
    }
    match namespace {
        Some(ns) => cmd.args(["--namespace", ns]),
        None => cmd.arg("--all-namespaces"),
    };
    let (_, stdout, stderr) = run(cmd, "");
    match stdout.trim() {
        "yes" => true,
        "no" => false,
        other => panic!("kubectl auth can-i {verb} {resource}: {other} {stderr}"),
    }
}

#[tokio::test]
async fn operator_reconciles_with_only_its_service_account_rbac() {
    let bed = support::bed();
    install_base();
    let ctx = Ctx::new("deploy-rbac").await;
    let stack = crate::testbed_aws::existing_stack(&ctx).await;

    // What the role does not grant.
    for (verb, resource, ns) in [
        ("list", "secrets", None),
        ("get", "configmaps", Some(ctx.ns.as_str())),
        ("create", "pods", Some(ctx.ns.as_str())),
        ("delete", "batchnotifications.batchnotify.dev", None),
        ("update", "batchnotifications.batchnotify.dev", None),
        (
            "create",
            "leases.coordination.k8s.io",
            Some(ctx.ns.as_str()),
        ),
        ("patch", "leases.coordination.k8s.io/other", Some(NAMESPACE)),
    ] {
        assert!(
            !can_i(verb, resource, ns),
            "the ServiceAccount may {verb} {resource}"
        );
    }
    assert!(can_i(
        "patch",
        "batchnotifications.batchnotify.dev:status",
        None
    ));
    assert!(!can_i(
        "update",
        "batchnotifications.batchnotify.dev:finalizers",
        None
    ));
    assert!(can_i(
        "patch",
        "leases.coordination.k8s.io/batchnotify",
        Some(NAMESPACE)
    ));

    // A kubeconfig holding nothing but a token of the ServiceAccount.
    let token = ok(
        "kubectl create token",
        kubectl(&[
            "create",
            "token",
            SERVICE_ACCOUNT,
            "--namespace",
            NAMESPACE,
            "--duration=1h",
        ]),
        "",
    );
    let kubeconfig = bed.log_dir.join(format!("{}.kubeconfig", ctx.ns));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bed\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: operator\n  user:\n    token: {}\ncontexts:\n- name: operator\n  context: {{cluster: bed, user: operator}}\ncurrent-context: operator\n",
            bed.api_server,
            bed.ca_cert.display(),
            token.trim()
        ),
    )
    .expect("write kubeconfig");

    let principal =
        support::Principal::create(&format!("op-{}", ctx.ns), &support::operator_policy());
    let identity = format!("deploy-rbac-{}", std::process::id());
    let port = batchnotify_testbed::free_port().expect("free port");
    let log = bed.log_dir.join(format!("operator-{}.log", ctx.ns));
    let out = std::fs::File::create(&log).expect("operator log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_batchnotify"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,batchnotify=debug")
        .envs(bed.env())
        .env("KUBECONFIG", &kubeconfig)
        .env("AWS_ACCESS_KEY_ID", &principal.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &principal.secret)
        .args(["run", "--namespace", &ctx.ns, "--cluster-name", "test"])
        .args(["--admin-addr", &format!("127.0.0.1:{port}")])
        .args(["--poll-min", "200ms", "--poll-max", "2s"])
        .args(["--leader-election", "--lease-namespace", NAMESPACE])
        .args(["--identity", &identity])
        .process_group(bed.process_group())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out);
    let _operator = Process(cmd.spawn().expect("spawn the operator"));

    let mut obj = example("existing-arns.yaml");
    obj["spec"]["jobQueue"] = json!({"arn": stack.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": stack.job_definition});
    obj["spec"]["topic"] = json!({"arn": stack.topic});
    let name = ctx.apply(&obj).await.name_any();
    let ready = ctx.wait_ready(&name).await;
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();

    // Each permission, used: the finalizer (patch), the status (patch on
    // status), an Event, the Lease.
    assert!(
        ready
            .finalizers()
            .contains(&batchnotify::controller::FINALIZER.to_string()),
        "{:?}",
        ready.finalizers()
    );
    assert!(
        ready
            .status
            .as_ref()
            .and_then(|s| s.state_machine_arn.as_ref())
            .is_some(),
        "no state machine in status"
    );
    let events = eventually("an Event", Duration::from_secs(20), || async {
        let e = ctx.events(&name).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    let lease = leases.get("batchnotify").await.expect("the Lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(identity.as_str())
    );

    // Removing the finalizer on delete is a patch too.
    ctx.api()
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    ctx.wait_gone(&name).await;

    let logs = logs();
    for refused in ["forbidden", "Forbidden", "could not publish event"] {
        assert!(
            !logs.contains(refused),
            "the operator was refused something ({refused}):\n{logs}"
        );
    }
    println!(
        "reconciled under the ServiceAccount's RBAC; events: {:?}",
        events.iter().map(|(r, _)| r).collect::<Vec<_>>()
    );
}

/// values.schema.json refuses unknown keys at every level: a typo fails the
/// render (and so `helm install`, which the install tests show against the
/// API server), and each documented knob does what it says.
#[test]
fn helm_values_are_strict_and_each_knob_renders() {
    for typo in [
        "replicas=3",
        "leaderElection.enable=false",
        "metrics.serviceMonitor.enable=true",
        "crds.keepp=true",
    ] {
        let (success, _, stderr) = run(with(helm(), &["template", "bn", CHART, "--set", typo]), "");
        let key = typo
            .split('=')
            .next()
            .and_then(|k| k.rsplit('.').next())
            .unwrap_or_default();
        assert!(
            !success && stderr.contains("additional properties") && stderr.contains(key),
            "--set {typo} was accepted or failed for another reason:\n{stderr}"
        );
    }

    let render = |values: &[&str]| objects(&helm_template("rel", "ops", values));
    let has = |objs: &[Value], kind: &str| objs.iter().any(|o| o["kind"] == kind);

    let default = render(&[]);
    assert!(has(&default, "PodDisruptionBudget"));
    assert!(!has(&default, "ServiceMonitor"), "opt-in only");
    let crd = find(
        &default,
        "CustomResourceDefinition",
        "batchnotifications.batchnotify.dev",
    );
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
        "{crd}"
    );
    let pod = &find(&default, "Deployment", "rel-batchnotify")["spec"]["template"]["spec"];
    assert!(
        pod["securityContext"].get("runAsUser").is_none(),
        "no fixed UID: {}",
        pod["securityContext"]
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // Event mode is on by default; each budget knob becomes its flag.
    let args = |objs: &[Value]| {
        find(objs, "Deployment", "rel-batchnotify")["spec"]["template"]["spec"]["containers"][0]
            ["args"]
            .clone()
    };
    assert!(
        args(&default)
            .as_array()
            .is_some_and(|a| a.contains(&Value::from("--events"))),
        "{}",
        args(&default)
    );
    let tuned = render(&[
        "events.enabled=false",
        "awsQuota.fraction=0.25",
        "awsQuota.scale=10",
    ]);
    let tuned = args(&tuned);
    let tuned: Vec<&str> = tuned
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(!tuned.contains(&"--events"), "{tuned:?}");
    assert!(tuned.contains(&"--aws-quota-fraction=0.25"), "{tuned:?}");
    assert!(tuned.contains(&"--aws-quota-scale=10"), "{tuned:?}");

    let one = render(&["replicaCount=1"]);
    assert_eq!(
        find(&one, "Deployment", "rel-batchnotify")["spec"]["replicas"],
        1
    );
    assert!(
        !has(&one, "PodDisruptionBudget"),
        "a PDB of one replica blocks drains"
    );

    let monitored = render(&["metrics.serviceMonitor.enabled=true"]);
    let monitor = find(&monitored, "ServiceMonitor", "rel-batchnotify");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["honorLabels"], true,
        "{monitor}"
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "admin");
    let service = find(&monitored, "Service", "rel-batchnotify-metrics");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("selector")
    {
        assert_eq!(
            &service["metadata"]["labels"][k], v,
            "the ServiceMonitor selects the Service"
        );
    }

    let no_crd = render(&["crds.enabled=false", "rbac.aggregateToDefaultRoles=false"]);
    assert!(!has(&no_crd, "CustomResourceDefinition"));
    assert!(
        !no_crd
            .iter()
            .any(|o| o["metadata"]["name"] == "rel-batchnotify-edit")
    );
    let unkept = render(&["crds.keep=false"]);
    assert!(
        find(
            &unkept,
            "CustomResourceDefinition",
            "batchnotifications.batchnotify.dev"
        )["metadata"]
            .get("annotations")
            .is_none()
    );

    let renamed = render(&["fullnameOverride=ops-bn"]);
    assert!(
        renamed
            .iter()
            .any(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "ops-bn")
    );
    let short = render(&["nameOverride=notify"]);
    let deployment = find(&short, "Deployment", "rel-notify");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "notify"
    );

    // A platform that assigns UIDs, and a container context of one's own.
    let custom = render(&[
        "podSecurityContext.runAsUser=1000700000",
        "securityContext.readOnlyRootFilesystem=false",
    ]);
    let pod = &find(&custom, "Deployment", "rel-batchnotify")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 1000700000);
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        false
    );
}

/// The chart's README lists every value of values.yaml.
#[test]
fn chart_readme_lists_every_value() {
    fn leaves(prefix: &str, v: &serde_yaml::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) if !m.is_empty() => {
                for (k, v) in m {
                    let k = k.as_str().unwrap_or_default();
                    let path = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    // Free-form Kubernetes fields are documented as a whole.
                    if ["resources", "podSecurityContext", "securityContext"].contains(&k) {
                        out.push(path);
                    } else {
                        leaves(&path, v, out);
                    }
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let values: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("values.yaml")).expect("values.yaml"),
    )
    .expect("values yaml");
    let readme =
        std::fs::read_to_string(repo().join(CHART).join("README.md")).expect("chart README.md");
    let mut keys = Vec::new();
    leaves("", &values, &mut keys);
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !readme.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the chart's README.md: {missing:?}"
    );
}

/// Users holding only a namespace's built-in `edit` role create
/// BatchNotifications there; `view` reads them and cannot create one. The
/// rules come from deploy/base's aggregated ClusterRoles.
#[tokio::test]
async fn namespace_edit_and_view_users_reach_batchnotifications() {
    install_base();
    let ctx = Ctx::new("deploy-roles").await;
    rbac::aggregate_cluster_roles(&ctx.client).await;
    let (editor, viewer) = (format!("{}-editor", ctx.ns), format!("{}-viewer", ctx.ns));
    rbac::bind(&ctx.client, &ctx.ns, &editor, "edit").await;
    rbac::bind(&ctx.client, &ctx.ns, &viewer, "view").await;
    rbac::users_reach_batchnotifications(support::bed(), &ctx.ns, &editor, &viewer).await;
}

/// The Dockerfile passes hadolint (from PyPI, built by tools/build.sh).
#[test]
fn dockerfile_passes_hadolint() {
    let out = ok(
        "hadolint Dockerfile",
        with(
            support::cli::checker("hadolint"),
            &["--no-color", "Dockerfile"],
        ),
        "",
    );
    assert!(out.trim().is_empty(), "{out}");
}

/// `make image` builds with whichever builder it finds, and says so clearly
/// when it finds none (no builder runs here: a stand-in records its arguments).
#[test]
fn make_image_uses_the_builder_it_finds() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-builders");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let script = |path: &std::path::Path| {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/image.sh"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", path.display()))
            .env("IMAGE", "registry.example/batchnotify:test")
            .current_dir(repo());
        cmd
    };
    let (success, _, stderr) = run(script(&dir), "");
    assert!(
        !success && stderr.contains("no usable image builder"),
        "{stderr}"
    );

    let record = dir.join("podman.args");
    let podman = dir.join("podman");
    std::fs::write(
        &podman,
        format!("#!/bin/sh\necho \"$@\" > {}\n", record.display()),
    )
    .expect("write podman");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    ok("scripts/image.sh with podman", script(&dir), "");
    let args = std::fs::read_to_string(&record).expect("podman was run");
    assert_eq!(
        args.trim(),
        "build --format docker --file Dockerfile --tag registry.example/batchnotify:test ."
    );
}

/// The only ClusterRoleBinding in `objs` is the access stage's, and its
/// ClusterRole only lists and watches AccessGrants and Namespaces.
fn assert_only_access_is_cluster_wide(objs: &[Value]) {
    let bindings: Vec<&Value> = objs
        .iter()
        .filter(|o| o["kind"] == "ClusterRoleBinding")
        .collect();
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    let role = bindings[0]["roleRef"]["name"].as_str().unwrap_or_default();
    assert!(role.ends_with("-access"), "{role}");
    let rules = &find(objs, "ClusterRole", role)["rules"];
    assert_eq!(
        rules,
        &json!([
            {"apiGroups": ["batchnotify.dev"], "resources": ["accessgrants"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        ]),
        "{role}"
    );
}
