//! The figures each scenario records, and the summary table of the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::faults;

/// The scenarios (tests) of this binary: the last of them to finish prints the summary.
pub const SCENARIOS: usize = 9;

static DONE: Mutex<Vec<(Figures, bool)>> = Mutex::new(Vec::new());
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// What one scenario did and found.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub scenario: &'static str,
    pub seed: u64,
    /// BatchNotifications driven.
    pub objects: u64,
    /// SIGKILLs of the operator, each followed by a restart.
    pub kills: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    pub bad_inputs: u64,
    /// Executions beyond one per (object, trigger).
    pub duplicates: u64,
    /// AWS resources left with a deleted object's tags (or stale revisions).
    pub leaks: u64,
    /// Status fields seen going backwards.
    pub regressions: u64,
    /// Free-form lines for the table's notes.
    pub notes: Vec<String>,
}

impl Figures {
    pub fn fault(&mut self, kind: &str, n: u64) {
        if n > 0 {
            *self.faults.entry(kind.to_string()).or_default() += n;
        }
    }

    pub fn aws_faults(&mut self, proxy: &faults::AwsProxy) {
        for (kind, n) in proxy.faults() {
            self.fault(&format!("aws-{}", kind.as_str()), n);
        }
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    fn faults_text(&self) -> String {
        if self.faults.is_empty() {
            return "-".into();
        }
        self.faults
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A scenario's figures, recorded when it ends (passed or not).
pub struct Record(pub Figures);

impl Record {
    pub fn new(scenario: &'static str, seed: u64) -> Record {
        Record(Figures {
            scenario,
            seed,
            ..Figures::default()
        })
    }
}

impl std::ops::Deref for Record {
    type Target = Figures;
    fn deref(&self) -> &Figures {
        &self.0
    }
}

impl std::ops::DerefMut for Record {
    fn deref_mut(&mut self) -> &mut Figures {
        &mut self.0
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let passed = !std::thread::panicking();
        let f = self.0.clone();
        println!(
            "RELIABILITY {:<10} {} seed={} objects={} kills={} faults=[{}] bad-inputs={} duplicates={} leaks={} regressions={}",
            f.scenario,
            if passed { "ok" } else { "FAILED" },
            f.seed,
            f.objects,
            f.kills,
            f.faults_text(),
            f.bad_inputs,
            f.duplicates,
            f.leaks,
            f.regressions
        );
        let all = {
            let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
            done.push((f, passed));
            done.clone()
        };
        if FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == SCENARIOS {
            let table = summary(&all);
            println!("{table}");
            let _ = std::fs::write(summary_path(), table);
        }
    }
}

/// Where the last summary is written.
pub fn summary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability-summary.txt")
}

fn summary(all: &[(Figures, bool)]) -> String {
    let mut rows: Vec<&(Figures, bool)> = all.iter().collect();
    rows.sort_by_key(|(f, _)| f.scenario);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "=== reliability summary (RELIABILITY_SEED={}, RELIABILITY_KILLS={}) ===",
        faults::base_seed(),
        crate::common::kills()
    );
    let _ = writeln!(
        out,
        "{:<11} {:<6} {:>7} {:>5} {:>10} {:>10} {:>5} {:>11}  faults injected",
        "scenario",
        "result",
        "objects",
        "kills",
        "bad-inputs",
        "duplicates",
        "leaks",
        "regressions"
    );
    let mut total = Figures::default();
    for (f, passed) in &rows {
        let _ = writeln!(
            out,
            "{:<11} {:<6} {:>7} {:>5} {:>10} {:>10} {:>5} {:>11}  {}",
            f.scenario,
            if *passed { "ok" } else { "FAILED" },
            f.objects,
            f.kills,
            f.bad_inputs,
            f.duplicates,
            f.leaks,
            f.regressions,
            f.faults_text()
        );
        total.objects += f.objects;
        total.kills += f.kills;
        total.bad_inputs += f.bad_inputs;
        total.duplicates += f.duplicates;
        total.leaks += f.leaks;
        total.regressions += f.regressions;
        for (k, v) in &f.faults {
            total.fault(k, *v);
        }
    }
    let _ = writeln!(
        out,
        "{:<11} {:<6} {:>7} {:>5} {:>10} {:>10} {:>5} {:>11}  {}",
        "total",
        if rows.iter().all(|(_, p)| *p) {
            "ok"
        } else {
            "FAILED"
        },
        total.objects,
        total.kills,
        total.bad_inputs,
        total.duplicates,
        total.leaks,
        total.regressions,
        total.faults_text()
    );
    let _ = writeln!(out, "notes:");
    for (f, _) in &rows {
        for n in &f.notes {
            let _ = writeln!(out, "  {}: {n}", f.scenario);
        }
    }
    let _ = write!(out, "=== end of reliability summary ===");
    out
}
