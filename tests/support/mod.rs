//! Test support: one test bed (etcd + kube-apiserver + moto, see the
//! `batchnotify-testbed` crate) per test binary, and a [`Ctx`] per test with
//! its own namespace, AWS name prefix, kube client and AWS SDK configuration.
//!
//! The bed's processes are reaped by its guard when the test binary exits,
//! however it exits. Their logs stay under `target/tmp/testbed-logs/`.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;
use batchnotify_testbed::{REGION, TestBed};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

#[allow(unused_imports)] // not every test binary fails jobs on purpose
pub use batchnotify_testbed::{FAIL_MARKER, HOLD_MARKER};

static BED: OnceLock<TestBed> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The test binary's bed, started on first use, with the repository's CRD.
pub fn bed() -> &'static TestBed {
    bed_with(true)
}

/// The test binary's bed; `install_crd: false` leaves the CRD to the test (the
/// chart installs its own). Every test of a binary must ask the same way.
pub fn bed_with(with_crd: bool) -> &'static TestBed {
    BED.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_deref()
            .and_then(Path::file_stem)
            .and_then(|s| s.to_str())
            .unwrap_or("tests")
            .to_string();
        // Per process: test binaries running at once must not share (and wipe) logs.
        let runs = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("testbed-logs")
            .join(name);
        prune_old_runs(&runs, 5);
        let logs = runs.join(std::process::id().to_string());
        let bed = match TestBed::start(&logs) {
            Ok(bed) => bed,
            Err(e) => panic!("the test bed did not start: {e}"),
        };
        if with_crd {
            install_crd(&bed);
        }
        bed
    })
}

