//! The benchmark's figures: what each phase measured, the table printed next
//! to each figure's floor and issue #9's target, the JSON and the SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use plotters::prelude::*;
use serde::Serialize;

use crate::measure::{self, Cpu};
use crate::observe::Writes;

/// The fewest AWS calls that can create one object's topic, role, inline
/// policy and state machine, tags riding on the creates.
pub const AWS_FLOOR: f64 = 4.0;
/// The fewest API writes per object: the finalizer and one status write.
pub const API_FLOOR: f64 = 2.0;
/// Issue #9's targets (figures to print, not assertions).
const AWS_TARGET: f64 = 5.0;
const API_TARGET: f64 = 3.0;
const READY_TARGET_S_AT_1000: f64 = 60.0;
const RSS_TARGET_MIB_AT_1000: f64 = 75.0;
/// The peer (ACK), measured for the same per-object work (issue #9).
const PEER_AWS: f64 = 36.0;
const PEER_API: f64 = 11.0;

/// One operation's count at the emulator (requests received) and at the
/// operator's /metrics (requests sent), each phase end read at a moment when
/// no request of that operation was on its way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Agree {
    pub emulator: u64,
    pub operator: u64,
}

/// What happened between two snapshots.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub seconds: f64,
    /// AWS calls by "service:Operation".
    pub aws: BTreeMap<String, Agree>,
    /// API writes seen by the bench's watch, by kind.
    pub writes: Writes,
    /// The API server's own count of non-read requests on BatchNotifications
    /// and Events, less the bench's own writes.
    pub apiserver_writes: u64,
    pub cpu: Cpu,
    pub reconciles: u64,
}

impl Phase {
    /// AWS calls at the emulator (the independent count).
    pub fn aws_calls(&self) -> u64 {
        self.aws.values().map(|a| a.emulator).sum()
    }

    pub fn aws_writes(&self) -> u64 {
        self.aws
            .iter()
            .filter(|(op, _)| !measure::is_read(op))
            .map(|(_, a)| a.emulator)
            .sum()
    }

    pub fn aws_reads(&self) -> u64 {
        self.aws_calls() - self.aws_writes()
    }

    /// The calls that follow runs (not the resyncs that happen meanwhile).
    pub fn run_calls(&self) -> u64 {
        RUN_OPERATIONS.iter().map(|op| self.calls(op)).sum()
    }

    fn calls(&self, op: &str) -> u64 {
        self.aws.get(op).map_or(0, |a| a.emulator)
    }

    /// Equal counts: each side's count is read at a moment when the two
    /// must be equal (see `aws_counts` in main.rs).
    fn agrees(&self) -> bool {
        self.aws.values().all(|a| a.emulator == a.operator)
    }
}

/// apply→X latencies of a set of objects, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// `from[i]` → `to[i]` for each object.
    pub fn of(from: &[Instant], to: &[Instant]) -> Latency {
        let ms: Vec<f64> = from
            .iter()
            .zip(to)
            .map(|(a, b)| b.saturating_duration_since(*a).as_secs_f64() * 1000.0)
            .collect();
        Latency::from_ms(&ms)
    }

    pub fn from_ms(ms: &[f64]) -> Latency {
        let ms = ms.to_vec();
        Latency {
            p50_ms: measure::percentile(&ms, 50.0),
            p99_ms: measure::percentile(&ms, 99.0),
            max_ms: measure::percentile(&ms, 100.0),
        }
    }
}

/// What a run costs: start, follow (poll or event), the end's history, the
/// job's status while it runs.
const RUN_OPERATIONS: [&str; 7] = [
    "sfn:StartExecution",
    "sfn:DescribeExecution",
    "sfn:GetExecutionHistory",
    "batch:DescribeJobs",
    "batch:ListJobs",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessageBatch",
];

/// The trigger bumped on every object.
#[derive(Clone, Debug, Serialize)]
pub struct Runs {
    /// `poll` (DescribeExecution) or `events` (EventBridge → SQS).
    pub mode: &'static str,
    /// Runs started (one per object, at most BENCH_RUNS).
    pub count: usize,
    pub all_done_s: f64,
    pub latency: Latency,
    /// The execution's end (stopTime) → the status write carrying it.
    pub end_to_status: Latency,
    pub rss_peak_mib: f64,
    pub phase: Phase,
}

