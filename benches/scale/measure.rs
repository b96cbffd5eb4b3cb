//! What the benchmark counts, each from a source the operator does not control
//! where there is one: AWS calls at the emulator (and, to show both agree, at
//! the operator's /metrics), API-server writes from the API server's own
//! request counter, memory and CPU from /proc.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use crate::support;

/// Calls by "service:Operation" (services named as the operator's metrics name them).
pub type Ops = BTreeMap<String, u64>;

/// The emulator signs Step Functions as "states"; the operator's metrics say "sfn".
fn service_label(service: &str) -> &str {
    match service {
        "states" => "sfn",
        other => other,
    }
}

/// What the emulator counted for `access_key`: every HTTP request it received.
pub fn emulator_ops(access_key: &str) -> Ops {
    support::emulator_requests(access_key)
        .into_iter()
        .map(|(k, v)| match k.split_once(':') {
            Some((service, op)) => (format!("{}:{op}", service_label(service)), v),
            None => (k, v),
        })
        .collect()
}

/// The operator's own count of requests sent (`batchnotify_aws_requests_sent_total`:
/// each attempt once, as it goes out; the emulator counts the same request as
/// it arrives).
pub fn operator_sent(metrics: &str) -> Ops {
    let mut ops = Ops::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("batchnotify_aws_requests_sent_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let service = label(labels, "service").unwrap_or_default();
        let operation = label(labels, "operation").unwrap_or_default();
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        *ops.entry(format!("{service}:{operation}")).or_default() += n;
    }
    ops
}

/// The sum of a counter family's series in a Prometheus text exposition.
/// The value of an unlabelled gauge.
pub fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

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

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

/// `b - a`, per operation, dropping zeros.
pub fn diff(a: &Ops, b: &Ops) -> Ops {
    b.iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(a.get(k).copied().unwrap_or(0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Reads do not change AWS: Describe*, Get*, List*.
pub fn is_read(op: &str) -> bool {
    let name = op.split_once(':').map_or(op, |(_, o)| o);
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| name.starts_with(p))
}

// ---------------------------------------------------------------- the API server's count

/// Non-read requests the API server itself counted (`apiserver_request_total`),
/// on BatchNotifications (any subresource) and on Events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ApiserverWrites {
    pub batchnotifications: u64,
    pub events: u64,
}

impl ApiserverWrites {
    pub fn since(&self, earlier: &ApiserverWrites) -> ApiserverWrites {
        ApiserverWrites {
            batchnotifications: self
                .batchnotifications
                .saturating_sub(earlier.batchnotifications),
            events: self.events.saturating_sub(earlier.events),
        }
    }
}

pub fn apiserver_writes() -> ApiserverWrites {
    let out = support::bed()
        .kubectl()
        .args(["get", "--raw", "/metrics"])
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return ApiserverWrites::default(),
    };
    let mut w = ApiserverWrites::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let verb = label(labels, "verb").unwrap_or_default();
        if matches!(verb, "GET" | "LIST" | "WATCH" | "WATCHLIST" | "CONNECT") {
            continue;
        }
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        match (label(labels, "group"), label(labels, "resource")) {
            (Some("batchnotify.dev"), Some("batchnotifications")) => w.batchnotifications += n,
            (_, Some("events")) => w.events += n,
            _ => {}
        }
    }
    w
}

// ---------------------------------------------------------------- /proc

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds of a process (0 when it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces: count fields after its closing ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / clock_ticks()
}

/// (peak, current) resident set size in MiB: VmHWM and VmRSS.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0.0, 0.0);
    };
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
}

/// CPU seconds of every process that takes part.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Cpu {
    pub operator: f64,
    pub emulator: f64,
    pub apiserver: f64,
    pub etcd: f64,
    pub bench: f64,
}

impl Cpu {
    pub fn now(operator: Option<u32>) -> Cpu {
        let bed = support::bed().pids();
        let of = |name: &str| {
            bed.iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, pid)| cpu_seconds(*pid))
        };
        Cpu {
            operator: operator.map_or(0.0, cpu_seconds),
            emulator: of("moto"),
            apiserver: of("kube-apiserver"),
            etcd: of("etcd"),
            bench: cpu_seconds(std::process::id()),
        }
    }

    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            operator: self.operator - earlier.operator,
            emulator: self.emulator - earlier.emulator,
            apiserver: self.apiserver - earlier.apiserver,
            etcd: self.etcd - earlier.etcd,
            bench: self.bench - earlier.bench,
        }
    }
}

/// The `p`-th percentile (0–100) of `values`, nearest rank; 0 when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