/// Keeps the newest `keep` log folders of earlier runs.
fn prune_old_runs(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut runs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    for (_, path) in runs.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// A job queue (on an UNMANAGED compute environment, with its service role)
/// and a container job definition, made by hand the way a user's existing ones
/// would be: `(queue ARN, job definition ARN)`. Names start with `prefix`.
pub async fn batch_stack(aws: &SdkConfig, prefix: &str, job_definition: &str) -> (String, String) {
    batch_stack_in(aws, None, prefix, job_definition).await
}

/// The emulator's root user acting in another account: every request
/// carries `x-moto-account-id` (emulator/strict_access.py, "Accounts"), as
/// a test fixture made by that account's own admin.
#[derive(Debug, Clone)]
pub struct ActAs(pub String);

impl aws_sdk_sfn::config::Intercept for ActAs {
    fn name(&self) -> &'static str {
        "ActAs"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_sfn::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sfn::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// Clients of the emulator's root user in `account` (the bed's own when `None`).
pub struct Root {
    pub iam: aws_sdk_iam::Client,
    pub batch: aws_sdk_batch::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
}

impl Root {
    pub fn new(aws: &SdkConfig, account: Option<&str>) -> Root {
        macro_rules! client {
            ($sdk:ident) => {{
                let mut b = $sdk::config::Builder::from(aws);
                if let Some(a) = account {
                    b = b.interceptor(ActAs(a.to_string()));
                }
                $sdk::Client::from_conf(b.build())
            }};
        }
        Root {
            iam: client!(aws_sdk_iam),
            batch: client!(aws_sdk_batch),
            sns: client!(aws_sdk_sns),
            sqs: client!(aws_sdk_sqs),
            sfn: client!(aws_sdk_sfn),
        }
    }
}

/// [`batch_stack`] in `account` (the bed's own when `None`).
pub async fn batch_stack_in(
    aws: &SdkConfig,
    account: Option<&str>,
    prefix: &str,
    job_definition: &str,
) -> (String, String) {
    use aws_sdk_batch::types::{
        CeState, CeType, ComputeEnvironmentOrder, ContainerProperties, JobDefinitionType, JqState,
        ResourceRequirement, ResourceType,
    };
    let Root { batch, iam, .. } = Root::new(aws, account);
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]});
    let role = iam
        .create_role()
        .role_name(format!("{prefix}-batch"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create the compute environment's service role");
    let ce = batch
        .create_compute_environment()
        .compute_environment_name(format!("{prefix}-ce"))
        .r#type(CeType::Unmanaged)
        .state(CeState::Enabled)
        .service_role(role.role().map(|r| r.arn()).unwrap_or_default())
        .send()
        .await
        .expect("create compute environment");
    // Batch takes a queue only on a VALID compute environment, and a new one
    // is CREATING for a while (the strict emulator too).
    let ce_arn = ce.compute_environment_arn().unwrap_or_default().to_string();
    wait_valid(&batch, BatchKind::ComputeEnvironment, &ce_arn).await;
    let queue = batch
        .create_job_queue()
        .job_queue_name(format!("{prefix}-queue"))
        .state(JqState::Enabled)
        .priority(1)
        .compute_environment_order(
            ComputeEnvironmentOrder::builder()
                .order(1)
                .compute_environment(ce.compute_environment_arn().unwrap_or_default())
                .build(),
        )
        .send()
        .await
        .expect("create job queue");
    let queue_arn = queue.job_queue_arn().unwrap_or_default().to_string();
    wait_valid(&batch, BatchKind::JobQueue, &queue_arn).await;
    let requirement =
        |t: ResourceType, v: &str| ResourceRequirement::builder().r#type(t).value(v).build();
    let def = batch
        .register_job_definition()
        .job_definition_name(format!("{prefix}-{job_definition}"))
        .r#type(JobDefinitionType::Container)
        .container_properties(
            ContainerProperties::builder()
                .image("busybox")
                .command("echo")
                .command("hello")
                .resource_requirements(requirement(ResourceType::Vcpu, "1"))
                .resource_requirements(requirement(ResourceType::Memory, "2048"))
                .build(),
        )
        .send()
        .await
        .expect("register job definition");
    (
        queue_arn,
        def.job_definition_arn().unwrap_or_default().to_string(),
    )
}

#[derive(Clone, Copy, Debug)]
enum BatchKind {
    ComputeEnvironment,
    JobQueue,
}

/// Waits until a Batch compute environment or job queue is VALID.
async fn wait_valid(batch: &aws_sdk_batch::Client, kind: BatchKind, arn: &str) {
    eventually(
        &format!("{kind:?} {arn} to be VALID"),
        Duration::from_secs(120),
        || {
            let (batch, arn) = (batch.clone(), arn.to_string());
            async move {
                let status = match kind {
                    BatchKind::ComputeEnvironment => batch
                        .describe_compute_environments()
                        .compute_environments(&arn)
                        .send()
                        .await
                        .ok()?
                        .compute_environments()
                        .first()?
                        .status()
                        .map(|s| s.as_str().to_string()),
                    BatchKind::JobQueue => batch
                        .describe_job_queues()
                        .job_queues(&arn)
                        .send()
                        .await
                        .ok()?
                        .job_queues()
                        .first()?
                        .status()
                        .map(|s| s.as_str().to_string()),
                };
                (status? == "VALID").then_some(())
            }
        },
    )
    .await;
}

/// The names of `machine`'s executions (with `status`, or all), across every
/// page: AWS (and the strict emulator) answers in pages.
pub async fn execution_names(
    aws: &SdkConfig,
    machine: &str,
    status: Option<aws_sdk_sfn::types::ExecutionStatus>,
) -> Vec<String> {
    let sfn = aws_sdk_sfn::Client::new(aws);
    let mut names = Vec::new();
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(machine)
        .set_status_filter(status)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list executions");
        names.extend(page.executions().iter().map(|e| e.name().to_string()));
    }
    names
}

/// Runs `call` until Step Functions stops answering that it cannot yet
/// assume a new role (IAM is eventually consistent, on AWS and in the strict
/// emulator): what any tool creating a role and a state machine must do.
pub async fn while_role_propagates<T, E, F, Fut>(what: &str, mut call: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let start = std::time::Instant::now();
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e)
                if format!("{e:?}").contains("authorized to assume")
                    && start.elapsed() < Duration::from_secs(60) =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{what}: {e:?}"),
        }
    }
}

/// A path in the repository.
pub fn repo(relative: &str) -> std::path::PathBuf {
    batchnotify_testbed::repo_root().join(relative)
}