/// Two resync periods with no drift.
#[derive(Clone, Debug, Serialize)]
pub struct Steady {
    pub resync_s: u64,
    /// Reconciles per object in the window.
    pub passes: f64,
    pub rss_mib: f64,
    pub phase: Phase,
}

/// One N.
#[derive(Clone, Debug, Serialize)]
pub struct Round {
    pub n: usize,
    pub concurrency: u16,
    pub namespaces: usize,
    pub all_ready_s: f64,
    pub latency: Latency,
    pub create: Phase,
    pub rss_peak_mib: f64,
    pub rss_settled_mib: f64,
    pub runs: Option<Runs>,
    /// The same in event mode (the restarted operator runs with --events).
    pub runs_events: Option<Runs>,
    /// Runs started one a second, polled then in event mode.
    pub trickle: Vec<Runs>,
    /// Requests the emulator's quota buckets refused during the round.
    pub throttles: u64,
    /// Reconciles that ended AwsThrottled (a throttle that surfaced).
    pub throttled_reconciles: u64,
    /// The resync period in force at the end (stretched by the budget).
    pub resync_period_s: f64,
    /// Steady state, per API read: calls per second and the operator's budget.
    pub steady_rates: Vec<(String, f64, f64)>,
    /// A new operator's first pass over N Ready objects.
    pub restart: Option<Phase>,
    pub restart_rss_mib: f64,
    pub steady: Option<Steady>,
}

/// Objects created one at a time on an idle operator.
#[derive(Clone, Debug, Serialize)]
pub struct Single {
    pub latencies_ms: Vec<f64>,
    pub phase: Phase,
}

/// N objects created at one `--concurrency`.
#[derive(Clone, Debug, Serialize)]
pub struct Tune {
    pub n: usize,
    pub concurrency: u16,
    pub all_ready_s: f64,
    pub latency: Latency,
    pub rss_peak_mib: f64,
    pub phase: Phase,
}

/// A least-squares line through (x, y).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Slope {
    /// Change of y per 1,000 more objects.
    pub per_1000: f64,
    pub at_smallest: f64,
    pub at_largest: f64,
}

fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    Some(Slope {
        per_1000: sxy / sxx * 1000.0,
        at_smallest: points.first()?.1,
        at_largest: points.last()?.1,
    })
}

/// How the per-object figures change with N.
#[derive(Clone, Debug, Serialize)]
pub struct Growth {
    pub aws_calls_per_object: Option<Slope>,
    pub api_writes_per_object: Option<Slope>,
    pub rss_settled_mib: Option<Slope>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub tiny: bool,
    pub operator: PathBuf,
    pub total_s: f64,
    pub machine: String,
    pub single: Option<Single>,
    pub rounds: Vec<Round>,
    /// The same sizes measured with a baseline operator in this sitting.
    pub comparisons: Vec<Comparison>,
    pub growth: Growth,
    pub tune: Vec<Tune>,
    pub failures: Vec<String>,
}

/// The figures compared between two operators at one size.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Compared {
    pub aws_calls_per_object: f64,
    pub api_writes_per_object: f64,
    pub all_ready_s: f64,
    pub rss_settled_mib: f64,
    pub operator_cpu_s: f64,
    /// Event mode, the runs started at once (0 when that phase did not run).
    pub end_to_status_p50_ms: f64,
    pub end_to_status_p99_ms: f64,
}

impl Compared {
    fn of(r: &Round) -> Compared {
        let n = r.n.max(1) as f64;
        let ends = r.runs_events.as_ref().map(|x| x.end_to_status);
        Compared {
            aws_calls_per_object: r.create.aws_calls() as f64 / n,
            api_writes_per_object: r.create.writes.operator() as f64 / n,
            all_ready_s: r.all_ready_s,
            rss_settled_mib: r.rss_settled_mib,
            operator_cpu_s: r.create.cpu.operator,
            end_to_status_p50_ms: ends.map_or(0.0, |l| l.p50_ms),
            end_to_status_p99_ms: ends.map_or(0.0, |l| l.p99_ms),
        }
    }

