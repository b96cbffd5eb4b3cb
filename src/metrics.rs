//! Prometheus metrics: reconciles, AWS requests, runs, managed objects.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsLabels {
    service: String,
    operation: String,
    outcome: &'static str,
    /// `first`, or `retry` for the SDK's own retries of the same call.
    attempt: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    outcome: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every series the operator exports, registered once.
pub struct Metrics {
    registry: Mutex<Registry>,
    aws_requests: Family<AwsLabels, Counter>,
    reconciles: Family<ReconcileLabels, Counter>,
    stage_duration: Family<StageLabels, Histogram, fn() -> Histogram>,
    runs: Family<RunLabels, Counter>,
    managed_objects: Gauge,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("batchnotify");
        let aws_requests = Family::<AwsLabels, Counter>::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let stage_duration =
            Family::<StageLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        let runs = Family::<RunLabels, Counter>::default();
        let managed_objects = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            leader.clone(),
        );
        registry.register(
            "aws_requests",
            "HTTP requests to AWS APIs, each attempt of a call once (as AWS counts, throttles and bills them), by service, operation, outcome and attempt",
            aws_requests.clone(),
        );
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_stage_duration_seconds",
            "Time spent in each reconcile stage",
            stage_duration.clone(),
        );
        registry.register("runs", "Finished executions by outcome", runs.clone());
        registry.register(
            "managed_objects",
            "BatchNotifications this operator manages",
            managed_objects.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            aws_requests,
            reconciles,
            stage_duration,
            runs,
            managed_objects,
            leader,
        }
    }

    /// One attempt of an AWS call (see `aws::attempts`).
    pub fn aws_attempt(
        &self,
        service: &str,
        operation: &str,
        outcome: &'static str,
        attempt: &'static str,
    ) {
        self.aws_requests
            .get_or_create(&AwsLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome,
                attempt,
            })
            .inc();
    }

    pub fn reconciled(&self, result: &'static str) {
        self.reconciles
            .get_or_create(&ReconcileLabels { result })
            .inc();
    }

    pub fn stage(&self, stage: &'static str, seconds: f64) {
        self.stage_duration
            .get_or_create(&StageLabels { stage })
            .observe(seconds);
    }

    pub fn run_finished(&self, outcome: &str) {
        self.runs
            .get_or_create(&RunLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn set_managed_objects(&self, n: i64) {
        self.managed_objects.set(n);
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}