/// The files in `dir` (relative to the repository) whose names end in
/// `suffix`, sorted (a stable report).
pub fn files(dir: &str, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    found.sort();
    found
}

/// A file's name, for reports.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// The repository's CRDs (BatchNotification, AccessGrant), applied once per
/// bed, and established.
fn install_crd(bed: &TestBed) {
    for (file, name) in [
        (
            "crds/batchnotify.dev_batchnotifications.yaml",
            "crd/batchnotifications.batchnotify.dev",
        ),
        (
            "crds/batchnotify.dev_accessgrants.yaml",
            "crd/accessgrants.batchnotify.dev",
        ),
    ] {
        let crd = batchnotify_testbed::repo_root().join(file);
        let out = bed
            .kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(&crd)
            .output()
            .expect("run kubectl apply");
        assert!(
            out.status.success(),
            "apply CRD {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_established(bed, name);
    }
}

/// Polls the CRD until its Established condition is True (30 s at most).
/// Not `kubectl wait --for=condition=Established`: on a CRD whose status has
/// no conditions yet (moments after the apply) it fails at once with
/// ".status.conditions accessor error: <nil> is of the type <nil>" instead of
/// waiting (https://github.com/pingcap/tidb-operator/pull/1511 met the same).
pub fn wait_established(bed: &TestBed, name: &str) {
    let jsonpath = r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let out = bed
            .kubectl()
            .args(["get", name, "-o", jsonpath])
            .output()
            .expect("run kubectl get");
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "True" {
            return;
        }
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("CRD {name} not Established within 30 s: {last}");
}

/// A plain HTTP/1.0 GET or DELETE on loopback (the emulator's own endpoints,
/// the operator's admin server); `None` when nothing answers.
pub fn try_http(method: &str, url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// [`try_http`], which must answer.
pub fn http(method: &str, url: &str) -> String {
    try_http(method, url).unwrap_or_else(|| panic!("nothing answered {method} {url}"))
}

/// Requests the emulator counted for `access_key`, as "service:Operation" → count.
pub fn emulator_requests(access_key: &str) -> std::collections::BTreeMap<String, u64> {
    let body = http(
        "GET",
        &format!("{}/_batchnotify/requests", bed().aws_endpoint),
    );
    let all: serde_json::Value = serde_json::from_str(&body).expect("request counts json");
    all.get(access_key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Requests the strict emulator throttled, summed over every access key, as
/// "service:Operation" → count.
pub fn emulator_throttles() -> std::collections::BTreeMap<String, u64> {
    let body = http(
        "GET",
        &format!("{}/_batchnotify/throttles", bed().aws_endpoint),
    );
    let all: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        serde_json::from_str(&body).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    for per_key in all.into_values() {
        for (op, n) in per_key {
            *out.entry(op).or_insert(0) += n;
        }
    }
    out
}

/// Writes among counted requests: everything but Describe/Get/List.
pub fn writes(counts: &std::collections::BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(k, _)| {
            let op = k.split(':').nth(1).unwrap_or("");
            !(op.starts_with("Describe") || op.starts_with("Get") || op.starts_with("List"))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The default VPC's subnets and security groups in the emulator.
pub fn default_network() -> (Vec<String>, Vec<String>) {
    let body = http(
        "GET",
        &format!(
            "{}/_batchnotify/network?region={REGION}",
            bed().aws_endpoint
        ),
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("network json");
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    (list("subnets"), list("securityGroupIds"))
}

/// One test's slice of the bed.
pub struct Ctx {
    /// A fresh namespace (namespaces never finish deleting here: no controller-manager).
    pub ns: String,
    /// A short prefix unique to this test, for AWS names the test makes itself.
    pub prefix: String,
    pub client: kube::Client,
    pub aws: SdkConfig,
}

impl Ctx {
    pub async fn new(test: &str) -> Ctx {
        let bed = bed();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut ns: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        ns.truncate(50);
        let ns = format!("{}-{n}", ns.trim_matches('-'));
        let client = kube_client(bed).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let obj: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": ns}
        }))
        .expect("namespace literal");
        namespaces
            .create(&PostParams::default(), &obj)
            .await
            .expect("create namespace");
        Ctx {
            prefix: format!("t{n}{}", std::process::id() % 10_000),
            ns,
            client,
            aws: aws_config(bed).await,
        }
    }

    /// Starts the operator binary for this test's namespace, with its own AWS
    /// access key so that the emulator counts its calls apart.
    pub fn operator(&self, extra: &[&str]) -> Operator {
        Operator::start(&self.ns, &format!("op-{}", self.ns), extra)
    }

    /// `kubectl` against the bed, in this test's namespace.
    pub fn kubectl(&self) -> Command {
        let mut cmd = bed().kubectl();
        cmd.arg("--namespace").arg(&self.ns);
        cmd
    }
}

pub async fn kube_client(bed: &TestBed) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&bed.kubeconfig).expect("read the bed's kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config from the bed's kubeconfig");
    kube::Client::try_from(config).expect("kube client")
}

/// The SDK pointed at the emulator, built explicitly: the machine's own AWS
/// settings (AWS_CA_BUNDLE, profiles) must not leak in.
pub async fn aws_config(bed: &TestBed) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(batchnotify::aws::http_client())
        .region(Region::new(REGION))
        .endpoint_url(&bed.aws_endpoint)
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "testbed",
        ))
        .load()
        .await
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a timed-out wait last saw of an object: its generation and status.
fn describe(o: &BatchNotification) -> String {
    let status = serde_json::to_string(&o.status).unwrap_or_default();
    format!(
        "uid={} generation={} status={status}",
        o.metadata.uid.as_deref().unwrap_or("-"),
        o.metadata.generation.unwrap_or_default()
    )
}