    /// Each figure with its name and the smallest difference that is more
    /// than the measurement's own resolution (a count rounded per object,
    /// the watch's and `ps`'s granularity, a timer's slack).
    fn rows(&self) -> [(&'static str, f64, f64); 7] {
        [
            ("AWS calls/object (create)", self.aws_calls_per_object, 0.05),
            (
                "API writes/object (create)",
                self.api_writes_per_object,
                0.05,
            ),
            ("all Ready s", self.all_ready_s, 2.0),
            ("settled RSS MiB", self.rss_settled_mib, 2.0),
            ("operator CPU s (create)", self.operator_cpu_s, 1.0),
            (
                "end→status p50 ms (events)",
                self.end_to_status_p50_ms,
                500.0,
            ),
            (
                "end→status p99 ms (events)",
                self.end_to_status_p99_ms,
                1000.0,
            ),
        ]
    }
}

/// More than this much worse is a regression.
pub const REGRESSION: f64 = 0.10;

/// One size measured with the baseline and with this build, in one sitting.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub n: usize,
    pub baseline: PathBuf,
    pub previous: Compared,
    pub this: Compared,
}

impl Comparison {
    pub fn of(baseline: &Path, previous: &Round, this: &Round) -> Comparison {
        Comparison {
            n: this.n,
            baseline: baseline.to_path_buf(),
            previous: Compared::of(previous),
            this: Compared::of(this),
        }
    }

    /// (name, previous, this, regressed) for each figure: every figure is
    /// better lower.
    fn rows(&self) -> Vec<(&'static str, f64, f64, bool)> {
        self.previous
            .rows()
            .iter()
            .zip(self.this.rows())
            .map(|(&(name, before, slack), (_, now, _))| {
                let regressed = now > before * (1.0 + REGRESSION) && now - before > slack;
                (name, before, now, regressed)
            })
            .collect()
    }

    /// A failure line per regressed figure.
    pub fn regressions(&self) -> Vec<String> {
        self.rows()
            .into_iter()
            .filter(|r| r.3)
            .map(|(name, before, now, _)| {
                format!(
                    "N={}: {name} regressed more than {:.0} % against {}: {before:.2} → {now:.2}",
                    self.n,
                    REGRESSION * 100.0,
                    self.baseline.display()
                )
            })
            .collect()
    }
}

fn change(before: f64, now: f64) -> String {
    if before == 0.0 {
        return if now == 0.0 { "=".into() } else { "new".into() };
    }
    format!("{:+.1} %", (now - before) / before * 100.0)
}

impl Results {
    pub fn new(
        tiny: bool,
        operator: &Path,
        total_s: f64,
        single: Option<Single>,
        rounds: Vec<Round>,
        tune: Vec<Tune>,
        failures: Vec<String>,
    ) -> Results {
        let per = |f: &dyn Fn(&Round) -> f64| -> Vec<(f64, f64)> {
            rounds.iter().map(|r| (r.n as f64, f(r))).collect()
        };
        let growth = Growth {
            aws_calls_per_object: slope(&per(&|r| r.create.aws_calls() as f64 / r.n as f64)),
            api_writes_per_object: slope(&per(&|r| r.create.writes.operator() as f64 / r.n as f64)),
            rss_settled_mib: slope(&per(&|r| r.rss_settled_mib)),
        };
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Results {
            tiny,
            operator: operator.to_path_buf(),
            total_s,
            machine: format!("{cores} cores"),
            single,
            rounds,
            comparisons: Vec::new(),
            growth,
            tune,
            failures,
        }
    }
}

// ---------------------------------------------------------------- the table

fn ratio(value: f64, floor: f64) -> String {
    if floor == 0.0 {
        return if value == 0.0 {
            "=".into()
        } else {
            "∞".into()
        };
    }
    format!("{:.2}×", value / floor)
}

