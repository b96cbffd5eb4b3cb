//! The scale benchmark (issue #9): what "frugal with AWS and API-server calls"
//! means, as figures.
//!
//! `cargo bench --bench scale` (`make bench`) runs the full version against
//! its own test bed: for each N (`BENCH_NS`, default 10,100,1000) a fresh
//! operator process and N BatchNotifications applied at once — each with a
//! managed topic, role and state machine over ONE shared queue and job
//! definition — then:
//!
//! 1. create: time until all Ready, apply→Ready latency, AWS calls per object
//!    by operation (at the emulator and at the operator's /metrics: they must
//!    agree), API-server writes per object, RSS and CPU;
//! 2. runs: `spec.run.trigger` bumped on every object (the emulator's gate
//!    holding each Batch job RUNNING until all are, then letting them end
//!    together: 1,000 ends within about a second), until every result is in
//!    status, then on `BENCH_TRICKLE` objects one a second; AWS calls per
//!    run and execution end → status, polled and (after the restart) in
//!    event mode;
//! 3. restart: the operator stopped and started again (with a short
//!    `--resync`): what its first pass over N Ready objects costs;
//! 4. steady state: two resync periods with no drift.
//!
//! Plus one object at a time on an idle operator (the latency a user feels),
//! and N=`BENCH_TUNE_N` created at each `--concurrency` of `BENCH_TUNE`.
//! Each figure is printed next to its floor and issue #9's target; the
//! targets are not asserted. The table goes to stdout, JSON and an SVG chart
//! to `$CARGO_TARGET_DIR/bench/`, the chart also to `docs/bench/scale.svg`.
//!
//! Under `cargo test` (no `--bench` argument) it runs a tiny version — N=5,
//! one round, short phases — that only keeps the harness working; it still
//! fails when an object never gets Ready, a run never ends, or the emulator's
//! count of AWS calls and the operator's disagree.
//!
//! Knobs (environment): `BENCH_NS`, `BENCH_CONCURRENCY` (16), `BENCH_TUNE`
//! (4,16,64; empty to skip), `BENCH_TUNE_N` (100), `BENCH_SINGLES` (5),
//! `BENCH_RESYNC_SECS` (default: the create phase's duration, at least 10),
//! `BENCH_TIMEOUT_SECS` (per wait; default 60 + 0.6 s per object),
//! `BENCH_RUNS` (runs started at once per phase, 1000), `BENCH_TRICKLE`
//! (runs then started one a second, 60; 0 to skip), `BENCH_STEADY_SECS`
//! (the longest steady-state window, 180), `BENCH_QUOTA_SCALE` (through
//! `make bench`: the emulator's quotas and the operators' budget, ×F),
//! `BENCH_RUST_LOG` (the operators' RUST_LOG, `info` by default; their logs
//! are in the test bed's log directory), `BENCH_OPERATOR` (the operator
//! binary; default the one cargo built for
//! this profile: release under `cargo bench`, debug under `cargo test`),
//! `BENCH_BASELINE` (another operator binary measured in the same sitting:
//! `make bench` gives the previous release, built optimised; empty for
//! none) at the sizes of `BENCH_BASELINE_NS` (1000,10000) that `BENCH_NS`
//! has. Each such size is measured first with the baseline, then with this
//! build (so any cost of the emulator holding more is this build's); a
//! regression of more than 10 % in one of the compared figures, beyond the
//! resolution of its measurement, fails the bench.

#[path = "../../tests/support/mod.rs"]
mod support;

mod measure;
mod observe;
mod report;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use batchnotify::api::BatchNotification;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use measure::{ApiserverWrites, Cpu, Ops};
use observe::{Observer, ROUND_LABEL, Writes};
use report::{Agree, Latency, Phase, Results, Round as RoundFigures, Runs, Single, Steady, Tune};

/// Requests in flight when the bench applies or patches many objects.
const CLIENT_PARALLELISM: usize = 32;
/// Objects per namespace.
const PER_NAMESPACE: usize = 100;

struct Settings {
    tiny: bool,
    sizes: Vec<usize>,
    concurrency: u16,
    tune: Vec<u16>,
    tune_n: usize,
    singles: usize,
    resync: Option<u64>,
    timeout: Option<u64>,
    operator: PathBuf,
    /// The operator measured beside `operator`, at `baseline_sizes`.
    baseline: Option<PathBuf>,
    baseline_sizes: Vec<usize>,
    /// The emulator's quotas (and the operator's budget) as a multiple of
    /// AWS's published defaults: an account after a quota increase.
    quota_scale: f64,
    /// Runs per phase: at most this many objects get a trigger.
    runs_max: usize,
    /// The longest steady-state window.
    steady_max: u64,
    /// Runs started one a second after each runs phase (0: none): the delay
    /// from an execution's end to status when ends trickle in, as in a day's
    /// work, rather than a thousand at once.
    trickle: usize,
}

fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The emulator's `--quota-scale` (`make bench BENCH_QUOTA_SCALE=F` passes
/// it in BATCHNOTIFY_EMULATOR_ARGS): the operators get the same budget scale.
fn emulator_quota_scale() -> f64 {
    let args = std::env::var(batchnotify_testbed::EMULATOR_ARGS_ENV).unwrap_or_default();
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--quota-scale" {
            return words.next().and_then(|f| f.parse().ok()).unwrap_or(1.0);
        }
        if let Some(f) = w.strip_prefix("--quota-scale=") {
            return f.parse().unwrap_or(1.0);
        }
    }
    1.0
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.trim().parse().ok()
}

impl Settings {
    fn from_env() -> Settings {
        let tiny = !std::env::args().any(|a| a == "--bench");
        let operator = std::env::var_os("BENCH_OPERATOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_batchnotify")));
        if tiny {
            return Settings {
                tiny,
                sizes: vec![5],
                concurrency: 16,
                tune: Vec::new(),
                tune_n: 0,
                singles: 1,
                resync: Some(3),
                timeout: Some(120),
                operator,
                baseline: None,
                baseline_sizes: Vec::new(),
                quota_scale: 1.0,
                runs_max: 5,
                steady_max: 30,
                trickle: 2,
            };
        }
        Settings {
            tiny,
            sizes: env_list("BENCH_NS", "10,100,1000"),
            concurrency: env_num("BENCH_CONCURRENCY").unwrap_or(16),
            tune: env_list("BENCH_TUNE", "4,16,64"),
            tune_n: env_num("BENCH_TUNE_N").unwrap_or(100),
            singles: env_num("BENCH_SINGLES").unwrap_or(5),
            resync: env_num("BENCH_RESYNC_SECS"),
            timeout: env_num("BENCH_TIMEOUT_SECS"),
            operator,
            baseline: std::env::var_os("BENCH_BASELINE")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            baseline_sizes: env_list("BENCH_BASELINE_NS", "1000,10000"),
            quota_scale: emulator_quota_scale(),
            runs_max: env_num("BENCH_RUNS").unwrap_or(1000),
            steady_max: env_num("BENCH_STEADY_SECS").unwrap_or(180),
            trickle: env_num("BENCH_TRICKLE").unwrap_or(60),
        }
    }

    /// Flags every operator of the bench gets.
    fn operator_flags(&self) -> Vec<String> {
        vec!["--aws-quota-scale".into(), self.quota_scale.to_string()]
    }

    fn timeout(&self, n: usize) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(60 + n as u64 * 6 / 10))
    }
}