/// The operator's own IAM user in the emulator: its only policy is the one
/// the project ships (`deploy/iam/operator-policy.json`), or `policy` when a
/// test narrows it. The strict emulator enforces it, as AWS would.
pub struct Principal {
    pub user: String,
    pub access_key: String,
    pub secret: String,
}

/// The previous release (tests/upgrade/previous-release), as
/// scripts/previous-release.sh built it: its commit, binary and CRD.
pub struct Release {
    pub commit: String,
    pub bin: std::path::PathBuf,
    pub crd: std::path::PathBuf,
}

pub fn previous_release() -> Release {
    let named = std::fs::read_to_string(repo("tests/upgrade/previous-release"))
        .expect("read tests/upgrade/previous-release");
    let commit = named
        .lines()
        .find_map(|l| l.strip_prefix("commit:"))
        .map(|c| c.trim().to_string())
        .expect("tests/upgrade/previous-release names a commit");
    let cache = std::env::var_os("BATCHNOTIFY_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/batchnotify")))
        .expect("BATCHNOTIFY_CACHE or HOME");
    let dir = cache.join(format!("release-{commit}"));
    let release = Release {
        bin: dir.join("batchnotify"),
        crd: dir.join("crd.yaml"),
        commit,
    };
    assert!(
        release.bin.exists() && release.crd.exists(),
        "the previous release is not built in {}: run scripts/previous-release.sh (make test does)",
        dir.display()
    );
    release
}

/// The operator policy the project ships, as JSON.
pub fn operator_policy() -> serde_json::Value {
    let text = std::fs::read_to_string(repo("deploy/iam/operator-policy.json"))
        .expect("read deploy/iam/operator-policy.json");
    serde_json::from_str(&text).expect("operator policy json")
}

/// `policy` without `action` in any statement (a statement left with no
/// action goes): a permission the operator lacks.
pub fn policy_without(policy: &serde_json::Value, action: &str) -> serde_json::Value {
    let mut policy = policy.clone();
    if let Some(statements) = policy["Statement"].as_array_mut() {
        for st in statements.iter_mut() {
            if let Some(actions) = st["Action"].as_array_mut() {
                actions.retain(|a| a.as_str() != Some(action));
            }
        }
        statements.retain(|st| st["Action"].as_array().is_none_or(|a| !a.is_empty()));
    }
    policy
}

/// Runs `f` on a runtime of its own: the operator is started from sync code
/// that may itself run inside a test's runtime.
fn block_on<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(f)
            })
            .join()
            .expect("thread")
    })
}