fn ops_text(phase: &Phase, n: usize) -> String {
    let mut ops: Vec<(&String, &Agree)> = phase.aws.iter().collect();
    ops.sort_by(|a, b| b.1.emulator.cmp(&a.1.emulator).then(a.0.cmp(b.0)));
    if ops.is_empty() {
        return "none".into();
    }
    ops.iter()
        .map(|(op, a)| format!("{op} {:.2}", a.emulator as f64 / n.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cpu_text(cpu: &Cpu) -> String {
    format!(
        "operator {:.1} s, emulator {:.1} s, kube-apiserver {:.1} s, etcd {:.1} s, bench {:.1} s",
        cpu.operator, cpu.emulator, cpu.apiserver, cpu.etcd, cpu.bench
    )
}

/// Which process used the most CPU in a phase, and its share of the wall time.
fn bottleneck(phase: &Phase) -> String {
    let c = &phase.cpu;
    let all = [
        ("the emulator", c.emulator),
        ("the operator", c.operator),
        ("kube-apiserver", c.apiserver),
        ("etcd", c.etcd),
        ("the bench", c.bench),
    ];
    let total: f64 = all.iter().map(|p| p.1).sum();
    let (name, secs) = all
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("nobody", 0.0));
    format!(
        "{name}: {:.0} % of all CPU used, {:.0} % of one core over {:.1} s",
        if total > 0.0 {
            secs / total * 100.0
        } else {
            0.0
        },
        if phase.seconds > 0.0 {
            secs / phase.seconds * 100.0
        } else {
            0.0
        },
        phase.seconds
    )
}

/// The printed report.
pub fn table(r: &Results) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n== batchnotify scale benchmark ({}, {}, {:.0} s) ==",
        if r.tiny {
            "tiny: harness check only"
        } else {
            "full"
        },
        r.machine,
        r.total_s
    );
    let _ = writeln!(
        t,
        "Per object: a managed SNS topic, IAM role + inline policy and Step Functions state machine; \
         the queue and job definition are referenced. AWS calls are counted at the emulator \
         (per access key); the operator's own /metrics count is checked against it."
    );

    if let Some(s) = &r.single {
        let n = s.latencies_ms.len();
        let ms: Vec<String> = s.latencies_ms.iter().map(|l| format!("{l:.0}")).collect();
        let _ = writeln!(t, "\n-- one object at a time, idle operator ({n} objects)");
        let _ = writeln!(t, "apply→Ready ms:        {}", ms.join(", "));
        let _ = writeln!(
            t,
            "AWS calls per object:  {:.2} (floor {AWS_FLOOR}, {}; target ≤ {AWS_TARGET}; peer {PEER_AWS})",
            s.phase.aws_calls() as f64 / n.max(1) as f64,
            ratio(s.phase.aws_calls() as f64 / n.max(1) as f64, AWS_FLOOR)
        );
    }

    if !r.rounds.is_empty() {
        let _ = writeln!(t, "\n-- create: N objects applied at once");
        let _ = writeln!(
            t,
            "{:>6} {:>4} {:>10} {:>9} {:>9} {:>11} {:>7} {:>11} {:>7} {:>9} {:>10} {:>8}",
            "N",
            "conc",
            "all Ready",
            "p50 ms",
            "p99 ms",
            "AWS/object",
            "÷floor",
            "API/object",
            "÷floor",
            "peak MiB",
            "settled",
            "op CPU s"
        );
        for round in &r.rounds {
            let n = round.n as f64;
            let aws = round.create.aws_calls() as f64 / n;
            let api = round.create.writes.operator() as f64 / n;
            let _ = writeln!(
                t,
                "{:>6} {:>4} {:>9.1}s {:>9.0} {:>9.0} {:>11.2} {:>7} {:>11.2} {:>7} {:>9.1} {:>10.1} {:>8.1}",
                round.n,
                round.concurrency,
                round.all_ready_s,
                round.latency.p50_ms,
                round.latency.p99_ms,
                aws,
                ratio(aws, AWS_FLOOR),
                api,
                ratio(api, API_FLOOR),
                round.rss_peak_mib,
                round.rss_settled_mib,
                round.create.cpu.operator
            );
        }
        let _ = writeln!(
            t,
            "floors: {AWS_FLOOR} AWS calls (CreateTopic, CreateRole, PutRolePolicy, CreateStateMachine), \
             {API_FLOOR} API writes (finalizer, status). Targets: ≤ {AWS_TARGET} and ≤ {API_TARGET}; \
             1,000 Ready within {READY_TARGET_S_AT_1000} s; ≤ {RSS_TARGET_MIB_AT_1000} MiB at 1,000. \
             Peer (ACK): {PEER_AWS} calls and {PEER_API} writes per stack."
        );
        for round in &r.rounds {
            let c = &round.create;
            let _ = writeln!(
                t,
                "N={}: AWS calls per object: {}",
                round.n,
                ops_text(c, round.n)
            );
            let _ = writeln!(
                t,
                "N={}: API writes per object: {:.2} finalizer, {:.2} status, {:.2} other, {:.2} Events \
                 (watch); the API server counted {:.2} (BatchNotifications + Events, less the bench's own)",
                round.n,
                c.writes.finalizer as f64 / round.n as f64,
                c.writes.status as f64 / round.n as f64,
                c.writes.other as f64 / round.n as f64,
                c.writes.events() as f64 / round.n as f64,
                c.apiserver_writes as f64 / round.n as f64,
            );
            let _ = writeln!(
                t,
                "N={}: emulator and operator counts {}; CPU: {}; busiest: {}",
                round.n,
                if c.agrees() { "agree" } else { "DISAGREE" },
                cpu_text(&c.cpu),
                bottleneck(c)
            );
        }

        let _ = writeln!(
            t,
            "\n-- runs: spec.run.trigger bumped on every object (at most BENCH_RUNS) at once, then on BENCH_TRICKLE one a second; polling vs event mode"
        );
        let _ = writeln!(
            t,
            "{:>6} {:>10} {:>6} {:>10} {:>9} {:>9} {:>12} {:>12} {:>14} {:>13} {:>9} {:>9}",
            "N",
            "mode",
            "runs",
            "all done",
            "p50 ms",
            "p99 ms",
            "end→status",
            "p99 ms",
            "Describe/run",
            "AWS calls/run",
            "API/run",
            "peak MiB"
        );
        for round in &r.rounds {
            let all = [&round.runs, &round.runs_events].into_iter().flatten();
            for runs in all.chain(&round.trickle) {
                let n = runs.count.max(1) as f64;
                let _ = writeln!(
                    t,
                    "{:>6} {:>10} {:>6} {:>9.1}s {:>9.0} {:>9.0} {:>12.0} {:>12.0} {:>14.2} {:>13.2} {:>9.2} {:>9.1}",
                    round.n,
                    runs.mode,
                    runs.count,
                    runs.all_done_s,
                    runs.latency.p50_ms,
                    runs.latency.p99_ms,
                    runs.end_to_status.p50_ms,
                    runs.end_to_status.p99_ms,
                    runs.phase.calls("sfn:DescribeExecution") as f64 / n,
                    runs.phase.run_calls() as f64 / n,
                    runs.phase.writes.operator() as f64 / n,
                    runs.rss_peak_mib
                );
            }
        }
        let _ = writeln!(
            t,
            "Runs started at once end together: the emulator's gate holds every Batch job RUNNING until all are, then lets them end \
             within about a second (apply→result includes that wait). \
             end→status: from the execution's stopTime (AWS's clock) to the status write the watch saw (p50, p99). \
             AWS calls/run: StartExecution, DescribeExecution, GetExecutionHistory (each page), DescribeJobs, ListJobs, \
             ReceiveMessage, DeleteMessageBatch (resyncs meanwhile are not runs'). \
             Targets (issue #27): ≤ 2.3 AWS calls per run and end→status p99 ≤ 5 s in event mode with 1,000 ending together."
        );
        for round in &r.rounds {
            let all = [&round.runs, &round.runs_events].into_iter().flatten();
            for runs in all.chain(&round.trickle) {
                let _ = writeln!(
                    t,
                    "N={} {}: calls per run: {}; busiest: {}",
                    round.n,
                    runs.mode,
                    ops_text(&runs.phase, runs.count),
                    bottleneck(&runs.phase)
                );
            }
        }

        let _ = writeln!(
            t,
            "\n-- quotas: the budget (a limiter per AWS API) against the emulator's buckets"
        );
        for round in &r.rounds {
            let worst = round
                .steady_rates
                .iter()
                .filter(|(_, _, budget)| *budget > 0.0)
                .map(|(op, rate, budget)| (op, rate, budget, rate / budget))
                .max_by(|a, b| a.3.total_cmp(&b.3));
            let _ = writeln!(
                t,
                "N={}: throttles answered by the emulator {} (surfaced as AwsThrottled: {}); resync period in force {:.0} s; \
                 steady reads at most {} of an API's budget{}",
                round.n,
                round.throttles,
                round.throttled_reconciles,
                round.resync_period_s,
                worst.map_or("-".to_string(), |w| format!("{:.0} %", w.3 * 100.0)),
                worst.map_or(String::new(), |w| format!(
                    " ({}: {:.2}/s of {:.2}/s)",
                    w.0, w.1, w.2
                )),
            );
            let rates: Vec<String> = round
                .steady_rates
                .iter()
                .map(|(op, rate, budget)| {
                    if *budget > 0.0 {
                        format!("{op} {rate:.2}/s (budget {budget:.2}/s)")
                    } else {
                        format!("{op} {rate:.2}/s (no published quota)")
                    }
                })
                .collect();
            if !rates.is_empty() {
                let _ = writeln!(
                    t,
                    "N={}: steady reads per second: {}",
                    round.n,
                    rates.join(", ")
                );
            }
        }

        let _ = writeln!(
            t,
            "\n-- restart (a new operator's first pass over N Ready objects) and steady state (two resyncs, no drift)"
        );
        let _ = writeln!(
            t,
            "{:>6} {:>15} {:>15} {:>11} {:>7} {:>15} {:>15} {:>11} {:>8}",
            "N",
            "restart writes",
            "reads/object",
            "API writes",
            "resync",
            "steady writes",
            "reads/object",
            "API writes",
            "RSS MiB"
        );
        for round in &r.rounds {
            let n = round.n as f64;
            let (rw, rr, ra) = round.restart.as_ref().map_or((0, 0.0, 0), |p| {
                (
                    p.aws_writes(),
                    p.aws_reads() as f64 / n,
                    p.writes.operator(),
                )
            });
            let (resync, sw, sr, sa, rss) =
                round.steady.as_ref().map_or((0, 0, 0.0, 0, 0.0), |s| {
                    (
                        s.resync_s,
                        s.phase.aws_writes(),
                        s.phase.aws_reads() as f64 / n,
                        s.phase.writes.operator(),
                        s.rss_mib,
                    )
                });
            let _ = writeln!(
                t,
                "{:>6} {:>15} {:>15.2} {:>11} {:>6}s {:>15} {:>15.2} {:>11} {:>8.1}",
                round.n, rw, rr, ra, resync, sw, sr, sa, rss
            );
        }
        let _ = writeln!(
            t,
            "targets: 0 AWS writes and 0 API writes on a restart and on a no-drift resync \
             (peer: 17 calls + 1 write per stack on restart, a status write on every resync)"
        );
        for round in &r.rounds {
            if let Some(s) = &round.steady {
                let _ = writeln!(
                    t,
                    "N={}: steady state: {:.2} passes per object; reads: {}",
                    round.n,
                    s.passes,
                    ops_text(&s.phase, round.n)
                );
            }
        }

        let g = &r.growth;
        let line = |what: &str, s: &Option<Slope>| match s {
            Some(s) => format!(
                "{what}: {:.2} → {:.2}, slope {:+.3} per 1,000 objects",
                s.at_smallest, s.at_largest, s.per_1000
            ),
            None => format!("{what}: (one N only)"),
        };
        let _ = writeln!(t, "\n-- growth with N (flat is the goal)");
        let _ = writeln!(
            t,
            "{}",
            line("AWS calls per object", &g.aws_calls_per_object)
        );
        let _ = writeln!(
            t,
            "{}",
            line("API writes per object", &g.api_writes_per_object)
        );
        let _ = writeln!(t, "{}", line("settled RSS MiB", &g.rss_settled_mib));
    }

    for c in &r.comparisons {
        let _ = writeln!(
            t,
            "\n-- same sitting, N={}: {} (baseline, measured first) against this build",
            c.n,
            c.baseline.display()
        );
        let _ = writeln!(
            t,
            "{:<28} {:>12} {:>12} {:>9}",
            "figure", "baseline", "this build", "change"
        );
        for (name, before, now, regressed) in c.rows() {
            let _ = writeln!(
                t,
                "{:<28} {:>12.2} {:>12.2} {:>9}{}",
                name,
                before,
                now,
                change(before, now),
                if regressed { "  REGRESSION" } else { "" }
            );
        }
        let _ = writeln!(
            t,
            "a regression: more than {:.0} % worse and more than the figure's resolution \
             (0.05 per object, 2 s, 2 MiB, 1 CPU s, 500 / 1,000 ms)",
            REGRESSION * 100.0
        );
    }

    if !r.tune.is_empty() {
        let _ = writeln!(
            t,
            "\n-- concurrency (--concurrency), N objects created at once"
        );
        let _ = writeln!(
            t,
            "{:>6} {:>5} {:>10} {:>9} {:>9} {:>9} {:>12} {:>12}",
            "N", "conc", "all Ready", "p50 ms", "p99 ms", "peak MiB", "op CPU s", "moto CPU s"
        );
        for x in &r.tune {
            let _ = writeln!(
                t,
                "{:>6} {:>5} {:>9.1}s {:>9.0} {:>9.0} {:>9.1} {:>12.1} {:>12.1}",
                x.n,
                x.concurrency,
                x.all_ready_s,
                x.latency.p50_ms,
                x.latency.p99_ms,
                x.rss_peak_mib,
                x.phase.cpu.operator,
                x.phase.cpu.emulator
            );
        }
    }

    if r.failures.is_empty() {
        let _ = writeln!(t, "\nno failures");
    } else {
        let _ = writeln!(t, "\nFAILURES:");
        for f in &r.failures {
            let _ = writeln!(t, "  - {f}");
        }
    }
    t
}