/// The emulator's gate (`/_batchnotify/gate`, strict mode): closed, RUNNING
/// Batch jobs wait before they end; opened, they all end at once. `None`
/// reads it: `{"open", "held"}`.
fn gate(open: Option<bool>) -> serde_json::Value {
    let base = format!("{}/_batchnotify/gate", support::bed().aws_endpoint);
    let (method, url) = match open {
        Some(o) => ("POST", format!("{base}?open={o}")),
        None => ("GET", base),
    };
    support::try_http(method, &url)
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------- the operator process

/// The emulator counts a request as it arrives, the operator as it sends it
/// (`batchnotify_aws_requests_sent_total`, an SDK interceptor before transmit):
/// the same requests, so the two counts of an operation are equal whenever
/// none of its requests is on its way. [`aws_counts`] reads both at such a
/// moment; a count that differs then is a request one side never saw.
fn counts_agree(emulator: &Ops, operator: &Ops) -> bool {
    let nonzero = |o: &Ops| -> Ops {
        o.iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    nonzero(emulator) == nonzero(operator)
}

/// How long [`aws_counts`] looks for a moment when an operation's requests
/// have all arrived.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Both counts of the operator's AWS calls, per operation, each read at a
/// moment when they must be equal: the operator's sent count the same just
/// before and just after the emulator's was read, and the emulator's equal
/// to it (every request sent had arrived, none was sent meanwhile). Each
/// operation gets its own such moment (a busy operator is rarely idle in
/// every API at once; a phase boundary a few milliseconds apart per API
/// changes nothing else). An operation with no such moment within
/// [`SETTLE_LIMIT`] keeps its last differing counts, and is reported.
async fn aws_counts(key: &str, op: Option<&Operator>) -> (Ops, Ops) {
    let Some(op) = op else {
        let emulator = measure::emulator_ops(key);
        return (emulator, Ops::new());
    };
    let (mut emulator, mut operator) = (Ops::new(), Ops::new());
    let mut settled = std::collections::BTreeSet::new();
    let start = Instant::now();
    loop {
        let before = measure::operator_sent(&op.metrics());
        let arrived = measure::emulator_ops(key);
        let after = measure::operator_sent(&op.metrics());
        let ops: std::collections::BTreeSet<&String> = before
            .keys()
            .chain(arrived.keys())
            .chain(after.keys())
            .collect();
        let mut open = false;
        for k in ops {
            if settled.contains(k) {
                continue;
            }
            let (b, e, a) = (
                before.get(k).copied().unwrap_or(0),
                arrived.get(k).copied().unwrap_or(0),
                after.get(k).copied().unwrap_or(0),
            );
            emulator.insert(k.clone(), e);
            operator.insert(k.clone(), a);
            if b == a && e == a {
                settled.insert(k.clone());
            } else {
                open = true;
            }
        }
        if !open || start.elapsed() > SETTLE_LIMIT {
            return (emulator, operator);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reconciles that ended AwsThrottled, from the operator's /metrics.
fn throttled(op: &Operator) -> u64 {
    measure::counter_sum(
        &op.metrics(),
        "batchnotify_reconciles_total{result=\"AwsThrottled\"}",
    )
}

fn is_read(op: &str) -> bool {
    let name = op.rsplit(':').next().unwrap_or_default();
    ["Get", "List", "Describe"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The operator's budget for `op` ("service:Operation"), calls per second.
fn budget_of(metrics: &str, op: &str) -> f64 {
    let (service, operation) = op.split_once(':').unwrap_or_default();
    metrics
        .lines()
        .filter(|l| l.starts_with("batchnotify_aws_budget_calls_per_second{"))
        .filter(|l| {
            l.contains(&format!("service=\"{service}\""))
                && l.contains(&format!("operation=\"{operation}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

/// One operator process watching every namespace, under its own access key so
/// that the emulator counts its calls apart. Killed on drop.
struct Operator {
    child: Child,
    key: String,
    admin: String,
}

impl Operator {
    fn start(binary: &Path, key: &str, extra: &[String]) -> Operator {
        let bed = support::bed();
        let port = batchnotify_testbed::free_port().expect("free port");
        let log_path = bed.log_dir.join(format!("operator-{key}.log"));
        let log = std::fs::File::create(&log_path).expect("operator log");
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // The operator's default level (what a deployment logs), or
            // BENCH_RUST_LOG's to look into a figure.
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        for (k, v) in bed.env() {
            cmd.env(k, v);
        }
        let principal = support::Principal::create(key, &support::operator_policy());
        cmd.env("AWS_ACCESS_KEY_ID", &principal.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &principal.secret)
            .args(["run", "--cluster-name", "bench", "--admin-addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .process_group(bed.process_group())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        Operator {
            child: cmd.spawn().expect("spawn the operator"),
            key: principal.access_key.clone(),
            admin: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn ready(&self) {
        let url = format!("{}/readyz", self.admin);
        support::eventually(
            "the operator's /readyz",
            Duration::from_secs(60),
            || async { (support::try_http("GET", &url).as_deref() == Some("ok")).then_some(()) },
        )
        .await;
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn metrics(&self) -> String {
        support::try_http("GET", &format!("{}/metrics", self.admin)).unwrap_or_default()
    }

    fn reconciles(&self) -> u64 {
        measure::counter_sum(&self.metrics(), "batchnotify_reconciles_total")
    }

    /// SIGTERM, as a rollout does; SIGKILL if it has not exited in 15 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- snapshots

/// Every counter at one moment.
struct Snapshot {
    at: Instant,
    emulator: Ops,
    operator: Ops,
    reconciles: u64,
    writes: Writes,
    apiserver: ApiserverWrites,
    bench_writes: u64,
    cpu: Cpu,
}

/// One round's objects: `keys` spread over `namespaces`, all labelled `label`.
struct Round {
    label: String,
    namespaces: Vec<String>,
    keys: Vec<(String, String)>,
}

struct Bench {
    settings: Settings,
    client: Client,
    observer: Observer,
    /// The object every round applies (metadata and spec filled in per object).
    template: serde_json::Value,
    /// BatchNotification writes the bench made (creates, trigger bumps): the
    /// API server counts them too, and they are not the operator's.
    bench_writes: AtomicU64,
    failures: Vec<String>,
}

impl Bench {
    async fn snapshot(&self, key: &str, op: Option<&Operator>, round: &Round) -> Snapshot {
        let (emulator, operator) = aws_counts(key, op).await;
        let metrics = op.map(Operator::metrics).unwrap_or_default();
        Snapshot {
            at: Instant::now(),
            emulator,
            operator,
            reconciles: measure::counter_sum(&metrics, "batchnotify_reconciles_total"),
            writes: self.observer.writes(&round.namespaces),
            apiserver: measure::apiserver_writes(),
            bench_writes: self.bench_writes.load(Ordering::SeqCst),
            cpu: Cpu::now(op.map(Operator::pid)),
        }
    }

    /// Waits until nothing moves: the emulator's count and the operator's agree
    /// and neither (nor the watch) changed for half a second. After 30 s, says
    /// what still differed or moved.
    async fn quiet(&self, op: &Operator, round: &Round) -> Result<(), String> {
        let start = Instant::now();
        let mut last = None;
        let mut why = String::from("nothing was read");
        while start.elapsed() < Duration::from_secs(30) {
            let now = (
                measure::emulator_ops(&op.key),
                measure::operator_sent(&op.metrics()),
                self.observer.writes(&round.namespaces),
            );
            if counts_agree(&now.0, &now.1) && last.as_ref() == Some(&now) {
                return Ok(());
            }
            why = if !counts_agree(&now.0, &now.1) {
                let ops: Vec<String> = now
                    .0
                    .keys()
                    .chain(now.1.keys())
                    .filter(|k| {
                        now.0.get(*k).copied().unwrap_or(0) != now.1.get(*k).copied().unwrap_or(0)
                    })
                    .map(|k| {
                        format!(
                            "{k}: emulator {} operator {}",
                            now.0.get(k).copied().unwrap_or(0),
                            now.1.get(k).copied().unwrap_or(0)
                        )
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                format!("totals still differ after 30 s: {}", ops.join(", "))
            } else {
                "the counts agree but kept moving for 30 s (calls still being made)".to_string()
            };
            last = Some(now);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(why)
    }

    fn phase(&self, a: &Snapshot, b: &Snapshot) -> Phase {
        let emulator = measure::diff(&a.emulator, &b.emulator);
        let operator = measure::diff(&a.operator, &b.operator);
        let mut aws = BTreeMap::new();
        for op in emulator.keys().chain(operator.keys()) {
            aws.insert(
                op.clone(),
                Agree {
                    emulator: emulator.get(op).copied().unwrap_or(0),
                    operator: operator.get(op).copied().unwrap_or(0),
                },
            );
        }
        let api = b.apiserver.since(&a.apiserver);
        let bench = b.bench_writes - a.bench_writes;
        Phase {
            seconds: b.at.duration_since(a.at).as_secs_f64(),
            aws,
            writes: b.writes.since(&a.writes),
            apiserver_writes: (api.batchnotifications + api.events).saturating_sub(bench),
            cpu: b.cpu.since(&a.cpu),
            reconciles: b.reconciles.saturating_sub(a.reconciles),
        }
    }

    /// Each phase's AWS counts must agree exactly, in the tiny bench and the
    /// full one alike: both ends were read when they must (see [`aws_counts`]).
    /// The tiny bench (`make test`) also settles between phases.
    fn check_phase(&mut self, what: &str, phase: &Phase, agreed: Result<(), String>) {
        let differ: Vec<String> = phase
            .aws
            .iter()
            .filter(|(_, a)| a.emulator != a.operator)
            .map(|(k, a)| {
                format!(
                    "{k}: emulator received {} operator sent {}",
                    a.emulator, a.operator
                )
            })
            .collect();
        if !differ.is_empty() {
            self.failures.push(format!(
                "{what}: the emulator's count of AWS calls and the operator's disagree: {}",
                differ.join(", ")
            ));
        } else if let (Err(why), true) = (agreed, self.settings.tiny) {
            self.failures
                .push(format!("{what}: the counts did not settle: {why}"));
        }
        if phase.apiserver_writes < phase.writes.operator() {
            self.failures.push(format!(
                "{what}: the API server counted {} writes, the watch saw {}",
                phase.apiserver_writes,
                phase.writes.operator()
            ));
        }
    }

    // ------------------------------------------------------------ objects

    async fn round(&self, label: &str, n: usize) -> Round {
        let namespaces: Vec<String> = (0..n.div_ceil(PER_NAMESPACE))
            .map(|i| format!("bench-{label}-{i}"))
            .collect();
        let api: Api<Namespace> = Api::all(self.client.clone());
        for ns in &namespaces {
            let obj: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
            api.create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| panic!("create namespace {ns}: {e}"));
        }
        let keys = (0..n)
            .map(|i| (namespaces[i / PER_NAMESPACE].clone(), format!("obj-{i:04}")))
            .collect();
        Round {
            label: label.to_string(),
            namespaces,
            keys,
        }
    }

    /// A managed topic, role and state machine over the shared queue and job
    /// definition; no run until the runs phase.
    fn object(&self, round: &Round, ns: &str, name: &str) -> BatchNotification {
        let mut v = self.template.clone();
        v["metadata"] = json!({
            "name": name,
            "namespace": ns,
            "labels": {ROUND_LABEL: round.label},
        });
        serde_json::from_value(v).expect("a BatchNotification")
    }

    /// Creates `keys` (at most [`CLIENT_PARALLELISM`] at once); when each create returned.
    async fn create(&self, round: &Round, keys: &[(String, String)]) -> Vec<Instant> {
        let jobs = keys.iter().map(|(ns, name)| {
            let api: Api<BatchNotification> = Api::namespaced(self.client.clone(), ns);
            let obj = self.object(round, ns, name);
            async move {
                api.create(&PostParams::default(), &obj)
                    .await
                    .unwrap_or_else(|e| panic!("create {ns}/{name}: {e}"));
                Instant::now()
            }
        });
        let done: Vec<Instant> = futures::stream::iter(jobs)
            .buffered(CLIENT_PARALLELISM)
            .collect()
            .await;
        self.bench_writes
            .fetch_add(keys.len() as u64, Ordering::SeqCst);
        done
    }

    /// Sets `spec.run.trigger` on every object, all at once or one every
    /// `pace`; when each patch returned.
    async fn trigger(&self, round: &Round, value: &str, pace: Option<Duration>) -> Vec<Instant> {
        let patch = json!({"spec": {"run": {"trigger": value}}});
        let jobs = round.keys.iter().map(|(ns, name)| {
            let api: Api<BatchNotification> = Api::namespaced(self.client.clone(), ns);
            let patch = &patch;
            async move {
                api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .unwrap_or_else(|e| panic!("patch {ns}/{name}: {e}"));
                Instant::now()
            }
        });
        let done: Vec<Instant> = match pace {
            None => {
                futures::stream::iter(jobs)
                    .buffered(CLIENT_PARALLELISM)
                    .collect()
                    .await
            }
            Some(pace) => {
                let mut done = Vec::new();
                for job in jobs {
                    done.push(job.await);
                    tokio::time::sleep(pace).await;
                }
                done
            }
        };
        self.bench_writes
            .fetch_add(round.keys.len() as u64, Ordering::SeqCst);
        done
    }

    /// Waits until `seen` has a time for every key; the times, or how many had one.
    async fn wait_all(
        &self,
        keys: &[(String, String)],
        limit: Duration,
        seen: impl Fn(&Observer, &[(String, String)]) -> Vec<Option<Instant>>,
    ) -> Result<Vec<Instant>, usize> {
        let start = Instant::now();
        loop {
            let times = seen(&self.observer, keys);
            if times.iter().all(Option::is_some) {
                return Ok(times.into_iter().flatten().collect());
            }
            if start.elapsed() > limit {
                return Err(times.iter().filter(|t| t.is_some()).count());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // ------------------------------------------------------------ phases

    /// N objects applied at once to a running operator, until all are Ready.
    async fn create_phase(
        &mut self,
        what: &str,
        op: &Operator,
        round: &Round,
    ) -> Option<(Phase, f64, Latency)> {
        let n = round.keys.len();
        let s0 = self.snapshot(&op.key, Some(op), round).await;
        let created = self.create(round, &round.keys).await;
        let ready = self
            .wait_all(&round.keys, self.settings.timeout(n), Observer::ready_at)
            .await;
        let ready = match ready {
            Ok(r) => r,
            Err(done) => {
                self.failures
                    .push(format!("{what}: only {done} of {n} objects became Ready"));
                return None;
            }
        };
        let last = ready.iter().max().copied().unwrap_or(s0.at);
        let agreed = self.quiet(op, round).await;
        let s1 = self.snapshot(&op.key, Some(op), round).await;
        let phase = self.phase(&s0, &s1);
        self.check_phase(what, &phase, agreed);
        let latency = Latency::of(&created, &ready);
        Some((phase, last.duration_since(s0.at).as_secs_f64(), latency))
    }

    /// Waits until the emulator's gate holds `count` RUNNING jobs; false
    /// when they were not all there within `limit`.
    async fn held(&self, count: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if gate(None)
                .get("held")
                .and_then(serde_json::Value::as_u64)
                .is_some_and(|h| h >= count as u64)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    /// `trigger` set on the first `count` objects (all at once, or one every
    /// `pace`), until every result is in status: AWS calls per run,
    /// apply→result, and execution end → status. All at once, the
    /// emulator's gate holds each job RUNNING until all `count` are, then
    /// lets them end together: a thousand ends within about a second, as a
    /// nightly batch's do.
    #[allow(clippy::too_many_arguments)]
    async fn runs_phase(
        &mut self,
        what: &str,
        mode: &'static str,
        op: &Operator,
        round: &Round,
        trigger: &str,
        count: usize,
        pace: Option<Duration>,
    ) -> Option<Runs> {
        let count = round.keys.len().min(count);
        let subset = Round {
            label: round.label.clone(),
            namespaces: round.namespaces.clone(),
            keys: round.keys[..count].to_vec(),
        };
        let s0 = self.snapshot(&op.key, Some(op), round).await;
        let together = pace.is_none();
        if together {
            gate(Some(false));
        }
        let patched = self.trigger(&subset, trigger, pace).await;
        if together {
            let all_held = self.held(count, self.settings.timeout(count)).await;
            gate(Some(true));
            if !all_held {
                self.failures.push(format!(
                    "{what}: the emulator's gate did not hold all {count} jobs RUNNING in time"
                ));
            }
        }
        let results = self
            .wait_all(&subset.keys, self.settings.timeout(count), |o, k| {
                o.result_at(k, trigger)
            })
            .await;
        match results {
            Ok(done) => {
                let last = done.iter().max().copied().unwrap_or(s0.at);
                let agreed = self.quiet(op, round).await;
                let s1 = self.snapshot(&op.key, Some(op), round).await;
                let phase = self.phase(&s0, &s1);
                self.check_phase(what, &phase, agreed);
                let end = self.observer.end_to_status_ms(&subset.keys, trigger);
                let slowest = self
                    .observer
                    .slowest_end_to_status(&subset.keys, trigger, 5);
                println!("{what}: slowest end→status: {slowest:?}");
                let failed = self.observer.failed_runs(&subset.keys, trigger);
                if failed > 0 {
                    self.failures.push(format!(
                        "{what}: {failed} of {count} runs did not succeed (every bench job does)"
                    ));
                }
                Some(Runs {
                    mode,
                    count,
                    all_done_s: last.duration_since(s0.at).as_secs_f64(),
                    latency: Latency::of(&patched, &done),
                    end_to_status: Latency::from_ms(&end),
                    rss_peak_mib: measure::rss_mib(op.pid()).0,
                    phase,
                })
            }
            Err(done) => {
                self.failures.push(format!(
                    "{what}: only {done} of {count} results reached status"
                ));
                None
            }
        }
    }

    /// `BENCH_TRICKLE` runs started one a second (none when it is 0).
    async fn trickle(
        &mut self,
        what: &str,
        mode: &'static str,
        op: &Operator,
        round: &Round,
        trigger: &str,
    ) -> Option<Runs> {
        let count = self.settings.trickle;
        if count == 0 {
            return None;
        }
        let pace = Some(Duration::from_secs(1));
        self.runs_phase(what, mode, op, round, trigger, count, pace)
            .await
    }

    /// The full round at one N: create, runs, restart, steady state.
    /// One size with `operator`; `tag` marks a baseline's round apart.
    async fn scale_round(&mut self, n: usize, operator: &Path, tag: &str) -> Option<RoundFigures> {
        let c = self.settings.concurrency;
        let label = format!("n{n}-c{c}{tag}");
        let what = format!("N={n}{tag}");
        let round = self.round(&label, n).await;
        let selector = format!("{ROUND_LABEL}={label}");
        let mut flags = self.settings.operator_flags();
        flags.extend([
            "--concurrency".into(),
            c.to_string(),
            "--label-selector".into(),
            selector.clone(),
        ]);
        let a = Operator::start(operator, &format!("bench-{label}-a"), &flags);
        a.ready().await;
        let (create, all_ready, latency) = self
            .create_phase(&format!("{what} create"), &a, &round)
            .await?;
        // Settled: two seconds after the last write.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_peak, rss_settled) = measure::rss_mib(a.pid());
        let mut figures = RoundFigures {
            n,
            concurrency: c,
            namespaces: round.namespaces.len(),
            all_ready_s: all_ready,
            latency,
            create,
            rss_peak_mib: rss_peak,
            rss_settled_mib: rss_settled,
            runs: None,
            runs_events: None,
            trickle: Vec::new(),
            throttles: 0,
            throttled_reconciles: 0,
            resync_period_s: 0.0,
            steady_rates: Vec::new(),
            restart: None,
            restart_rss_mib: 0.0,
            steady: None,
        };

        // Runs, polled: one per object (at most BENCH_RUNS), all at once;
        // then BENCH_TRICKLE of them one a second.
        let runs_max = self.settings.runs_max;
        figures.runs = self
            .runs_phase(
                &format!("{what} runs (poll)"),
                "poll",
                &a,
                &round,
                "1",
                runs_max,
                None,
            )
            .await;
        let poll = self
            .trickle(
                &format!("{what} runs one a second (poll)"),
                "poll 1/s",
                &a,
                &round,
                "1t",
            )
            .await;
        figures.trickle.extend(poll);
        figures.throttled_reconciles += throttled(&a);

        // Restart: stop, start again with a short resync; its first pass.
        let mut a = a;
        a.stop();
        let resync = self
            .settings
            .resync
            .unwrap_or_else(|| (all_ready.ceil() as u64).max(10));
        let key_b = format!("bench-{label}-b");
        let s0 = self.snapshot(&key_b, None, &round).await;
        // The restarted operator runs in event mode: its runs phase is the
        // event-mode one.
        let mut flags = self.settings.operator_flags();
        flags.extend([
            "--concurrency".into(),
            c.to_string(),
            "--label-selector".into(),
            selector,
            "--resync".into(),
            format!("{resync}s"),
            "--events".into(),
        ]);
        let b = Operator::start(operator, &key_b, &flags);
        b.ready().await;
        let limit = self.settings.timeout(n);
        let passed = support::eventually("the restarted operator's first pass", limit, || async {
            (b.reconciles() >= n as u64).then_some(())
        });
        passed.await;
        let agreed = self.quiet(&b, &round).await;
        let s1 = self.snapshot(&b.key, Some(&b), &round).await;
        let restart = self.phase(&s0, &s1);
        self.check_phase(&format!("{what} restart"), &restart, agreed);
        figures.restart = Some(restart);
        figures.restart_rss_mib = measure::rss_mib(b.pid()).1;

        // Runs in event mode: ends from EventBridge through the SQS queue.
        figures.runs_events = self
            .runs_phase(
                &format!("{what} runs (events)"),
                "events",
                &b,
                &round,
                "2",
                runs_max,
                None,
            )
            .await;
        let events = self
            .trickle(
                &format!("{what} runs one a second (events)"),
                "events 1/s",
                &b,
                &round,
                "2t",
            )
            .await;
        figures.trickle.extend(events);

        // Steady state: two resync periods with no drift, or as much of them
        // as BENCH_STEADY_SECS allows (at large N the budget stretches the
        // period: the figure is then reads per second against the budget).
        let s0 = self.snapshot(&b.key, Some(&b), &round).await;
        let window = (2 * resync).min(self.settings.steady_max);
        tokio::time::sleep(Duration::from_secs(window)).await;
        let start = Instant::now();
        while window == 2 * resync
            && b.reconciles() < s0.reconciles + 2 * n as u64
            && start.elapsed() < Duration::from_secs(resync) + limit
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let agreed = self.quiet(&b, &round).await;
        let s1 = self.snapshot(&b.key, Some(&b), &round).await;
        let phase = self.phase(&s0, &s1);
        self.check_phase(&format!("{what} steady state"), &phase, agreed);
        let metrics = b.metrics();
        figures.resync_period_s =
            measure::gauge(&metrics, "batchnotify_resync_period_seconds").unwrap_or(0.0);
        figures.steady_rates = phase
            .aws
            .iter()
            .filter(|(op, a)| is_read(op) && a.emulator > 0)
            .map(|(op, a)| {
                (
                    op.clone(),
                    a.emulator as f64 / phase.seconds,
                    budget_of(&metrics, op),
                )
            })
            .collect();
        figures.throttled_reconciles += throttled(&b);
        figures.steady = Some(Steady {
            resync_s: resync,
            passes: phase.reconciles as f64 / n as f64,
            rss_mib: measure::rss_mib(b.pid()).1,
            phase,
        });
        Some(figures)
    }

    /// One object at a time on an idle operator.
    async fn singles(&mut self, k: usize) -> Option<Single> {
        let round = self.round("single", k).await;
        let op = Operator::start(
            &self.settings.operator,
            "bench-single",
            &["--label-selector".into(), format!("{ROUND_LABEL}=single")],
        );
        op.ready().await;
        let s0 = self.snapshot(&op.key, Some(&op), &round).await;
        let mut latencies = Vec::new();
        for key in &round.keys {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let keys = std::slice::from_ref(key);
            let created = self.create(&round, keys).await;
            match self
                .wait_all(keys, self.settings.timeout(1), Observer::ready_at)
                .await
            {
                Ok(ready) => latencies.push(Latency::of(&created, &ready).p50_ms),
                Err(_) => {
                    self.failures
                        .push(format!("single {}/{} never became Ready", key.0, key.1));
                    return None;
                }
            }
        }
        let agreed = self.quiet(&op, &round).await;
        let s1 = self.snapshot(&op.key, Some(&op), &round).await;
        let phase = self.phase(&s0, &s1);
        self.check_phase("single objects", &phase, agreed);
        Some(Single {
            latencies_ms: latencies,
            phase,
        })
    }

    /// N objects created at one --concurrency.
    async fn tune(&mut self, n: usize, c: u16) -> Option<Tune> {
        let label = format!("tune-n{n}-c{c}");
        let round = self.round(&label, n).await;
        let op = Operator::start(
            &self.settings.operator,
            &format!("bench-{label}"),
            &[
                "--concurrency".into(),
                c.to_string(),
                "--label-selector".into(),
                format!("{ROUND_LABEL}={label}"),
            ],
        );
        op.ready().await;
        let (phase, all_ready_s, latency) = self
            .create_phase(&format!("tune c={c}"), &op, &round)
            .await?;
        Some(Tune {
            n,
            concurrency: c,
            all_ready_s,
            latency,
            rss_peak_mib: measure::rss_mib(op.pid()).0,
            phase,
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = Settings::from_env();
    let started = Instant::now();
    let bed = support::bed();
    let client = support::kube_client(bed).await;
    let aws = support::aws_config(bed).await;
    // The queue and job definition every object references: made here, by
    // hand, so that the operator's per-object work is its own.
    let prefix = format!("bench{}", std::process::id());
    let (queue, job_definition) = support::batch_stack(&aws, &prefix, "job").await;
    let observer = Observer::start(client.clone()).await;
    eprintln!(
        "scale bench ({}): operator {}",
        if settings.tiny { "tiny" } else { "full" },
        settings.operator.display()
    );
    let mut template = support::example("existing-arns.yaml");
    template["spec"]["jobQueue"] = json!({"arn": queue});
    template["spec"]["jobDefinition"] = json!({"arn": job_definition});
    template["spec"]["topic"] = json!({"managed": {}});
    if let Some(spec) = template["spec"].as_object_mut() {
        spec.remove("run");
    }
    let mut bench = Bench {
        settings,
        client,
        observer,
        template,
        bench_writes: AtomicU64::new(0),
        failures: Vec::new(),
    };

    let single = match bench.settings.singles {
        0 => None,
        k => bench.singles(k).await,
    };
    let mut rounds = Vec::new();
    let mut comparisons = Vec::new();
    let operator = bench.settings.operator.clone();
    for n in bench.settings.sizes.clone() {
        let baseline = bench
            .settings
            .baseline
            .clone()
            .filter(|_| bench.settings.baseline_sizes.contains(&n));
        let previous = match &baseline {
            Some(path) => {
                eprintln!(
                    "N={n} (baseline {}): {:.0} s in",
                    path.display(),
                    started.elapsed().as_secs_f64()
                );
                bench.scale_round(n, path, "-baseline").await
            }
            None => None,
        };
        eprintln!("N={n}: {:.0} s in", started.elapsed().as_secs_f64());
        support::http(
            "DELETE",
            &format!("{}/_batchnotify/throttles", support::bed().aws_endpoint),
        );
        let round = bench.scale_round(n, &operator, "").await;
        if let (Some(path), Some(previous), Some(this)) = (&baseline, &previous, &round) {
            let comparison = report::Comparison::of(path, previous, this);
            bench.failures.extend(comparison.regressions());
            comparisons.push(comparison);
        }
        // What the strict emulator's quota buckets refused (each retried by
        // the SDK; none may surface as a condition).
        let throttles = support::emulator_throttles();
        if let Some(mut r) = round {
            r.throttles = throttles.values().sum();
            rounds.push(r);
        }
        eprintln!(
            "N={n}: throttles answered by the emulator: {} {:?}",
            throttles.values().sum::<u64>(),
            throttles
        );
        // The table so far, written as each round ends: a long run stopped
        // later keeps the rounds it finished.
        let mut so_far = Results::new(
            bench.settings.tiny,
            &bench.settings.operator,
            started.elapsed().as_secs_f64(),
            single.clone(),
            rounds.clone(),
            Vec::new(),
            bench.failures.clone(),
        );
        so_far.comparisons = comparisons.clone();
        let table = report::table(&so_far);
        eprintln!("N={n}: the table so far:\n{table}");
        report::write(&so_far, &table);
    }
    let mut tune = Vec::new();
    for c in bench.settings.tune.clone() {
        eprintln!("tune c={c}: {:.0} s in", started.elapsed().as_secs_f64());
        if let Some(t) = bench.tune(bench.settings.tune_n, c).await {
            tune.push(t);
        }
    }
    if bench.observer.gaps() > 0 {
        bench.failures.push(format!(
            "the watch lost its place {} times: API writes seen by it are a lower bound",
            bench.observer.gaps()
        ));
    }
    let mut results = Results::new(
        bench.settings.tiny,
        &bench.settings.operator,
        started.elapsed().as_secs_f64(),
        single,
        rounds,
        tune,
        bench.failures.clone(),
    );
    results.comparisons = comparisons;
    let table = report::table(&results);
    println!("{table}");
    report::write(&results, &table);
    if results.failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("scale bench: FAILED:");
        for f in &results.failures {
            eprintln!("  - {f}");
        }
        std::process::ExitCode::FAILURE
    }
}