impl Principal {
    /// Creates (or, when it exists, reuses) the user `user` with `policy` and a new access key.
    pub fn create(user: &str, policy: &serde_json::Value) -> Principal {
        block_on(async {
            let aws = aws_config(bed()).await;
            let iam = aws_sdk_iam::Client::new(&aws);
            // A restarted test binary may meet its own user again: that is fine.
            let _ = iam.create_user().user_name(user).send().await;
            set_policy_of(&iam, user, policy).await;
            let key = iam
                .create_access_key()
                .user_name(user)
                .send()
                .await
                .expect("create access key");
            let key = key.access_key().expect("access key");
            Principal {
                user: user.to_string(),
                access_key: key.access_key_id().to_string(),
                secret: key.secret_access_key().to_string(),
            }
        })
    }
}

async fn set_policy_of(iam: &aws_sdk_iam::Client, user: &str, policy: &serde_json::Value) {
    iam.put_user_policy()
        .user_name(user)
        .policy_name("batchnotify-operator")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("put user policy");
}

/// A running operator process; killed on drop.
pub struct Operator {
    pub child: std::process::Child,
    /// The IAM user the operator runs as (also names its logs).
    pub user: String,
    /// Its access key: the emulator counts requests by it.
    pub access_key: String,
    /// Its secret key.
    pub secret: String,
    pub admin: String,
    pub log: std::path::PathBuf,
    args: Vec<String>,
    /// Extra environment on top of the bed's (see [`Operator::start_with_env`]).
    env: Vec<(String, String)>,
    /// The binary it runs: this build's, or another release's.
    bin: std::path::PathBuf,
}

impl Operator {
    pub fn start(ns: &str, access_key: &str, extra: &[&str]) -> Operator {
        Operator::start_with_env(ns, access_key, extra, &[])
    }

    /// As [`Operator::start`], with `env` on top of the bed's environment, kept
    /// across [`Operator::restart`]: e.g. `AWS_ENDPOINT_URL` of a fault proxy.
    pub fn start_with_env(ns: &str, user: &str, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        Operator::start_as(ns, Principal::create(user, &operator_policy()), extra, env)
    }

    /// As [`Operator::start_with_env`], as a principal the test made (e.g.
    /// with a narrowed policy).
    pub fn start_as(
        ns: &str,
        principal: Principal,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let bin = Path::new(env!("CARGO_BIN_EXE_batchnotify"));
        Operator::start_binary(bin, ns, principal, extra, env)
    }