// ---------------------------------------------------------------- files

/// `$CARGO_TARGET_DIR/bench/scale.{txt,json,svg}`; the full run also puts the
/// chart at `docs/bench/scale.svg` for the README.
pub fn write(r: &Results, table: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("bench");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("scale bench: cannot create {}: {e}", dir.display());
        return;
    }
    let name = if r.tiny { "scale-tiny" } else { "scale" };
    let _ = std::fs::write(dir.join(format!("{name}.txt")), table);
    match serde_json::to_string_pretty(r) {
        Ok(json) => {
            let _ = std::fs::write(dir.join(format!("{name}.json")), json);
        }
        Err(e) => eprintln!("scale bench: JSON: {e}"),
    }
    let svg = dir.join(format!("{name}.svg"));
    match chart(r, &svg) {
        Ok(()) => eprintln!(
            "scale bench: wrote {}",
            svg.with_extension("{txt,json,svg}").display()
        ),
        Err(e) => eprintln!("scale bench: chart: {e}"),
    }
    if !r.tiny && r.rounds.len() > 1 {
        let docs = batchnotify_testbed::repo_root().join("docs/bench");
        if std::fs::create_dir_all(&docs).is_ok() {
            let _ = std::fs::copy(&svg, docs.join("scale.svg"));
        }
    }
}

