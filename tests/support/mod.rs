//! Test support: one test bed (etcd + kube-apiserver + moto, see the
//! `batchnotify-testbed` crate) per test binary, and a [`Ctx`] per test with
//! its own namespace, AWS name prefix, kube client and AWS SDK configuration.
//!
//! The bed's processes are reaped by its guard when the test binary exits,
//! however it exits. Their logs stay under `target/tmp/testbed-logs/`.
#![allow(dead_code)]

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

pub use batchnotify_testbed::FAIL_MARKER;

static BED: OnceLock<TestBed> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The test binary's bed, started on first use.
pub fn bed() -> &'static TestBed {
    BED.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_deref()
            .and_then(Path::file_stem)
            .and_then(|s| s.to_str())
            .unwrap_or("tests")
            .to_string();
        let logs = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("testbed-logs")
            .join(name);
        match TestBed::start(&logs) {
            Ok(bed) => bed,
            Err(e) => panic!("the test bed did not start: {e}"),
        }
    })
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
