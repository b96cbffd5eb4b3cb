//! Issue #7, deploy/: the kustomize base and overlays and the Helm chart apply
//! to the real API server, render the same objects, carry the CRD unchanged,
//! and the pod meets the restricted Pod Security Standard; the operator runs
//! and reconciles with nothing but its ServiceAccount's RBAC.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

use crate::support::{self, Ctx, eventually, example};

/// Where deploy/base puts the operator.
const NAMESPACE: &str = "batchnotify-system";
const SERVICE_ACCOUNT: &str = "batchnotify";
const CRD: &str = "crds/batchnotify.dev_batchnotifications.yaml";
const CHART: &str = "deploy/helm/batchnotify";

fn repo() -> PathBuf {
    batchnotify_testbed::repo_root()
}

fn tool_dir() -> PathBuf {
    batchnotify_testbed::Paths::from_env().controlplane_bin
}

/// `kubectl` with no cluster: rendering only.
fn kubectl_offline() -> Command {
    let mut cmd = Command::new(tool_dir().join("kubectl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", "/dev/null")
        .current_dir(repo());
    cmd
}

/// `helm`, built by controlplane/build.sh next to kubectl, with its own homes.
fn helm() -> Command {
    let bin = tool_dir().join("helm");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/testbed-deps.sh (controlplane/build.sh builds helm)",
        bin.display()
    );
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", "/dev/null")
        .current_dir(repo());
    cmd
}

/// Runs `cmd` with `stdin`; (success, stdout, stderr).
fn run(mut cmd: Command, stdin: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` and returns its stdout, or panics with its stderr.
fn ok(what: &str, cmd: Command, stdin: &str) -> String {
    let (success, stdout, stderr) = run(cmd, stdin);
    assert!(success, "{what} failed:\n{stderr}\n{stdout}");
    stdout
}

fn kubectl(args: &[&str]) -> Command {
    let mut cmd = support::bed().kubectl();
    cmd.args(args).current_dir(repo());
    cmd
}

/// Every object of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            let v: Value = serde::Deserialize::deserialize(doc).expect("yaml document");
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {} objects", objs.len()))
}

fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
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
        "deploy/helm/batchnotify/crds/batchnotify.dev_batchnotifications.yaml",
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
    assert!(
        !single.iter().any(|o| o["kind"] == "ClusterRoleBinding"),
        "single-namespace binds nothing cluster-wide"
    );
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
            "replicas=3",
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
    // One watched namespace: bound there, nothing cluster-wide.
    assert!(!objs.iter().any(|o| o["kind"] == "ClusterRoleBinding"));
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
        ("Role", "batchnotify-leader-election"),
    ] {
        assert_eq!(
            find(&base, kind, name)["rules"],
            find(&chart, kind, name)["rules"],
            "{kind} {name}"
        );
    }
    for (kind, name) in [
        ("ClusterRoleBinding", "batchnotify"),
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