/// Time until all Ready, and AWS calls per object, against N (log scale), with
/// the floor and the targets drawn in.
fn chart(r: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(480);
    let ns: Vec<f64> = r.rounds.iter().map(|x| x.n as f64).collect();
    let lo = ns.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let hi = ns.iter().copied().fold(1.0, f64::max).max(lo * 10.0);
    let xs = (lo * 0.8)..(hi * 1.25);

    let ready: Vec<(f64, f64)> = r
        .rounds
        .iter()
        .map(|x| (x.n as f64, x.all_ready_s))
        .collect();
    let ymax = ready
        .iter()
        .map(|p| p.1)
        .fold(READY_TARGET_S_AT_1000, f64::max)
        * 1.15;
    let mut c = ChartBuilder::on(&left)
        .caption("time until all Ready (s)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(xs.clone().log_scale(), 0.0..ymax)?;
    c.configure_mesh()
        .x_desc("N objects applied at once")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    c.draw_series(LineSeries::new(ready.clone(), BLUE.stroke_width(2)))?
        .label("batchnotify")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    c.draw_series(ready.iter().map(|p| Circle::new(*p, 4, BLUE.filled())))?;
    c.draw_series(LineSeries::new(
        vec![(1000.0, 0.0), (1000.0, READY_TARGET_S_AT_1000)],
        RED.stroke_width(1),
    ))?
    .label("target: 1,000 within 60 s")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;

    let calls: Vec<(f64, f64)> = r
        .rounds
        .iter()
        .map(|x| (x.n as f64, x.create.aws_calls() as f64 / x.n as f64))
        .collect();
    let ymax = calls.iter().map(|p| p.1).fold(AWS_TARGET, f64::max) * 1.4;
    let mut c = ChartBuilder::on(&right)
        .caption("AWS calls per object at create", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(xs.clone().log_scale(), 0.0..ymax)?;
    c.configure_mesh()
        .x_desc("N objects applied at once")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    c.draw_series(LineSeries::new(calls.clone(), BLUE.stroke_width(2)))?
        .label("batchnotify")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    c.draw_series(calls.iter().map(|p| Circle::new(*p, 4, BLUE.filled())))?;
    c.draw_series(LineSeries::new(
        vec![(xs.start, AWS_FLOOR), (xs.end, AWS_FLOOR)],
        BLACK.stroke_width(1),
    ))?
    .label("floor: 4")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    c.draw_series(LineSeries::new(
        vec![(xs.start, AWS_TARGET), (xs.end, AWS_TARGET)],
        RED.stroke_width(1),
    ))?
    .label("target: 5 (peer: 36)")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