    /// As [`Operator::start_as`], running `bin` (e.g. [`previous_release`]'s).
    pub fn start_binary(
        bin: &Path,
        ns: &str,
        principal: Principal,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let port = batchnotify_testbed::free_port().expect("free port");
        let mut args: Vec<String> = vec![
            "run".into(),
            "--namespace".into(),
            ns.into(),
            "--cluster-name".into(),
            "test".into(),
            "--admin-addr".into(),
            format!("127.0.0.1:{port}"),
            "--poll-min".into(),
            "200ms".into(),
            "--poll-max".into(),
            "2s".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let Principal {
            user,
            access_key,
            secret,
        } = principal;
        let bin = bin.to_path_buf();
        Operator {
            child: spawn_operator(&bin, (&user, &access_key, &secret), &args, &env, 0),
            log: log_path(&user, 0),
            user,
            access_key,
            secret,
            admin: format!("http://127.0.0.1:{port}"),
            args,
            env,
            bin,
        }
    }

    /// Replaces the operator's IAM policy (IAM applies it to the next request).
    pub async fn set_policy(&self, policy: &serde_json::Value) {
        let aws = aws_config(bed()).await;
        set_policy_of(&aws_sdk_iam::Client::new(&aws), &self.user, policy).await;
    }

    /// SIGKILL, then start again with the same flags (a crash and a restart).
    pub fn restart(&mut self, generation: usize) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_operator(
            &self.bin,
            (&self.user, &self.access_key, &self.secret),
            &self.args,
            &self.env,
            generation,
        );
        self.log = log_path(&self.user, generation);
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as Kubernetes stops a pod, and waits for the exit (the
    /// operator hands its lease back on the way out).
    pub fn stop(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "SIGTERM to the operator");
        let status = self.child.wait().expect("wait for the operator");
        assert!(
            status.success(),
            "the operator exits 0 on SIGTERM: {status}"
        );
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its /metrics text (empty while it does not answer).
    pub fn metrics(&self) -> String {
        try_http("GET", &format!("{}/metrics", self.admin)).unwrap_or_default()
    }

    /// Reconciles this process has finished, whatever their result (0 while it
    /// does not answer, and after a restart until its first one ends).
    pub fn reconciles(&self) -> u64 {
        counter_sum(&self.metrics(), "batchnotify_reconciles_total")
    }

    /// Waits until this process has finished more than `n` reconciles: the
    /// event an absence assertion waits for ("nothing more happened" holds
    /// only once the operator has looked again since).
    pub async fn reconciled_beyond(&self, n: u64) {
        eventually(
            &format!("the operator to finish reconcile {}", n + 1),
            Duration::from_secs(60),
            || async { (self.reconciles() > n).then_some(()) },
        )
        .await
    }

    /// The emulator's count of this operator's requests, read at a moment
    /// when it equals the operator's own count of requests sent
    /// (`batchnotify_aws_requests_sent_total` unchanged across the read): no
    /// request on its way, so a later difference is calls made after it.
    pub async fn settled_requests(&self) -> std::collections::BTreeMap<String, u64> {
        eventually(
            "the emulator's and the operator's request counts to agree",
            Duration::from_secs(60),
            || async {
                let before = counter_sum(&self.metrics(), "batchnotify_aws_requests_sent_total");
                let arrived = emulator_requests(&self.access_key);
                let after = counter_sum(&self.metrics(), "batchnotify_aws_requests_sent_total");
                (before == after && arrived.values().sum::<u64>() == after).then_some(arrived)
            },
        )
        .await
    }
}

/// The sum of a counter family's series in a Prometheus text exposition.
pub fn counter_sum(metrics: &str, family: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what the operator last complained about.
        if std::thread::panicking() {
            let logs = self.logs();
            let complaints: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            eprintln!(
                "--- operator {}: last warnings of {} ---",
                self.user,
                self.log.display()
            );
            for line in &complaints[complaints.len().saturating_sub(30)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// One log per operator process, named by its IAM user (unique per operator) and restart.
fn log_path(user: &str, generation: usize) -> std::path::PathBuf {
    bed()
        .log_dir
        .join(format!("operator-{user}-{generation}.log"))
}

fn spawn_operator(
    bin: &Path,
    (user, access_key, secret): (&str, &str, &str),
    args: &[String],
    env: &[(String, String)],
    generation: usize,
) -> std::process::Child {
    let bed = bed();
    let log = std::fs::File::create(log_path(user, generation)).expect("operator log");
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,batchnotify=debug")
        .env("RUST_BACKTRACE", "1");
    for (k, v) in bed.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .process_group(bed.process_group())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log);
    cmd.spawn().expect("spawn the operator")
}

// ---------------------------------------------------------------- BatchNotifications

use batchnotify::api::BatchNotification;
use kube::api::{Patch, PatchParams};

/// An example manifest from `examples/`, as JSON, with the emulator's real
/// subnet and security group put in for the placeholders.
pub fn example(file: &str) -> serde_json::Value {
    let path = batchnotify_testbed::repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).expect("read example");
    let mut v: serde_json::Value = serde_yaml::from_str(&text).expect("example yaml");
    if let Some(ce) = v.pointer_mut("/spec/jobQueue/managed/computeEnvironment/managed") {
        let (subnets, groups) = default_network();
        ce["subnets"] = serde_json::json!(subnets[..1]);
        ce["securityGroupIds"] = serde_json::json!(groups[..1]);
    }
    v
}

impl Ctx {
    pub fn api(&self) -> Api<BatchNotification> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Server-side apply as a user would (`kubectl apply --server-side`).
    pub async fn apply(&self, obj: &serde_json::Value) -> BatchNotification {
        let name = obj["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_string();
        self.api()
            .patch(
                &name,
                &PatchParams::apply("test-user").force(),
                &Patch::Apply(obj),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    /// POST the manifest as it is, as `kubectl create --validate=strict` does:
    /// a misspelt field is an error, not silently pruned (which could make a
    /// case pass or fail for the wrong reason).
    pub async fn create_strict(
        &self,
        obj: &serde_json::Value,
    ) -> Result<serde_json::Value, kube::Error> {
        use kube::Resource;
        let url = BatchNotification::url_path(&(), Some(&self.ns));
        let body = serde_json::to_vec(obj).expect("manifest json");
        let mut request = kube::core::Request::new(url)
            .create(&PostParams::default(), body)
            .expect("create request");
        let uri = format!("{}fieldValidation=Strict", request.uri());
        *request.uri_mut() = uri.parse().expect("create uri");
        self.client.request(request).await
    }

    /// Waits until `check` holds for the object (or panics after `limit`).
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        limit: Duration,
        check: impl Fn(&BatchNotification) -> bool,
    ) -> BatchNotification {
        let api = self.api();
        let start = std::time::Instant::now();
        loop {
            let last = match api.get_opt(name).await {
                Ok(Some(o)) if check(&o) => return o,
                Ok(Some(o)) => describe(&o),
                Ok(None) => "absent".into(),
                Err(e) => format!("read failed: {e}"),
            };
            if start.elapsed() > limit {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_ready(&self, name: &str) -> BatchNotification {
        self.wait(
            name,
            "Ready=True for the current generation",
            Duration::from_secs(60),
            |o| {
                let s = o.status.clone().unwrap_or_default();
                s.observed_generation == o.metadata.generation
                    && batchnotify::api::conditions::is_true(&s.conditions, "Ready")
            },
        )
        .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let api = self.api();
        eventually("the object to be deleted", Duration::from_secs(60), || {
            let api = api.clone();
            async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await
    }

    /// The condition of `type_` in status, if any.
    pub fn condition(obj: &BatchNotification, type_: &str) -> Option<(String, String, String)> {
        obj.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    }

    /// Every Event of this namespace.
    pub async fn all_events(
        &self,
    ) -> Result<Vec<k8s_openapi::api::events::v1::Event>, kube::Error> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        api.list(&Default::default()).await.map(|l| l.items)
    }

    /// The Events about `name` in this namespace (none when the list fails:
    /// callers poll).
    pub async fn events_about(&self, name: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        self.all_events()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect()
    }

    /// Events about `name` in this namespace: (reason, note).
    pub async fn events(&self, name: &str) -> Vec<(String, String)> {
        self.events_about(name)
            .await
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// The reasons of the Warning Events about `name`.
    pub async fn warnings(&self, name: &str) -> Vec<String> {
        self.events_about(name)
            .await
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .filter_map(|e| e.reason)
            .collect()
    }
}

/// An SQS queue to subscribe to the managed topic: (url, arn).
pub async fn subscriber(ctx: &Ctx, name: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let url = sqs
        .create_queue()
        .queue_name(format!("{}-{name}", ctx.prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    (url, arn)
}

/// The notification texts delivered to the queue (out of SNS's envelope).
pub async fn delivered(ctx: &Ctx, url: &str, at_least: usize) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let mut out = Vec::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in got.messages() {
            if let Some(receipt) = m.receipt_handle() {
                // Read once: a later call sees only what came after.
                let _ = sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await;
            }
            let body = m.body().unwrap_or_default();
            let text = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.to_string());
            out.push(text);
        }
        if out.len() >= at_least {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------- reliability (issue #8)

/// Fault-injecting proxies between the operator and the emulator or the API server.
pub mod faults;

/// kubectl, helm and the checkers of `tools/`.
pub mod cli;
/// Users bound to the built-in namespace roles, impersonated.
pub mod rbac;

impl Operator {
    /// The logs of every generation of this operator (each restart writes its own file).
    pub fn all_logs(&self) -> String {
        let prefix = format!("operator-{}-", self.user);
        let mut files: Vec<_> = std::fs::read_dir(&bed().log_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p: &std::path::PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".log"))
        });
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
